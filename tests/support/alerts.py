"""Helpers for the alert engine's tests: runs and heartbeats stored as the collector
stores them, passes at an injected moment, and the alerts and events read back."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcron.collector.alerting.cursors import PASS, read_cursors
from smartcron.collector.alerting.engine import PassResult, run_pass
from smartcron.collector.db import tables
from smartcron.collector.heartbeats import Heartbeat, store_heartbeat
from smartcron.collector.ingest import ingest_reports
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, select

from tests.support.service import iso, make_report

UTC = dt.timezone.utc


def naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def store_run(
    engine: Engine,
    job: str,
    started: dt.datetime,
    *,
    received: dt.datetime | None = None,
    zone: str | None = None,
    priority: int = 5,
    expect: dict[str, Any] | None = None,
    **fields: Any,
) -> RunReport:
    """A run of `job` that started at `started` (naive or aware UTC), stored as ingest
    stores it, received a second after it ended unless `received` says otherwise.
    `expect`: the report's alert options, as the wrapper's --grace, --min-duration,
    --max-duration and --alert-after put them (none: the line set none)."""
    document = make_report(job, started=aware(started), **fields)
    document["priority"] = priority
    if expect is not None:
        document["expect"] = expect
    if zone is not None:
        document["timezone"] = zone
    if document["status"] == "lost":
        document["finished_at"] = document["duration_s"] = None
    report = RunReport.model_validate(document)
    duration = dt.timedelta(seconds=fields.get("duration_s", 1.5))
    arrived = received or naive(started) + duration + dt.timedelta(seconds=1)
    ingest_reports(engine, [report], received_at=naive(arrived))
    return report


def beat(engine: Engine, host: str, at: dt.datetime, **health: Any) -> None:
    """A heartbeat from `host` arriving at `at`, its own clock right unless told."""
    body = {"host": host, "agent_version": "0.2.0", "clock": iso(aware(at))} | health
    store_heartbeat(engine, Heartbeat.model_validate(body), now=naive(at))


# How often a test's passes run at least, as serve's loop would (engine.DOWN_AFTER
# longer between two passes reads as the collector's own outage).
PASS_EVERY = dt.timedelta(minutes=4)


def pass_at(engine: Engine, at: dt.datetime, fill: bool = True) -> PassResult:
    """A pass at `at`, after the passes the loop would have run since the last one
    (every PASS_EVERY); fill=False leaves that gap, as when the collector was down."""
    at = naive(at)
    if fill:
        with engine.connect() as connection:
            last = read_cursors(connection).get(PASS, (None, None))[1]
        while last is not None and last + PASS_EVERY < at:
            last += PASS_EVERY
            run_pass(engine, last)
    return run_pass(engine, at)


def alerts(engine: Engine, rule: str | None = None) -> list[dict[str, Any]]:
    a = tables.alerts.c
    query = select(tables.alerts).order_by(a.id)
    if rule is not None:
        query = query.where(a.rule == rule)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def events(engine: Engine) -> list[tuple[int, str]]:
    e = tables.alert_events.c
    with engine.connect() as connection:
        rows = connection.execute(select(e.alert_id, e.event).order_by(e.id))
        return [(row.alert_id, row.event) for row in rows]


def job_row(engine: Engine, job: str, host: str = "web1") -> dict[str, Any]:
    j = tables.jobs.c
    with engine.connect() as connection:
        row = connection.execute(select(tables.jobs).where(j.job == job, j.host == host)).one()
    return {key: _naive(value) for key, value in row._mapping.items()}


def _naive(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return naive(value)
    return value


def one_open(engine: Engine, rule: str) -> dict[str, Any]:
    [found] = [row for row in alerts(engine, rule) if row["resolved_at"] is None]
    return found
