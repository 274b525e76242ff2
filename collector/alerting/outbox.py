"""From the outbox to deliveries: each alert event becomes one delivery per routed channel.

The engine writes an event in the transaction that opens or resolves an alert
(smartcron_alert_events, dispatched_at null). Here, in one transaction per batch, each
event's deliveries are inserted and the events marked dispatched with a conditional
UPDATE; a row count short of the batch means another replica dispatched some of them
meanwhile, and the whole batch is rolled back and read again (its deliveries are unique
per event and channel besides, so none is ever owed twice)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, and_, select, update
from sqlalchemy.exc import IntegrityError

from ..db import bulk, tables
from .config import DeliveryConfig
from .messages import AlertView
from .routing import channels_for

BATCH = 1000  # events a transaction dispatches: as many as a claim sends (dispatch.py)
PENDING = "pending"


def event_key(event_id: int) -> str:
    return f"event:{event_id}"


def alert_view(row: Any) -> AlertView:
    return AlertView(
        id=row.id, rule=row.rule, job=row.job, host=row.host, severity=row.severity,
        summary=row.summary or (row.detail.splitlines() or [""])[0],
        instant=row.instant, opened_at=row.opened_at, resolved_at=row.resolved_at,
        acknowledged_at=row.acknowledged_at,
    )  # fmt: skip


def alert_columns() -> list[Any]:
    a = tables.alerts.c
    return [a.id, a.rule, a.job, a.host, a.severity, a.summary, a.detail, a.instant,
            a.opened_at, a.resolved_at, a.acknowledged_at]  # fmt: skip


def dispatch_events(engine: Engine, config: DeliveryConfig, now: dt.datetime) -> int:
    """Turn every undispatched event into its deliveries; how many events were."""
    done = 0
    while True:
        count = _dispatch_batch(engine, config, now)
        if count is None:
            continue  # raced by another replica: read the batch again
        done += count
        if count < BATCH:
            return done


class _Raced(Exception):
    """Another replica dispatched some of this batch first."""


def _dispatch_batch(engine: Engine, config: DeliveryConfig, now: dt.datetime) -> int | None:
    try:
        return _dispatch_rows(engine, config, now)
    except _Raced:
        return None


def _dispatch_rows(engine: Engine, config: DeliveryConfig, now: dt.datetime) -> int:
    e, a, j, r = tables.alert_events.c, tables.alerts.c, tables.jobs.c, tables.runs.c
    with engine.begin() as connection:
        # Each event with its alert and its job's tags (as its last run carried them, as
        # the fleet page reads them) in one read: a second query for the tags of a batch
        # cost as much as the rest of its dispatch (bench/alert_delivery.py's storm).
        rows = connection.execute(
            select(e.id.label("event_id"), e.event, *alert_columns(), r.tags)
            .select_from(
                tables.alert_events.join(tables.alerts, a.id == e.alert_id)
                .outerjoin(tables.jobs, and_(j.job == a.job, j.host == a.host))
                .outerjoin(tables.runs, r.run_id == j.last_run_id)
            )
            .where(e.dispatched_at.is_(None))
            .order_by(e.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return 0
        owed = [
            (event_key(row.event_id), channel, row.event_id, PENDING, 0, now, now)
            for row in rows
            for channel in channels_for(config, alert_view(row), _tags(row.tags))
        ]
        ids = [row.event_id for row in rows]
        marked = connection.execute(
            update(tables.alert_events)
            .where(and_(e.id.in_(ids), e.dispatched_at.is_(None)))
            .values(dispatched_at=now)
        ).rowcount
        if marked != len(ids):
            raise _Raced
        try:
            bulk.insert_rows(connection, _INSERT_DELIVERY, _DELIVERY_COLUMNS, owed)
        except IntegrityError:
            raise _Raced from None
    return len(rows)


def _tags(stored: str | None) -> Sequence[str]:
    return [tag for tag in stored.split(",") if tag] if stored else ()


_INSERT_DELIVERY = tables.deliveries.insert()
_DELIVERY_COLUMNS = ("delivery_key", "channel", "event_id", "status", "attempts",
                     "next_attempt_at", "created_at")  # fmt: skip
