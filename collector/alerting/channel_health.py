"""Whether each channel is taking its messages, from its latest attempts; and the
`channel_failing` alert that a failing channel raises, delivered on the other channels.

`channel_health(engine, config)` is the query the page and /healthz call. A channel is
failing when its last `failing_after` attempts all failed. Its alert is rule
channel_failing, job = the channel's name, host '' (a channel belongs to no host),
severity high, instant the first failed attempt of the streak; it opens once (the
engine's identity and open_key rules, so replicas racing open it once) and resolves
when an attempt succeeds again, each with its outbox event in the same transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from ..db import tables
from .config import DeliveryConfig
from .outbox import PENDING
from .redact import shown_url
from .routing import CHANNEL_FAILING
from .rules import Occurrence
from .store import AlertKey, OpenAlert, Transitions, naive, open_alerts_of

SEVERITY = "high"
NO_JOB_HOST = ""  # a channel belongs to no host


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
    the channels whose alert this call opened and resolved. Through store.py's
    Transitions, as every alert: one way to open (INSERT IGNORE against the identity and
    the open key) and to resolve (a conditional UPDATE), each with its outbox event."""
    opened, resolved = [], []
    for health in channel_health(engine, config):
        if health.failing:
            if _open(engine, health, now):
                opened.append(health.name)
        elif health.failures_in_row == 0 and _resolve(engine, health, now):
            resolved.append(health.name)
    return opened, resolved


def _open_alert(connection: Connection, name: str) -> OpenAlert | None:
    return open_alerts_of(connection, [(name, NO_JOB_HOST)]).get(
        (CHANNEL_FAILING, name, NO_JOB_HOST)
    )


def _failing_since(connection: Connection, health: ChannelHealth) -> dt.datetime | None:
    """The first failed attempt of the channel's current streak: the alert's instant,
    so that the streak is one alert however long it lasts (resolved by hand, it does
    not open again until the channel has worked and failed anew)."""
    a = tables.delivery_attempts.c
    query = select(func.min(a.at)).where(a.channel == health.name)
    if health.last_ok_at is not None:
        query = query.where(a.at > health.last_ok_at)
    since: dt.datetime | None = naive(connection.execute(query).scalar_one())
    return since


def _open(engine: Engine, health: ChannelHealth, now: dt.datetime) -> bool:
    summary = (
        f"channel {health.name} failed {health.failures_in_row} times in a row: "
        f"{health.last_error or 'no reason given'}"
    )
    detail = (f"{summary}\nchannel {health.name} ({health.kind}, {health.shown_url}); "
              f"last success: {_iso(health.last_ok_at) or 'never'}")  # fmt: skip
    with engine.begin() as connection:
        changes = Transitions(connection, now)
        open_now: dict[AlertKey, OpenAlert] = {}
        current = _open_alert(connection, health.name)
        if current is not None:
            open_now[current.key] = current
        instant = _failing_since(connection, health) or health.last_attempt_at or now
        seen = Occurrence(CHANNEL_FAILING, health.name, NO_JOB_HOST, instant, now, SEVERITY,
                          summary, detail)  # fmt: skip
        changes.record(seen, open_now)
        changes.flush()
    return changes.counts["opened"] == 1


def _resolve(engine: Engine, health: ChannelHealth, now: dt.datetime) -> bool:
    with engine.begin() as connection:
        alert = _open_alert(connection, health.name)
        if alert is None:
            return False
        changes = Transitions(connection, now)
        done = changes.resolve(alert)  # False: another replica resolved it
        changes.flush()
    return done
