"""What a channel is sent: one alert event, or a digest of several.

The webhook gets DESIGN.md's JSON body; an Apprise channel gets a title and a short
text body (Apprise turns it into each service's own format)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

EVENTS = ("opened", "resolved", "reminder")


@dataclass(frozen=True)
class AlertView:
    """An alert as delivery shows it (times naive UTC, as stored)."""

    id: int
    rule: str
    job: str
    host: str
    severity: str
    summary: str
    instant: dt.datetime | None
    opened_at: dt.datetime
    resolved_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None


@dataclass(frozen=True)
class Message:
    """One send to one channel: a title, a text body, the webhook's JSON, and whether the
    body is HTML (the daily summary)."""

    title: str
    body: str
    payload: dict[str, Any]
    html: bool = False
    count: int = 1
    ids: tuple[int, ...] = field(default=())


def iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def alert_url(base_url: str | None, alert_id: int) -> str | None:
    return f"{base_url.rstrip('/')}/alerts?id={alert_id}" if base_url else None


def alert_json(alert: AlertView, base_url: str | None) -> dict[str, Any]:
    """DESIGN.md's "alert" object."""
    return {
        "id": alert.id,
        "rule": alert.rule,
        "job": alert.job,
        "host": alert.host,
        "severity": alert.severity,
        "summary": alert.summary,
        "instant": iso(alert.instant),
        "opened_at": iso(alert.opened_at),
        "resolved_at": iso(alert.resolved_at),
        "url": alert_url(base_url, alert.id),
    }


def _where(alert: AlertView) -> str:
    if alert.job and alert.host:
        return f"{alert.job} on {alert.host}"
    return alert.job or alert.host or "smartcron"


def _headline(event: str, alert: AlertView) -> str:
    verb = {"opened": "", "resolved": "RESOLVED ", "reminder": "STILL OPEN "}.get(event, "")
    return f"[{alert.severity}] {verb}{alert.rule}: {_where(alert)}"


def event_message(event: str, alert: AlertView, base_url: str | None) -> Message:
    """One alert event, for one channel."""
    lines = [alert.summary, f"opened {iso(alert.opened_at)}"]
    if alert.resolved_at is not None:
        lines.append(f"resolved {iso(alert.resolved_at)}")
    link = alert_url(base_url, alert.id)
    if link:
        lines.append(link)
    return Message(
        title=_headline(event, alert),
        body="\n".join(lines),
        payload={"event": event, "alert": alert_json(alert, base_url)},
        ids=(alert.id,),
    )


def digest_message(events: list[tuple[str, AlertView]], base_url: str | None) -> Message:
    """Several alert events in one message: a storm (a failing database) is one page."""
    opened = sum(1 for event, _ in events if event != "resolved")
    resolved = len(events) - opened
    parts = [f"{opened} alert(s)"] + ([f"{resolved} resolved"] if resolved else [])
    shown = [f"- {_headline(event, alert)}: {alert.summary}" for event, alert in events[:50]]
    if len(events) > len(shown):
        shown.append(f"… and {len(events) - len(shown)} more")
    if base_url:
        shown.append(f"{base_url.rstrip('/')}/alerts")
    return Message(
        title=f"smartcron: {', '.join(parts)}",
        body="\n".join(shown),
        payload={
            "event": "digest",
            "alerts": [alert_json(alert, base_url) | {"event": event} for event, alert in events],
        },
        count=len(events),
        ids=tuple(alert.id for _, alert in events),
    )


def test_message(channel: str, base_url: str | None) -> Message:
    """What `smartcron-collector test-alert CHANNEL` sends. Its `url` follows the rule of
    real alerts: a link to the page when its address is configured, else null. A test
    alert has no page of its own, so the link is the alerts page (a digest's link)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    alert = AlertView(
        id=0, rule="test", job="", host="", severity="info",
        summary=f"a test message to channel {channel!r} from smartcron-collector test-alert",
        instant=now, opened_at=now,
    )  # fmt: skip
    link = f"{base_url.rstrip('/')}/alerts" if base_url else None
    return Message(
        title=f"smartcron: test message to {channel}",
        body="\n".join([alert.summary] + ([link] if link else [])),
        payload={"event": "test", "alert": alert_json(alert, None) | {"url": link}},
    )
