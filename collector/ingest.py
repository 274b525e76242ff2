"""Ingest: validated run reports into the store, exactly once by run_id.

The whole path from the POST handler (api.py) to the rows:

1. writer.GroupWriter.ingest: the reports of concurrent requests go into shared
   transactions (group commit; writer.py says why).
2. store_batches: one transaction for the group. Every request's counts are known
   before anything is written (plan_group), and only the new runs are written
   (write_plan): a duplicate changes nothing, not even its job's row. A report dated
   more than MAX_AHEAD past the collector's clock is refused, and its host's clock
   noted (clocks.py).
3. write_plan: plain INSERTs of the runs and their output, one upsert per aggregate
   table with the sums of the new runs (aggregates.py: no trigger counts runs), an
   upsert of the jobs rows and one of the hosts' clocks: SQLAlchemy Core statements,
   each executed for all its rows at once by db/bulk.py, every value bound by the
   driver (on MySQL as tuples to pymysql's executemany, one multi-row INSERT).
   Then, in the same transaction, state_store.refresh_states decides the state of the
   jobs of the new runs: ingest itself computes no state, next expected run or lateness.

Which runs are stored already is the database's to say: a plain INSERT of a run it
holds fails on the unique run_id, and the transaction is done again, reading first
which of its runs are stored (a run that a concurrent request stores after that read
fails it again, and so on). A job's row moves forward by a conditional upsert (only
a newer run replaces its last one), which keeps replicas and late deliveries safe
without locks in the process. A value that does not fit a column refuses its own
report only: the group is done again request by request, that request report by report.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pymysql
from pydantic import TypeAdapter
from smartcron.wrapper.expect import ALERT_AFTER_DEFAULT
from smartcron.wrapper.schema import (
    FAILED_STATUSES,
    SKIPPED_STATUSES,
    AttemptReport,
    Expect,
    RunReport,
)
from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    update,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from .aggregates import Run, write_aggregates
from .clocks import MAX_AHEAD, ClockNotes, ahead_reason, clock_json
from .db import bulk, tables
from .db.engine import is_mysql
from .db.retry import mysql_code, run_transaction
from .db.upsert import Assignments, upsert
from .state_store import refresh_states

SKIPPED = frozenset(SKIPPED_STATUSES)
FAILED = frozenset(FAILED_STATUSES)
ER_DUP_ENTRY = 1062
# Run ids per SELECT ... IN: far below any backend's limit on bound values.
IDS_PER_QUERY = 500

# A report's own fault (a value that does not fit): the same on every retry.
REQUEST_FAULTS = (DataError, IntegrityError, pymysql.err.DataError, pymysql.err.IntegrityError,
                  sqlite3.DataError)  # fmt: skip
# The same fault as MySQL may report it, as an OperationalError: out of range for the
# column (1264), too long for it (1406), out of range in a sum (1690: the rollup's).
REQUEST_FAULT_CODES = frozenset({1264, 1406, 1690})
OPERATIONAL_ERRORS = (OperationalError, pymysql.err.OperationalError)


def now_utc() -> dt.datetime:
    """The collector's clock, as times are stored: naive UTC. Where a test must set the
    time, a `clock` (a function returning this) is passed in instead."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


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


def is_request_fault(error: BaseException | None) -> bool:
    """Whether `error` is the report's own fault (a value that does not fit)."""
    if _is_duplicate_run(error):
        return False  # a race with another request storing the same run: not a fault
    return isinstance(error, REQUEST_FAULTS) or (
        isinstance(error, OPERATIONAL_ERRORS) and mysql_code(error) in REQUEST_FAULT_CODES
    )


# ---------------------------------------------------------------- one request's answer


@dataclass
class Stored:
    """What became of one request's reports: `refused` maps a report's position in the
    request to the reason ("finished_at: ..."), for the answer's `rejected` list."""

    accepted: int = 0
    duplicates: int = 0
    refused: dict[int, str] = field(default_factory=dict)

    def add(self, other: Stored, position: int) -> None:
        """Count in a single-report request's result, the report being at `position`."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        for reason in other.refused.values():
            self.refused[position] = reason


# ---------------------------------------------------------------- the path


def ingest_reports(
    engine: Engine, reports: Sequence[RunReport], received_at: dt.datetime | None = None
) -> Stored:
    """Store one batch now (or as received at `received_at`): a group of one."""
    if not reports:
        return Stored()
    return _store_one(engine, reports, received_at or now_utc(), None)


def store_batches(
    engine: Engine,
    batches: Sequence[Sequence[RunReport]],
    now: dt.datetime,
    notes: ClockNotes | None = None,
) -> list[Stored | Exception]:
    """Store the batches of several requests in one transaction; each batch's Stored, or
    the error that batch alone ran into. Raises when the database fails them all alike
    (it is away): every request hears that. With `notes`, a host's clock is written only
    when it is due (clocks.py); without, always."""
    if len(batches) == 1:
        return [_store_one(engine, batches[0], now, notes)]
    try:
        return list(_write_group(engine, batches, now, notes))
    except Exception as error:
        if not is_request_fault(error):
            raise
    # Some request holds a value that does not fit: each on its own tells whose it is.
    return [_store_alone(engine, batch, now, notes) for batch in batches]


def _store_alone(
    engine: Engine, batch: Sequence[RunReport], now: dt.datetime, notes: ClockNotes | None
) -> Stored | Exception:
    # Any error is this batch's answer alone: one batch failing midway must not leave the
    # batches after it untried, nor make those before it (stored) look failed.
    try:
        return _store_one(engine, batch, now, notes)
    except Exception as error:  # noqa: BLE001
        return error


def _store_one(
    engine: Engine, batch: Sequence[RunReport], now: dt.datetime, notes: ClockNotes | None
) -> Stored:
    try:
        return _write_group(engine, [batch], now, notes)[0]
    except Exception as error:
        if not is_request_fault(error):
            raise
        if len(batch) == 1:
            reason = f"report: a value does not fit the database: {_short(error)}"
            return Stored(refused={0: reason})
    # Report by report: only the one that holds the value is refused, the others stored.
    result = Stored()
    for position, report in enumerate(batch):
        result.add(_store_one(engine, [report], now, notes), position)
    return result


def _write_group(
    engine: Engine,
    batches: Sequence[Sequence[RunReport]],
    now: dt.datetime,
    notes: ClockNotes | None,
) -> list[Stored]:
    """One transaction: plan, write. The first try takes every run for new, which it
    nearly always is; the unique run_id refusing one says otherwise, and the next try
    reads first which of the runs are stored (a read costs a round trip per group). A
    deadlock's victim is done again as it was (db/retry.py)."""
    run_ids = list(dict.fromkeys(str(report.run_id) for batch in batches for report in batch))
    read_first = False

    def write(connection: Connection) -> Plan:
        stored = stored_run_ids(connection, run_ids) if read_first else set()
        plan = plan_group(batches, stored, now)
        if notes is not None:
            plan.clocks = notes.due(plan.clocks)
        write_plan(connection, plan, now)
        return plan

    def lost_a_race(error: DBAPIError) -> bool:
        # A run stored already (or by a concurrent request since the read): the
        # transaction was rolled back whole, and the next try reads first. (A deadlock
        # victim is done again by run_transaction itself, reading nothing more.)
        nonlocal read_first
        duplicate = _is_duplicate_run(error)
        read_first = read_first or duplicate
        return duplicate

    plan = run_transaction(engine, write, retry_also=lost_a_race)
    if notes is not None:
        notes.noted(plan.clocks)
    return plan.results


def stored_run_ids(connection: Connection, run_ids: Sequence[str]) -> set[str]:
    """Which of `run_ids` the database holds already."""
    found: set[str] = set()
    for start in range(0, len(run_ids), IDS_PER_QUERY):
        chunk = run_ids[start : start + IDS_PER_QUERY]
        found.update(bulk.select_in(connection, tables.runs.c.run_id, chunk))
    return found


@dataclass
class Plan:
    """What a group's transaction writes, and each request's answer."""

    results: list[Stored]
    new: list[RunReport]  # the first copy of each run not stored yet, in lock order
    clocks: dict[str, float]  # host: how far its newest report is ahead of our clock, >= 0


def plan_group(batches: Sequence[Sequence[RunReport]], stored: set[str], now: dt.datetime) -> Plan:
    """Each request's counts: a run_id stored already, or seen earlier in the group, is a
    duplicate; a report dated past now + MAX_AHEAD is refused; the rest are new. The
    first copy of a run_id in the group is the one stored (and counted)."""
    results = [Stored() for _ in batches]
    first: dict[str, RunReport] = {}
    clocks: dict[str, float] = {}
    for result, batch in zip(results, batches, strict=True):
        for position, report in enumerate(batch):
            run_id = str(report.run_id)
            if run_id in stored or run_id in first:
                result.duplicates += 1
                continue
            name, latest = _latest_time(report)
            ahead = latest - now
            clocks[report.host] = max(clocks.get(report.host, 0.0), ahead.total_seconds())
            if ahead > MAX_AHEAD:
                result.refused[position] = ahead_reason(report.host, name, ahead)
                continue
            first[run_id] = report
            result.accepted += 1
    return Plan(results, sorted(first.values(), key=_lock_order), clocks)


def _latest_time(report: RunReport) -> tuple[str, dt.datetime]:
    """The report's latest time (naive UTC) and the field that holds it. (Attempts are
    only shown, never compared: their times are not checked against the clock.)"""
    started = utc_naive(report.started_at)
    if report.finished_at is None:  # a lost run: its end is unknown
        return "started_at", started
    finished = utc_naive(report.finished_at)
    return ("finished_at", finished) if finished >= started else ("started_at", started)


def _lock_order(report: RunReport) -> str:
    """Runs in the order of their run_id, the key of the unique index their insert locks
    in. (The aggregates' rows, which concurrent batches share, are put in key order by
    aggregates.py itself.)"""
    return str(report.run_id)


# ---------------------------------------------------------------- the statements


def write_plan(connection: Connection, plan: Plan, now: dt.datetime) -> None:
    """The group's rows, in a fixed order of tables and, within each, of keys, so that
    concurrent transactions take their row locks in the same order and wait for each
    other instead of deadlocking: output rows, runs, the aggregates' rows (aggregates.py),
    then jobs, then hosts. A heartbeat takes the same order, jobs rows before its host's
    row (heartbeats.store_heartbeat): keep them alike."""
    mysql_dialect = is_mysql(connection)
    if plan.new:
        runs = [run_values(report, now) for report in plan.new]
        insert_runs(connection, runs, [output_values(report) for report in plan.new])
        jobs, jobs_kept, skips = _job_changes(plan.new, now)
        bulk.insert_rows(connection, _upsert_jobs(mysql_dialect, True), JOB_EXPECT_COLUMNS, jobs)
        # Rare: a report without `expect` (an older wrapper's, a lost run's) keeps the
        # job's stored values. Its own statement, after the other: rows in key order each.
        bulk.insert_rows(connection, _upsert_jobs(mysql_dialect, False), JOB_COLUMNS, jobs_kept)
        if skips:
            _advance_skipped(connection, skips, jobs + jobs_kept, now)
        # The state of the jobs whose rows the new runs moved, as collector/state.py
        # decides it (a duplicate changed no row, so it refreshes none).
        refresh_states(connection, {(r.job, r.host) for r in plan.new}, now)
    clocks = [
        (host, now, now, clock_json(ahead, now)) for host, ahead in sorted(plan.clocks.items())
    ]
    bulk.insert_rows(connection, _upsert_clocks(mysql_dialect), CLOCK_COLUMNS, clocks)


def insert_runs(
    connection: Connection, runs: Sequence[Sequence[Any]], outputs: Sequence[Sequence[Any]]
) -> None:
    """Insert new runs (rows in RUN_COLUMNS order) and their output rows (OUTPUT_COLUMNS
    order; a run may have none) and add the runs to the aggregates (aggregates.py), in
    the caller's transaction. The one way runs enter smartcron_runs: no trigger counts
    them since revision 0017, so a run inserted otherwise is missing from every page's
    counts. A run_id stored already fails the whole statement (the unique key): only new
    runs are ever counted."""
    bulk.insert_rows(connection, _INSERT_OUTPUT, OUTPUT_COLUMNS, outputs)
    bulk.insert_rows(connection, _INSERT_RUNS, RUN_COLUMNS, runs)
    stderr = {output[0]: output[3] for output in outputs}
    counted = [Run._make([*(row[i] for i in _COUNTED), stderr.get(row[0])]) for row in runs]
    write_aggregates(connection, counted)


RUN_COLUMNS = (
    "run_id", "job", "host", "run_user", "command", "schedule", "priority", "tags",
    "run_trigger", "status", "exit_code", "signal_number", "started_at", "finished_at",
    "duration_s", "attempt_count", "peak_rss_bytes", "cpu_user_s", "cpu_system_s",
    "output_bytes", "output_truncated", "breaker_state", "wrapper_version", "received_at",
)  # fmt: skip
OUTPUT_COLUMNS = ("run_id", "attempts", "stdout_tail", "stderr_tail")
# Where the fields of aggregates.Run (all but the stderr) are in a run's row.
_COUNTED = [RUN_COLUMNS.index(name) for name in Run._fields[:-1]]
# The report's own fields that are checked (schema.py) but kept nowhere, knowingly:
# `schema` (every stored run is schema 1), and notes about one run that nothing here
# reads yet (output the wrapper's reader never got, signals the kernel refused, the
# lock the run went without). Every other field is stored: the run's row, its output
# row, or (timezone, expect) the job's row. tests/collector/test_ingest_store.py holds a new
# field of the model to one or the other.
NOT_STORED = frozenset({"schema", "output_dropped_bytes", "signal_denied", "lock_error"})
# A job's row as a real run leaves it; _FROM_RUN lists what a newer run may replace.
JOB_COLUMNS = (
    "job", "host", "schedule", "priority", "command", "first_seen_at", "breaker_state",
    "paused", "last_run_id", "last_status", "last_started_at", "last_finished_at",
    "last_duration_s", "last_success_at", "last_failure_at", "timezone",
)  # fmt: skip
# The report's `expect`, replaced by a newer run that carries one (absent: kept).
EXPECT_COLUMNS = ("grace_s", "min_duration_s", "max_duration_s", "alert_after")
JOB_EXPECT_COLUMNS = JOB_COLUMNS + EXPECT_COLUMNS
CLOCK_COLUMNS = ("host", "first_seen_at", "last_seen_at", "health")
_INSERT_RUNS = tables.runs.insert()
_INSERT_OUTPUT = tables.run_output.insert()
_ATTEMPTS = TypeAdapter(list[AttemptReport])
# What is stored of each attempt: the fields this collector knows, not ones it ignores.
_KNOWN_ATTEMPT_FIELDS = {"__all__": set(AttemptReport.model_fields)}


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


def output_values(report: RunReport) -> tuple[Any, ...]:
    """A smartcron_run_output row, in OUTPUT_COLUMNS order; the attempts as compact JSON."""
    # Without exclude_defaults every attempt would carry "error": null, which only an
    # attempt that could not start has.
    attempts = _ATTEMPTS.dump_json(
        report.attempts, include=_KNOWN_ATTEMPT_FIELDS, exclude_defaults=True
    ).decode()
    return (str(report.run_id), attempts, report.stdout_tail, report.stderr_tail)


def run_row(report: RunReport, received_at: dt.datetime) -> dict[str, Any]:
    """run_values by column name (bench/ingest.py's peer inserts these)."""
    return dict(zip(RUN_COLUMNS, run_values(report, received_at), strict=True))


def output_row(report: RunReport) -> dict[str, Any]:
    return dict(zip(OUTPUT_COLUMNS, output_values(report), strict=True))


def expect_values(expect: Expect) -> tuple[Any, ...]:
    """A report's `expect` in EXPECT_COLUMNS order: null where not set, the default
    number of consecutive failures (3) where that is not set."""
    alert_after = ALERT_AFTER_DEFAULT if expect.alert_after is None else expect.alert_after
    return (expect.grace_s, expect.min_duration_s, expect.max_duration_s, alert_after)


def _job_changes(
    reports: Iterable[RunReport], now: dt.datetime
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[RunReport]]:
    """How the new runs move each (job, host) row forward: rows for the upsert (the
    latest real run of each, with its latest success and failure; in JOB_EXPECT_COLUMNS
    order when the run carries `expect`, else in JOB_COLUMNS order), and the reports of
    the jobs whose latest report is a skip.

    The upsert replaces a row's last run only with one that is not older than the
    one already there (replicas and late deliveries race safely), and last_success_at
    (a success's end) or last_failure_at (a failure's start) only with a later one. A
    skip is not a run: it must not hide the last real outcome, so it updates only the
    job's schedule, zone, priority, command and breaker state. The state columns are
    refresh_states()'s (state_store.py).
    """
    latest: dict[tuple[str, str], RunReport] = {}
    latest_real: dict[tuple[str, str], RunReport] = {}
    latest_success: dict[tuple[str, str], dt.datetime] = {}
    latest_failure: dict[tuple[str, str], dt.datetime] = {}
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
        elif report.status in FAILED:
            started = utc_naive(report.started_at)
            latest_failure[key] = max(latest_failure.get(key, started), started)

    rows, rows_kept = [], []
    for key in sorted(latest_real):  # a fixed lock order, as for the runs
        r = latest_real[key]
        row = (
            r.job, r.host, r.schedule, r.priority, r.command, now, r.breaker_state, False,
            str(r.run_id), r.status, utc_naive(r.started_at), _naive_or_none(r.finished_at),
            r.duration_s, latest_success.get(key), latest_failure.get(key), r.timezone,
        )  # fmt: skip
        if r.expect is None:
            rows_kept.append(row)
        else:
            rows.append(row + expect_values(r.expect))
    skips = [latest[key] for key in sorted(latest) if latest[key].status in SKIPPED]
    return rows, rows_kept, skips


# Replaced by a newer real run; last_started_at comes last because MySQL evaluates
# ON DUPLICATE KEY UPDATE assignments in order and each later one sees the earlier ones.
_FROM_RUN = ("schedule", "timezone", "priority", "command", "breaker_state", "last_run_id",
             "last_status", "last_finished_at", "last_duration_s", "last_started_at")  # fmt: skip


@functools.cache
def _upsert_jobs(mysql_dialect: bool, with_expect: bool) -> Any:
    """The jobs upsert, built once per backend (SQLAlchemy then finds its compiled form
    by identity instead of building and keying a new construct for every batch); with
    the `expect` columns, or leaving them as they are."""
    j = tables.jobs

    def later(new: Any, name: str) -> tuple[str, Any]:
        """The column replaced by the new value only if that is later (or the first)."""
        stored, given = j.c[name], new[name]
        is_later = and_(given.is_not(None), or_(stored.is_(None), stored < given))
        return name, case((is_later, given), else_=stored)

    def assign(new: Any) -> Assignments:
        newer = or_(j.c.last_started_at.is_(None), j.c.last_started_at <= new.last_started_at)
        replaced = (EXPECT_COLUMNS if with_expect else ()) + _FROM_RUN
        return [later(new, "last_success_at"), later(new, "last_failure_at")] + [
            (name, case((newer, new[name]), else_=j.c[name])) for name in replaced
        ]

    return upsert(j, ["job", "host"], mysql_dialect, assign)


@functools.cache
def _upsert_clocks(mysql_dialect: bool) -> Any:
    """The hosts rows: heard from now, and the clock merged into their health JSON (the
    agent's heartbeat keeps the rest of it there). A health that is not JSON is
    replaced rather than failing the batch."""
    h = tables.hosts
    merge = func.json_merge_patch if mysql_dialect else func.json_patch
    # No bound value in here: pymysql's executemany repeats only VALUES (...) per row.
    valid = func.json_valid(h.c.health) == literal_column("1")
    kept = case((valid, h.c.health), else_=literal_column("'{}'"))
    return upsert(h, ["host"], mysql_dialect, lambda new: [
        ("last_seen_at", new.last_seen_at), ("health", merge(kept, new.health))
    ])  # fmt: skip


@functools.cache
def insert_first_rows(mysql_dialect: bool) -> Any:
    """An INSERT of jobs rows that leaves a row already there as it is."""
    if mysql_dialect:
        return mysql.insert(tables.jobs).prefix_with("IGNORE")
    return sqlite.insert(tables.jobs).on_conflict_do_nothing()


def _advance_skipped(
    connection: Connection,
    skips: list[RunReport],
    jobs: list[tuple[Any, ...]],
    now: dt.datetime,
) -> None:
    """Rare: the latest report of a job in the group is a skip (lock, breaker, pause)."""
    upserted = {(row[0], row[1]) for row in jobs}
    first_rows = [
        {"job": r.job, "host": r.host, "schedule": r.schedule, "timezone": r.timezone,
         "priority": r.priority, "command": r.command, "first_seen_at": now,
         "breaker_state": r.breaker_state, "paused": False,
         **dict(zip(EXPECT_COLUMNS, expect_values(r.expect or Expect()), strict=True))}
        for r in skips
        if (r.job, r.host) not in upserted
    ]  # fmt: skip
    if first_rows:
        mysql_dialect = is_mysql(connection)
        connection.execute(insert_first_rows(mysql_dialect), first_rows)
    connection.execute(_ADVANCE_SKIPPED, [
        {"b_job": r.job, "b_host": r.host, "b_started": utc_naive(r.started_at),
         "b_schedule": r.schedule, "b_zone": r.timezone, "b_priority": r.priority,
         "b_command": r.command, "b_breaker": r.breaker_state,
         "b_expect": r.expect is not None,
         **dict(zip(_B_EXPECT, expect_values(r.expect or Expect()), strict=True))}
        for r in skips
    ])  # fmt: skip


_J = tables.jobs.c
_B_EXPECT = tuple(f"b_{name}" for name in EXPECT_COLUMNS)
_ADVANCE_SKIPPED = (
    update(tables.jobs)
    .where(_J.job == bindparam("b_job"), _J.host == bindparam("b_host"),
           or_(_J.last_started_at.is_(None), _J.last_started_at <= bindparam("b_started")))
    .values(schedule=bindparam("b_schedule"), timezone=bindparam("b_zone"),
            priority=bindparam("b_priority"), command=bindparam("b_command"),
            breaker_state=bindparam("b_breaker"),
            # A skip without `expect` (an older wrapper's) keeps the stored values.
            **{name: case((bindparam("b_expect", type_=Boolean()), bindparam(f"b_{name}")),
                          else_=_J[name])
               for name in EXPECT_COLUMNS})
)  # fmt: skip


# ---------------------------------------------------------------- errors


def _is_duplicate_run(error: BaseException | None) -> bool:
    """A run_id (or its output's) stored already: a concurrent request won the race."""
    cause = getattr(error, "orig", error)
    if isinstance(cause, pymysql.err.IntegrityError):
        return mysql_code(cause) == ER_DUP_ENTRY
    return isinstance(cause, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(cause)


def _short(error: BaseException) -> str:
    return str(getattr(error, "orig", error)).splitlines()[0][:200]
