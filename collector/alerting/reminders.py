"""Reminders: an open critical alert that nobody has acknowledged is sent again every
`reminder_interval`, as a 'reminder' event in the outbox (delivered like any other).

An alert's reminders are counted in smartcron_alert_reminders; the next one is written
by whichever replica moves the count on (the first by inserting the row, the others by a
conditional UPDATE on the count it read), in the transaction that writes the event: two
replicas never remind twice. Acknowledging an alert, or its resolving, stops them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, and_, select, update
from sqlalchemy.exc import IntegrityError

from ..db import tables
from .config import DeliveryConfig

REMINDED_SEVERITY = "critical"


def write_reminders(engine: Engine, config: DeliveryConfig, now: dt.datetime) -> int:
    """Write the reminders due at `now`; how many were written."""
    if config.reminder_interval <= 0:
        return 0
    al, rm = tables.alerts.c, tables.alert_reminders.c
    every = dt.timedelta(seconds=config.reminder_interval)
    with engine.connect() as connection:
        candidates = connection.execute(
            select(al.id, al.opened_at, rm.sent, rm.last_at)
            .select_from(tables.alerts.outerjoin(tables.alert_reminders, rm.alert_id == al.id))
            .where(
                al.resolved_at.is_(None),
                al.opened_at <= now - every,
                al.acknowledged_at.is_(None),
                al.silenced.is_(None),
                al.severity == REMINDED_SEVERITY,
            )
        ).all()
    written = 0
    for row in candidates:
        if now - (row.last_at or row.opened_at) >= every:
            written += _remind(engine, row.id, row.sent, now)
    return written


def _remind(engine: Engine, alert_id: int, seen: int | None, now: dt.datetime) -> int:
    rm = tables.alert_reminders.c
    try:
        with engine.begin() as connection:
            if seen is None:
                connection.execute(
                    tables.alert_reminders.insert().values(alert_id=alert_id, sent=1, last_at=now)
                )
            else:
                moved = connection.execute(
                    update(tables.alert_reminders)
                    .where(and_(rm.alert_id == alert_id, rm.sent == seen))
                    .values(sent=seen + 1, last_at=now)
                ).rowcount
                if moved != 1:
                    return 0  # another replica wrote this one
            connection.execute(
                tables.alert_events.insert().values(
                    alert_id=alert_id, event="reminder", created_at=now
                )
            )
    except IntegrityError:
        return 0  # another replica wrote the first
    return 1
