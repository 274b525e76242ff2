"""Ingest: validated run reports into the store, exactly once by run_id.

A batch is one transaction: the runs and their output are inserted with the
backend's "ignore duplicates" form, so a replayed batch, even replayed
concurrently, inserts nothing twice, and the affected-row count tells accepted
from duplicate. Each job's current state row is then moved forward with one
conditional upsert for the whole batch (only a newer run may replace the last
one), which keeps replicas and out-of-order deliveries safe without locks in the
process. A batch costs a fixed handful of statements, whatever its size.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import pymysql
from pydantic import TypeAdapter
from smartcron.wrapper.schema import SKIPPED_STATUSES, AttemptReport, RunReport
from sqlalchemy import Connection, Engine, and_, bindparam, case, or_, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from .db import bulk, tables
from .db.engine import is_mysql
from .state_store import refresh_states

SKIPPED = frozenset(SKIPPED_STATUSES)
# A report's own fault (a value that does not fit): the same on every retry. The bulk
# path on MySQL talks to pymysql directly, so its errors come unwrapped; the app asks
# about the driver's error inside SQLAlchemy's (sqlite3's too).
REQUEST_FAULTS = (DataError, IntegrityError, pymysql.err.DataError, pymysql.err.IntegrityError,
                  sqlite3.DataError)  # fmt: skip
# The same fault as MySQL may report it, as an OperationalError: out of range for the
# column (1264), too long for it (1406), out of range in a sum (1690: the rollup's).
REQUEST_FAULT_CODES = frozenset({1264, 1406, 1690})
OPERATIONAL_ERRORS = (OperationalError, pymysql.err.OperationalError)


def is_request_fault(error: BaseException | None) -> bool:
    """Whether `error` is the report's own fault (a value that does not fit)."""
    return isinstance(error, REQUEST_FAULTS) or (
        isinstance(error, OPERATIONAL_ERRORS) and _mysql_code(error) in REQUEST_FAULT_CODES
    )


def utc_naive(moment: dt.datetime) -> dt.datetime:
    """Stored times are naive UTC (DATETIME(6) has no zone)."""
    if moment.tzinfo is None:
        return moment
    # Subtracting the offset: astimezone() on pydantic's tzinfo cost 7% of a batch's CPU.
    offset = moment.utcoffset()
    return (moment - offset if offset else moment).replace(tzinfo=None)


def _naive_or_none(moment: dt.datetime | None) -> dt.datetime | None:
    """A lost run's finished_at is unknown (null), as is its duration."""
    return None if moment is None else utc_naive(moment)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


RUN_COLUMNS = (
    "run_id", "job", "host", "run_user", "command", "schedule", "priority", "tags",
    "run_trigger", "status", "exit_code", "signal_number", "started_at", "finished_at",
    "duration_s", "attempt_count", "peak_rss_bytes", "cpu_user_s", "cpu_system_s",
    "output_bytes", "output_truncated", "breaker_state", "wrapper_version", "received_at",
)  # fmt: skip
OUTPUT_COLUMNS = ("run_id", "attempts", "stdout_tail", "stderr_tail")
# A job's row as a real run leaves it; _FROM_RUN lists what a newer run may replace.
JOB_COLUMNS = (
    "job", "host", "schedule", "priority", "command", "first_seen_at", "breaker_state",
    "paused", "last_run_id", "last_status", "last_started_at", "last_finished_at",
    "last_duration_s", "last_success_at", "timezone",
)  # fmt: skip
_ATTEMPTS = TypeAdapter(list[AttemptReport])


def run_values(report: RunReport, received_at: dt.datetime) -> tuple[Any, ...]:
    """A smartcron_runs row, in RUN_COLUMNS order."""
    return (
        str(report.run_id), report.job, report.host, report.user, report.command,
        report.schedule, report.priority, ",".join(report.tags), report.trigger,
        report.status, report.exit_code, report.signal, utc_naive(report.started_at),
        _naive_or_none(report.finished_at), report.duration_s, len(report.attempts),
        report.peak_rss_bytes, report.cpu_user_s, report.cpu_system_s, report.output_bytes,
        report.output_truncated, report.breaker_state, report.wrapper_version, received_at,
    )  # fmt: skip


def run_row(report: RunReport, received_at: dt.datetime) -> dict[str, Any]:
    return dict(zip(RUN_COLUMNS, run_values(report, received_at), strict=True))


def output_values(report: RunReport) -> tuple[Any, ...]:
    """A smartcron_run_output row, in OUTPUT_COLUMNS order; attempts as compact JSON."""
    attempts = _ATTEMPTS.dump_json(report.attempts).decode()
    return (str(report.run_id), attempts, report.stdout_tail, report.stderr_tail)


def output_row(report: RunReport) -> dict[str, Any]:
    return dict(zip(OUTPUT_COLUMNS, output_values(report), strict=True))


def _insert_ignoring_duplicates(engine: Engine, table: Any) -> Any:
    return _insert_ignoring(is_mysql(engine), table)


@functools.lru_cache(maxsize=32)
def _insert_ignoring(mysql_dialect: bool, table: Any) -> Any:
    # One statement object per table and backend: SQLAlchemy then finds its compiled
    # form by identity instead of building and keying a new construct for every batch.
    if mysql_dialect:
        return mysql.insert(table).prefix_with("IGNORE")
    return sqlite.insert(table).on_conflict_do_nothing()


def _lock_order(report: RunReport) -> tuple[Any, ...]:
    """Runs in the order of the rollup rows their insert locks (the trigger on
    smartcron_runs adds each to the row of its UTC day, job, host and duration bucket;
    buckets follow durations), then of run_id. Batches of one busy job, on one host, on
    one day, would otherwise lock its few rollup rows in opposite orders."""
    day = utc_naive(report.started_at).date()
    # A lost run has no duration: the trigger counts it in the lowest bucket (-32768).
    duration = -1.0 if report.duration_s is None else report.duration_s
    return (day, report.job, report.host, duration, str(report.run_id))


def ingest_reports(
    engine: Engine, reports: Sequence[RunReport], received_at: dt.datetime | None = None
) -> tuple[int, int]:
    """Store a batch. Returns (accepted, duplicates)."""
    if not reports:
        return 0, 0
    inserted = _store_batch(engine, reports, received_at or now_utc())
    return inserted, len(reports) - inserted


class _AlreadyStored(Exception):
    """Some reports of a group were stored before: its transaction is rolled back."""


def ingest_batches(
    engine: Engine, batches: Sequence[Sequence[RunReport]]
) -> list[tuple[int, int] | Exception]:
    """Store the batches of several requests in one transaction (see writer.py);
    each batch's (accepted, duplicates), or the error that batch alone ran into.

    Within the group the first copy of a run_id is the accepted one, so the counts
    are known before the insert. If the database already held some of the runs (a
    replayed spool), the insert count says so, the group is rolled back and every
    batch is stored on its own, which tells exactly whose runs were new. So does a
    value that does not fit a column: only the request that sent it gets the error.
    A database that is away fails every batch alike.
    """
    if len(batches) == 1:
        return [_one(engine, batches[0])]
    seen: set[str] = set()
    firsts = []
    for batch in batches:
        before = len(seen)
        seen.update(str(report.run_id) for report in batch)
        firsts.append(len(seen) - before)
    combined = [report for batch in batches for report in batch]
    try:
        _store_batch(engine, combined, now_utc(), expect_new=len(seen))
    except Exception as error:
        if isinstance(error, _AlreadyStored) or is_request_fault(error):
            return [_one(engine, batch) for batch in batches]
        raise  # the database is away: every request hears it
    return [(new, len(batch) - new) for new, batch in zip(firsts, batches, strict=True)]


def _one(engine: Engine, batch: Sequence[RunReport]) -> tuple[int, int] | Exception:
    # Any error is this batch's answer alone: one batch failing midway must not leave the
    # batches after it untried, nor make those before it (stored) look failed.
    try:
        return ingest_reports(engine, batch)
    except Exception as error:  # noqa: BLE001
        return error


def _store_batch(
    engine: Engine,
    reports: Sequence[RunReport],
    received_at: dt.datetime,
    expect_new: int | None = None,
) -> int:
    """One transaction for `reports`; the runs inserted. With `expect_new`, raises
    _AlreadyStored (rolling back) unless exactly that many runs were new."""
    # Rows in a fixed order so that concurrent batches take their row locks in the same
    # order and wait for each other instead of deadlocking (jobs rows: by job and host).
    first: dict[str, RunReport] = {}
    for report in reports:  # the first copy of a run_id is the one stored (and counted)
        first.setdefault(str(report.run_id), report)
    unique = sorted(first.values(), key=_lock_order)
    runs = [run_values(r, received_at) for r in unique]
    outputs = [output_values(r) for r in unique]
    jobs, skips = _job_changes(unique, received_at)
    store = _store_mysql if is_mysql(engine) else _store_portable
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            with engine.begin() as connection:
                inserted = store(connection, runs, outputs, jobs)
                if expect_new is not None and inserted != expect_new:
                    raise _AlreadyStored
                if skips:
                    _advance_skipped(engine, connection, skips, jobs, received_at)
                # The state of every job the batch touched, as collector/state.py decides.
                refresh_states(connection, {(r.job, r.host) for r in unique}, received_at)
            return inserted
        except OPERATIONAL_ERRORS as error:
            # InnoDB picked this transaction as a deadlock victim and rolled it back:
            # running it again is safe (it is all-or-nothing and idempotent).
            if attempt == DEADLOCK_RETRIES or _mysql_code(error) != ER_LOCK_DEADLOCK:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


DEADLOCK_RETRIES = 3
ER_LOCK_DEADLOCK = 1213


def _mysql_code(error: BaseException) -> int | None:
    args = getattr(getattr(error, "orig", error), "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _store_portable(
    connection: Connection,
    runs: list[tuple[Any, ...]],
    outputs: list[tuple[Any, ...]],
    jobs: list[tuple[Any, ...]],
) -> int:
    """SQLAlchemy Core executemany (SQLite; any backend): returns the runs inserted."""
    mysql_dialect = connection.dialect.name in ("mysql", "mariadb")
    inserted = connection.execute(
        _insert_ignoring(mysql_dialect, tables.runs),
        [dict(zip(RUN_COLUMNS, r, strict=True)) for r in runs],
    ).rowcount
    connection.execute(_insert_ignoring(mysql_dialect, tables.run_output),
                       [dict(zip(OUTPUT_COLUMNS, o, strict=True)) for o in outputs])  # fmt: skip
    if jobs:
        connection.execute(_upsert_real_runs(mysql_dialect),
                           [dict(zip(JOB_COLUMNS, j, strict=True)) for j in jobs])  # fmt: skip
    return int(inserted)


def _store_mysql(
    connection: Connection,
    runs: list[tuple[Any, ...]],
    outputs: list[tuple[Any, ...]],
    jobs: list[tuple[Any, ...]],
) -> int:
    """The same statements as multi-row INSERTs rendered in one pass (db/bulk.py): on
    MySQL this is where a batch's CPU went. Returns the runs inserted."""
    raw = connection.connection.dbapi_connection
    inserted = bulk.insert_rows(
        raw, _MYSQL_INSERT_IGNORE.format("smartcron_runs", ", ".join(RUN_COLUMNS)), runs
    )
    bulk.insert_rows(
        raw, _MYSQL_INSERT_IGNORE.format("smartcron_run_output", ", ".join(OUTPUT_COLUMNS)), outputs
    )
    if jobs:
        bulk.insert_rows(raw, _MYSQL_JOBS_HEAD, jobs, _MYSQL_JOBS_TAIL)
    return inserted


def _job_changes(
    reports: Iterable[RunReport], now: dt.datetime
) -> tuple[list[tuple[Any, ...]], list[RunReport]]:
    """How the batch moves each (job, host) row forward: JOB_COLUMNS rows for the
    upsert (the latest real run of each, with its latest success), and the reports
    of the jobs whose latest report in the batch is a skip.

    The upsert replaces a row's last run only with one that is not older than the
    one already there (replicas and late deliveries race safely), and last_success_at
    only with a later one. A skip is not a run: it must not hide the last real
    outcome, so it updates only the job's schedule, zone, priority, command and breaker
    state. The state columns are refresh_states()'s (state_store.py).
    """
    latest: dict[tuple[str, str], RunReport] = {}
    latest_real: dict[tuple[str, str], RunReport] = {}
    latest_success: dict[tuple[str, str], dt.datetime] = {}
    for report in reports:
        key = (report.job, report.host)
        if key not in latest or report.started_at > latest[key].started_at:
            latest[key] = report
        if report.status not in SKIPPED and (
            key not in latest_real or report.started_at > latest_real[key].started_at
        ):
            latest_real[key] = report
        if report.status == "success" and report.finished_at is not None:
            finished = utc_naive(report.finished_at)
            latest_success[key] = max(latest_success.get(key, finished), finished)

    rows = []
    for key in sorted(latest_real):  # a fixed lock order, as for the runs
        r = latest_real[key]
        rows.append((
            r.job, r.host, r.schedule, r.priority, r.command, now, r.breaker_state, False,
            str(r.run_id), r.status, utc_naive(r.started_at), _naive_or_none(r.finished_at),
            r.duration_s, latest_success.get(key), r.timezone,
        ))  # fmt: skip
    skips = [latest[key] for key in sorted(latest) if latest[key].status in SKIPPED]
    return rows, skips


# Replaced by a newer real run; last_started_at comes last because MySQL evaluates
# ON DUPLICATE KEY UPDATE assignments in order and each later one sees the earlier ones.
_FROM_RUN = ("schedule", "timezone", "priority", "command", "breaker_state", "last_run_id",
             "last_status", "last_finished_at", "last_duration_s", "last_started_at")  # fmt: skip
_MYSQL_INSERT_IGNORE = "INSERT IGNORE INTO {} ({}) VALUES "
_MYSQL_JOBS_HEAD = f"INSERT INTO smartcron_jobs ({', '.join(JOB_COLUMNS)}) VALUES "
_MYSQL_NEWER = "(last_started_at IS NULL OR last_started_at <= VALUES(last_started_at))"
_MYSQL_JOBS_TAIL = (
    " ON DUPLICATE KEY UPDATE last_success_at = IF(VALUES(last_success_at) IS NOT NULL AND "
    "(last_success_at IS NULL OR last_success_at < VALUES(last_success_at)), "
    "VALUES(last_success_at), last_success_at), "
    + ", ".join(f"{name} = IF({_MYSQL_NEWER}, VALUES({name}), {name})" for name in _FROM_RUN)
)


@functools.lru_cache(maxsize=4)
def _upsert_real_runs(mysql_dialect: bool) -> Any:
    """The jobs upsert as a SQLAlchemy construct (the portable path); built once per
    backend, so that SQLAlchemy's compiled form is found by identity."""
    j = tables.jobs
    if mysql_dialect:
        statement: Any = mysql.insert(j)
        new = statement.inserted
    else:
        statement = sqlite.insert(j)
        new = statement.excluded
    newer = or_(j.c.last_started_at.is_(None), j.c.last_started_at <= new.last_started_at)
    success_newer = and_(
        new.last_success_at.is_not(None),
        or_(j.c.last_success_at.is_(None), j.c.last_success_at < new.last_success_at),
    )
    assignments = [
        ("last_success_at", case((success_newer, new.last_success_at), else_=j.c.last_success_at))
    ]
    assignments += [(name, case((newer, new[name]), else_=j.c[name])) for name in _FROM_RUN]
    if mysql_dialect:
        return statement.on_duplicate_key_update(assignments)
    # SQLite evaluates every SET expression against the old row, as standard SQL does.
    return statement.on_conflict_do_update(index_elements=["job", "host"],
                                           set_=dict(assignments))  # fmt: skip


def _advance_skipped(
    engine: Engine,
    connection: Connection,
    skips: list[RunReport],
    jobs: list[tuple[Any, ...]],
    now: dt.datetime,
) -> None:
    """Rare: the latest report of a job in the batch is a skip (lock, breaker, pause)."""
    upserted = {(row[0], row[1]) for row in jobs}
    first_rows = [
        {"job": r.job, "host": r.host, "schedule": r.schedule, "timezone": r.timezone,
         "priority": r.priority, "command": r.command, "first_seen_at": now,
         "breaker_state": r.breaker_state, "paused": False}
        for r in skips
        if (r.job, r.host) not in upserted
    ]  # fmt: skip
    if first_rows:
        connection.execute(_insert_ignoring_duplicates(engine, tables.jobs), first_rows)
    j = tables.jobs.c
    started: Any = bindparam("b_started")
    statement = (
        update(tables.jobs)
        .where(j.job == bindparam("b_job"), j.host == bindparam("b_host"),
               or_(j.last_started_at.is_(None), j.last_started_at <= started))
        .values(schedule=bindparam("b_schedule"), timezone=bindparam("b_zone"),
                priority=bindparam("b_priority"), command=bindparam("b_command"),
                breaker_state=bindparam("b_breaker"))
    )  # fmt: skip
    connection.execute(statement, [
        {"b_job": r.job, "b_host": r.host, "b_started": utc_naive(r.started_at),
         "b_schedule": r.schedule, "b_zone": r.timezone, "b_priority": r.priority,
         "b_command": r.command,
         "b_breaker": r.breaker_state}
        for r in skips
    ])  # fmt: skip
