"""Alerts and their outbox events written as the alert engine writes them (one
transaction: the alert row and its event), for delivery's tests."""

from __future__ import annotations

import datetime as dt

from smartcron.collector.db import tables
from sqlalchemy import Engine, update


def open_alerts(
    engine: Engine,
    now: dt.datetime,
    *jobs: str,
    host: str = "web1",
    rule: str = "failed",
    severity: str = "warning",
) -> list[int]:
    """One open alert per job, each with its 'opened' event, all in one transaction."""
    ids = []
    with engine.begin() as connection:
        for job in jobs:
            inserted = connection.execute(
                tables.alerts.insert().values(
                    rule=rule,
                    job=job,
                    host=host,
                    severity=severity,
                    summary=f"{job} {rule}",
                    detail=f"{job} {rule}\nmore",
                    instant=now,
                    opened_at=now,
                    last_seen_at=now,
                    repeats=0,
                    open_key=1,
                )
            ).inserted_primary_key
            assert inserted is not None
            ids.append(int(inserted[0]))
            connection.execute(
                tables.alert_events.insert().values(
                    alert_id=inserted[0], event="opened", created_at=now
                )
            )
    return ids


def resolve_alert(engine: Engine, alert_id: int, now: dt.datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(tables.alerts)
            .where(tables.alerts.c.id == alert_id)
            .values(resolved_at=now, open_key=None)
        )
        connection.execute(
            tables.alert_events.insert().values(alert_id=alert_id, event="resolved", created_at=now)
        )
