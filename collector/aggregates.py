"""The aggregates of the runs, written by ingest a batch at a time (revision 0017).

Six tables sum up smartcron_runs so that pages, views and /metrics follow the jobs, not
their runs: smartcron_run_hourly (per job, host and UTC hour), smartcron_host_hourly
(per hour and host), smartcron_run_daily (per UTC day, job and host),
smartcron_perf_daily (per job, host and UTC day, with the duration histogram of
migrations/duration_buckets.py), smartcron_recent_failures (a row per failed run, with
the end of its stderr) and smartcron_run_totals (per job, host and status, all time, for
/metrics; revision 0020). Until revision 0017 a trigger per table did this for every run
inserted into the first five; on MariaDB the six triggers (the run rollup's too) held a
batched ingest to an eighth of what the plain INSERTs of the same rows do
(bench/ingest.py). Here a batch's new runs are added up in Python, per key, and each
table gets one multi-row upsert that adds the sums to the stored row.

The arithmetic is the triggers' (migrations/sql/mysql/0009_rollups.sql, 0014_perf_daily.sql,
0016_recent_failures.sql): runs are the real runs (a skip is not one), failures the
FAILED_STATUSES (a lost run among them), `timed` the real runs with a duration (a lost
run has none); a daily row's rss_max counts skips too, as the daily view always did.
The totals' is their fill's (migrations/sql/mysql/0020_run_totals.sql): there `runs`
counts skips too, in rows of their own with no duration, as /metrics' counter does.
Only runs that were actually inserted may come here: a replayed run_id adds nothing.

Rows go in the primary key's order of each table, and the tables in a fixed order, so
that concurrent batches take the rows' locks in one order and wait for each other
instead of deadlocking.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from smartcron.wrapper.schema import FAILED_STATUSES, SKIPPED_STATUSES
from sqlalchemy import Connection, Table, func

from .db import bulk, tables
from .db.engine import is_mysql
from .db.migrations.duration_buckets import COLUMNS as BUCKET_COLUMNS
from .db.migrations.duration_buckets import EDGES
from .db.upsert import upsert
from .rollups import epoch_hour

SKIPPED = frozenset(SKIPPED_STATUSES)
FAILED = frozenset(FAILED_STATUSES)
# How much of a failure's stderr smartcron_recent_failures keeps: the end of it.
STDERR_END = 300


class Run(NamedTuple):
    """What the aggregates read of one inserted run (times naive UTC)."""

    run_id: str
    job: str
    host: str
    status: str
    started_at: dt.datetime
    duration_s: float | None
    peak_rss_bytes: int | None
    exit_code: int | None
    signal_number: int | None
    attempt_count: int
    stderr_tail: str | None  # None: the run has no output row


def write_aggregates(connection: Connection, runs: Sequence[Run]) -> None:
    """Add `runs`, each inserted just now in this transaction, to every aggregate."""
    if not runs:
        return
    mysql_dialect = is_mysql(connection)
    for table, columns, rows in aggregate_rows(runs):
        statement = upsert_statement(table, mysql_dialect)
        bulk.insert_rows(connection, statement, columns, rows)


Rows = list[tuple[Any, ...]]


def aggregate_rows(runs: Iterable[Run]) -> list[tuple[Table, tuple[str, ...], Rows]]:
    """Per aggregate table, in the order they are written: its columns and its rows, one
    per key, in key order."""
    runs = list(runs)
    hourly = _outcomes(runs, lambda r: (r.job, r.host, epoch_hour(r.started_at)))
    host_hourly = _outcomes(runs, lambda r: (epoch_hour(r.started_at), r.host))
    return [
        (tables.run_hourly, HOURLY_COLUMNS, hourly),
        (tables.host_hourly, HOST_HOURLY_COLUMNS, host_hourly),
        (tables.run_daily, DAILY_COLUMNS, _daily(runs)),
        (tables.perf_daily, PERF_COLUMNS, _perf(runs)),
        (tables.recent_failures, FAILURE_COLUMNS, _failures(runs)),
        (tables.run_totals, TOTAL_COLUMNS, _totals(runs)),
    ]


# ---------------------------------------------------------------- per table

OUTCOMES = ("runs", "successes", "failures", "skips")
HOURLY_COLUMNS = ("job", "host", "epoch_hour", *OUTCOMES)
HOST_HOURLY_COLUMNS = ("epoch_hour", "host", *OUTCOMES)
DAILY_COLUMNS = ("day", "job", "host", *OUTCOMES, "timed", "duration_sum", "duration_max",
                 "rss_max")  # fmt: skip
PERF_COLUMNS = ("job", "host", "day", "runs", "successes", "timed", "duration_sum",
                "duration_min", "duration_max", "rss_sum", "rss_count", "rss_max",
                *BUCKET_COLUMNS)  # fmt: skip
FAILURE_COLUMNS = ("started_at", "run_id", "job", "host", "status", "exit_code",
                   "signal_number", "duration_s", "attempt_count", "stderr_end")  # fmt: skip
TOTAL_COLUMNS = ("job", "host", "status", "runs", "timed", "duration_us",
                 *tables.TOTAL_BUCKET_COLUMNS)  # fmt: skip


Key = Callable[[Run], tuple[Any, ...]]


def _grouped(runs: Iterable[Run], key: Key) -> list[tuple[tuple[Any, ...], list[Run]]]:
    """The runs of each key, in the order of the keys (the lock order)."""
    groups: dict[tuple[Any, ...], list[Run]] = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    return sorted(groups.items())


def _counts(group: list[Run]) -> tuple[int, int, int, int]:
    """Real runs, successes, failures, skips."""
    skips = sum(run.status in SKIPPED for run in group)
    successes = sum(run.status == "success" for run in group)
    failures = sum(run.status in FAILED for run in group)
    return len(group) - skips, successes, failures, skips


def _outcomes(runs: list[Run], key: Key) -> Rows:
    return [k + _counts(group) for k, group in _grouped(runs, key)]


def _largest(values: Iterable[Any]) -> Any:
    """The largest of the values that are not null; null if none is."""
    return max((value for value in values if value is not None), default=None)


def _daily(runs: list[Run]) -> Rows:
    rows = []
    for key, group in _grouped(runs, lambda r: (r.started_at.date(), r.job, r.host)):
        real = [run.duration_s for run in group if run.status not in SKIPPED]
        timed = [duration for duration in real if duration is not None]
        rss_max = _largest(run.peak_rss_bytes for run in group)
        durations = (len(timed), sum(timed, 0.0), _largest(timed), rss_max)
        rows.append(key + _counts(group) + durations)
    return rows


def _perf(runs: list[Run]) -> Rows:
    real = [run for run in runs if run.status not in SKIPPED]
    rows = []
    for key, group in _grouped(real, lambda r: (r.job, r.host, r.started_at.date())):
        timed = [run.duration_s for run in group if run.duration_s is not None]
        rss = [run.peak_rss_bytes for run in group if run.peak_rss_bytes is not None]
        # Cumulative, as the columns are: dNN counts the runs that lasted at most EDGES[NN].
        buckets = at_most(timed, EDGES)
        successes = sum(run.status == "success" for run in group)
        figures = (
            len(group), successes, len(timed), sum(timed, 0.0), min(timed, default=None),
            max(timed, default=None), sum(rss), len(rss), max(rss, default=None),
        )  # fmt: skip
        rows.append(key + figures + buckets)
    return rows


def _failures(runs: list[Run]) -> Rows:
    failed = sorted((r for r in runs if r.status in FAILED), key=lambda r: (r.started_at, r.run_id))
    return [
        (r.started_at, r.run_id, r.job, r.host, r.status, r.exit_code, r.signal_number,
         r.duration_s, r.attempt_count,
         None if r.stderr_tail is None else r.stderr_tail[-STDERR_END:])
        for r in failed
    ]  # fmt: skip


def _totals(runs: list[Run]) -> Rows:
    rows = []
    for key, group in _grouped(runs, lambda r: (r.job, r.host, r.status)):
        # A skip ran nothing: its row counts runs only, whatever duration it reported.
        real = key[2] not in SKIPPED
        timed = [run.duration_s for run in group if real and run.duration_s is not None]
        # Cumulative, as Prometheus' buckets are: le_N counts the runs of at most N s.
        within = at_most(timed, tables.TOTAL_BUCKETS)
        rows.append((*key, len(group), len(timed), sum(map(microseconds, timed)), *within))
    return rows


def at_most(values: Iterable[float], bounds: Sequence[float]) -> tuple[int, ...]:
    """How many of `values` are at most each of `bounds`. (A binary search per bound in
    the sorted values: counting the values for each of perf_daily's 89 edges was a sixth
    of a batch's CPU.)"""
    ordered = sorted(values)
    return tuple(bisect_right(ordered, bound) for bound in bounds)


def microseconds(seconds: float) -> int:
    """A duration in whole microseconds as revision 0020's fill counts it,
    FLOOR(duration_s * 1000000 + 0.5): the same two double operations, so that the fill
    and ingest give the same integer (ROUND breaks ties differently on each backend)."""
    return math.floor(seconds * 1_000_000 + 0.5)


# ---------------------------------------------------------------- the statements

_ADDED = {"runs", "successes", "failures", "skips", "timed", "duration_sum", "rss_sum",
          "rss_count", "duration_us", *BUCKET_COLUMNS, *tables.TOTAL_BUCKET_COLUMNS}  # fmt: skip
_LARGEST = {"duration_max", "rss_max"}
_SMALLEST = {"duration_min"}


@functools.cache
def upsert_statement(table: Table, mysql_dialect: bool) -> Any:
    """The table's upsert, built once per backend (bench/ingest.py's raw peer sends it
    too): sums are added to the stored row, extremes kept where the batch has none (a
    null must not erase the stored one). recent_failures is a plain INSERT: each run is
    new, so is its failure."""
    if table is tables.recent_failures:
        return table.insert()
    greatest = func.greatest if mysql_dialect else func.max
    least = func.least if mysql_dialect else func.min
    key = [column.name for column in table.primary_key.columns]

    def assign(new: Any) -> list[tuple[str, Any]]:
        assignments = []
        for column in table.columns:
            old, name = column, column.name
            if name in _ADDED:
                assignments.append((name, old + new[name]))
            elif name in _LARGEST or name in _SMALLEST:
                pick = greatest if name in _LARGEST else least
                assignments.append((name, func.coalesce(pick(old, new[name]), old, new[name])))
        return assignments

    return upsert(table, key, mysql_dialect, assign)
