"""Whether each channel is taking its messages, from its latest attempts; and the
`channel_failing` alert that a failing channel raises, delivered on the other channels.

`channel_health(engine, config)` is the query the page and /healthz call. A channel is
failing when its last `failing_after` attempts all failed. Its alert is rule
channel_failing, job = the channel's name, host '' (a channel belongs to no host),
severity high; it opens once (the engine's identity and open_key rules, so replicas
racing open it once) and resolves when an attempt succeeds again, each with its outbox
event in the same transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.exc import IntegrityError

from ..db import tables
from .config import DeliveryConfig
from .outbox import PENDING
from .redact import shown_url
from .routing import CHANNEL_FAILING

SEVERITY = "high"


@dataclass(frozen=True)
class ChannelHealth:
    name: str
    kind: str
    shown_url: str  # no secret in it
    failing: bool
    failures_in_row: int
    last_attempt_at: dt.datetime | None
    last_ok_at: dt.datetime | None
    last_error: str | None  # already scrubbed of the URL's secrets
    pending: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "url": self.shown_url,
            "failing": self.failing, "failures_in_row": self.failures_in_row,
            "last_attempt_at": _iso(self.last_attempt_at), "last_ok_at": _iso(self.last_ok_at),
            "last_error": self.last_error, "pending": self.pending,
        }  # fmt: skip


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


def channel_health(engine: Engine, config: DeliveryConfig) -> list[ChannelHealth]:
    """Each configured channel's health, in the order of the config."""
    a, d = tables.delivery_attempts.c, tables.deliveries.c
    found = []
    with engine.connect() as connection:
        for name, channel in config.channels.items():
            latest = connection.execute(
                select(a.ok, a.at, a.error)
                .where(a.channel == name)
                .order_by(a.channel.desc(), a.at.desc(), a.id.desc())
                .limit(config.failing_after)
            ).all()
            streak = next((i for i, row in enumerate(latest) if row.ok), len(latest))
            last_ok = connection.execute(
                select(func.max(a.at)).where(a.channel == name, a.ok.is_(True))
            ).scalar_one()
            pending = connection.execute(
                select(func.count())
                .select_from(tables.deliveries)
                .where(d.status == PENDING, d.channel == name)
            ).scalar_one()
            found.append(
                ChannelHealth(
                    name=name,
                    kind=channel.kind,
                    shown_url=shown_url(channel.url),
                    failing=streak >= config.failing_after,
                    failures_in_row=streak,
                    last_attempt_at=latest[0].at if latest else None,
                    last_ok_at=last_ok,
                    last_error=latest[0].error if latest and not latest[0].ok else None,
                    pending=int(pending),
                )
            )
    return found


def failing_channels(engine: Engine, config: DeliveryConfig) -> list[str]:
    return [health.name for health in channel_health(engine, config) if health.failing]


def sync_channel_alerts(
    engine: Engine, config: DeliveryConfig, now: dt.datetime
) -> tuple[list[str], list[str]]:
    """Open channel_failing for each failing channel, resolve it for each that recovered;
    the channels whose alert this call opened and resolved."""
    opened, resolved = [], []
    for health in channel_health(engine, config):
        if health.failing and _open(engine, health, now):
            opened.append(health.name)
        elif not health.failing and health.failures_in_row == 0 and _resolve(engine, health, now):
            resolved.append(health.name)
    return opened, resolved


def _open_alert_id(connection: Any, name: str) -> int | None:
    al = tables.alerts.c
    found: int | None = connection.execute(
        select(al.id).where(
            and_(al.open_key == 1, al.rule == CHANNEL_FAILING, al.job == name, al.host == "")
        )
    ).scalar_one_or_none()
    return found


def _open(engine: Engine, health: ChannelHealth, now: dt.datetime) -> bool:
    summary = (
        f"channel {health.name} failed {health.failures_in_row} times in a row: "
        f"{health.last_error or 'no reason given'}"
    )[:255]
    try:
        with engine.begin() as connection:
            if _open_alert_id(connection, health.name) is not None:
                return False
            alert_id = connection.execute(
                tables.alerts.insert().values(
                    rule=CHANNEL_FAILING,
                    job=health.name,
                    host="",
                    severity=SEVERITY,
                    summary=summary,
                    detail=f"{summary}\nchannel {health.name} ({health.kind}, "
                    f"{health.shown_url}); last success: {_iso(health.last_ok_at) or 'never'}",
                    instant=health.last_attempt_at or now,
                    opened_at=now,
                    last_seen_at=now,
                    repeats=0,
                    open_key=1,
                )
            ).inserted_primary_key
            assert alert_id is not None
            connection.execute(
                tables.alert_events.insert().values(
                    alert_id=alert_id[0], event="opened", created_at=now
                )
            )
    except IntegrityError:
        return False  # open already (this pass's earlier call, or another replica's)
    return True


def _resolve(engine: Engine, health: ChannelHealth, now: dt.datetime) -> bool:
    al = tables.alerts.c
    with engine.begin() as connection:
        alert_id = _open_alert_id(connection, health.name)
        if alert_id is None:
            return False
        changed = connection.execute(
            update(tables.alerts)
            .where(and_(al.id == alert_id, al.open_key == 1))
            .values(resolved_at=now, open_key=None, last_seen_at=now)
        ).rowcount
        if changed != 1:
            return False  # another replica resolved it
        connection.execute(
            tables.alert_events.insert().values(alert_id=alert_id, event="resolved", created_at=now)
        )
    return True
