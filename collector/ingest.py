"""Ingest: validated run reports into the store, exactly once by run_id.

A batch is one transaction: the runs and their output are inserted with the
backend's "ignore duplicates" form, so a replayed batch, even replayed
concurrently, inserts nothing twice, and the affected-row count tells accepted
from duplicate. Each job's current state row is then moved forward with a
conditional UPDATE (only a newer run may replace the last one), which keeps
replicas and out-of-order deliveries safe without locks in the process.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from smartcron.wrapper.schema import RunReport
from sqlalchemy import Connection, Engine, and_, or_, update
from sqlalchemy.dialects import mysql, sqlite

from .db import tables
from .db.engine import is_mysql
from .schedule import expected_after

SKIPPED = frozenset({"skipped_locked", "skipped_breaker", "skipped_paused"})


def utc_naive(moment: dt.datetime) -> dt.datetime:
    """Stored times are naive UTC (DATETIME(6) has no zone)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def run_row(report: RunReport, received_at: dt.datetime) -> dict[str, Any]:
    return {
        "run_id": str(report.run_id),
        "job": report.job,
        "host": report.host,
        "run_user": report.user,
        "command": report.command,
        "schedule": report.schedule,
        "priority": report.priority,
        "tags": ",".join(report.tags),
        "run_trigger": report.trigger,
        "status": report.status,
        "exit_code": report.exit_code,
        "signal_number": report.signal,
        "started_at": utc_naive(report.started_at),
        "finished_at": utc_naive(report.finished_at),
        "duration_s": report.duration_s,
        "attempt_count": len(report.attempts),
        "peak_rss_bytes": report.peak_rss_bytes,
        "cpu_user_s": report.cpu_user_s,
        "cpu_system_s": report.cpu_system_s,
        "output_bytes": report.output_bytes,
        "output_truncated": report.output_truncated,
        "breaker_state": report.breaker_state,
        "wrapper_version": report.wrapper_version,
        "received_at": received_at,
    }


def output_row(report: RunReport) -> dict[str, Any]:
    attempts = [a.model_dump(mode="json") for a in report.attempts]
    return {
        "run_id": str(report.run_id),
        "attempts": json.dumps(attempts, separators=(",", ":")),
        "stdout_tail": report.stdout_tail,
        "stderr_tail": report.stderr_tail,
    }


def _insert_ignoring_duplicates(engine: Engine, table: Any) -> Any:
    if is_mysql(engine):
        return mysql.insert(table).prefix_with("IGNORE")
    return sqlite.insert(table).on_conflict_do_nothing()


def ingest_reports(
    engine: Engine, reports: Sequence[RunReport], received_at: dt.datetime | None = None
) -> tuple[int, int]:
    """Store a batch. Returns (accepted, duplicates)."""
    if not reports:
        return 0, 0
    received_at = received_at or now_utc()
    unique = list({str(r.run_id): r for r in reports}.values())
    with engine.begin() as connection:
        inserted = connection.execute(
            _insert_ignoring_duplicates(engine, tables.runs),
            [run_row(r, received_at) for r in unique],
        ).rowcount
        connection.execute(
            _insert_ignoring_duplicates(engine, tables.run_output), [output_row(r) for r in unique]
        )
        _advance_jobs(engine, connection, unique, received_at)
    return inserted, len(reports) - inserted


def _advance_jobs(
    engine: Engine, connection: Connection, reports: Iterable[RunReport], now: dt.datetime
) -> None:
    latest: dict[tuple[str, str], RunReport] = {}
    latest_success: dict[tuple[str, str], dt.datetime] = {}
    for report in reports:
        key = (report.job, report.host)
        if key not in latest or report.started_at > latest[key].started_at:
            latest[key] = report
        if report.status == "success":
            finished = utc_naive(report.finished_at)
            latest_success[key] = max(latest_success.get(key, finished), finished)

    j = tables.jobs.c
    first_rows = [
        {
            "job": job,
            "host": host,
            "schedule": r.schedule,
            "priority": r.priority,
            "command": r.command,
            "first_seen_at": now,
            "breaker_state": r.breaker_state,
            "paused": False,
        }
        for (job, host), r in latest.items()
    ]
    connection.execute(_insert_ignoring_duplicates(engine, tables.jobs), first_rows)

    for (job, host), r in latest.items():
        started = utc_naive(r.started_at)
        this_job = and_(j.job == job, j.host == host)
        values: dict[str, Any] = {
            "schedule": r.schedule,
            "priority": r.priority,
            "command": r.command,
            "breaker_state": r.breaker_state,
        }
        if r.status not in SKIPPED:
            # A skip is not a run: it must not hide the last real outcome.
            next_at, late_at = expected_after(r.schedule, started, r.duration_s)
            values |= {
                "last_run_id": str(r.run_id),
                "last_status": r.status,
                "last_started_at": started,
                "last_finished_at": utc_naive(r.finished_at),
                "last_duration_s": r.duration_s,
                "next_expected_at": next_at,
                "late_after_at": late_at,
            }
        newer = or_(j.last_started_at.is_(None), j.last_started_at <= started)
        connection.execute(update(tables.jobs).where(this_job, newer).values(values))
        if (job, host) in latest_success:
            finished = latest_success[(job, host)]
            connection.execute(
                update(tables.jobs)
                .where(this_job, or_(j.last_success_at.is_(None), j.last_success_at < finished))
                .values(last_success_at=finished)
            )
