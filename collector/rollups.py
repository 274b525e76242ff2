"""The last 24 hours' counts, of each job and of the fleet, from the hourly rollups that
ingest writes with the runs (aggregates.py; revision 0009 made them), so that what
they cost follows the jobs asked for, not their runs.

"The last 24 hours" is every run started at or after now - 24 h, as before: the whole
hours from the first one after that moment come from the rollup, and the runs between
that moment and the start of that hour (less than an hour of them) from smartcron_runs.
The sum is exact: each run is in one hour, and each hour is read from one place.

The hourly rows are kept for KEEP_HOURS, the days of smartcron_perf_daily (which
smartcron_v_job_performance sums over 30 days) for KEEP_PERF_DAYS, the failed runs of
smartcron_recent_failures (which smartcron_v_recent_failures reads for 24 hours) for
KEEP_HOURS; the evaluation pass deletes older ones (prune_hourly), which nothing reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from smartcron.wrapper.schema import FAILED_STATUSES, SKIPPED_STATUSES
from sqlalchemy import Engine, Select, Table, case, delete, func, select, tuple_

from .db import tables

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
EPOCH = dt.datetime(1970, 1, 1)
# What migrate fills (sql/*/0009_rollups.sql) and what the evaluation pass keeps: the
# 24 hours read, with a day to spare for runs delivered late from a spool.
KEEP_HOURS = 48
# The performance view's 30 days (today and the 29 before), and the day before them,
# which migrate fills too (sql/*/0014_perf_daily.sql).
KEEP_PERF_DAYS = 31
# Jobs per statement; SQLite allows 500 parts in a UNION, and a few hundred ORed keys
# make a short statement either way.
KEYS_PER_QUERY = 400

Key = tuple[str, str]  # job, host


def epoch_hour(moment: dt.datetime) -> int:
    """The hour of a naive UTC time, counted from 1970-01-01 00:00 (as the rollups do)."""
    return (moment - EPOCH) // HOUR


@dataclass(frozen=True)
class Window:
    """The last 24 hours as read: runs from `since` to `first_hour_at`, then the rollup's
    hours from `first_hour` on."""

    since: dt.datetime
    first_hour: int

    @property
    def first_hour_at(self) -> dt.datetime:
        return EPOCH + self.first_hour * HOUR


def last_day(now: dt.datetime) -> Window:
    since = now - DAY
    return Window(since, epoch_hour(since) + 1)


def _hinted(query: Select[Any], table: Table, index: str) -> Select[Any]:
    for dialect in ("mysql", "mariadb"):
        query = query.with_hint(table, f"FORCE INDEX ({index})", dialect_name=dialect)
    return query


def _failed(status: object) -> object:
    return case((status.in_(FAILED_STATUSES), 1), else_=0)  # type: ignore[attr-defined]


def job_day_counts(engine: Engine, keys: list[Key], now: dt.datetime) -> dict[Key, tuple[int, int]]:
    """Runs and failures of the last 24 hours of each (job, host) in `keys` (absent: none):
    per job a range of the hourly rollup's key and a range of ix_runs_job_started of
    less than an hour."""
    window = last_day(now)
    h, r = tables.run_hourly.c, tables.runs.c
    found: dict[Key, list[int]] = {}
    with engine.connect() as connection:
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            # (job, host) IN (...) with the index named: for 100 jobs MariaDB took
            # 30-40 ms to plan an OR of pairs over the candidate indexes, 10-15 ms this way.
            hours = _hinted(
                select(h.job, h.host, func.sum(h.runs), func.sum(h.failures))
                .where(tuple_(h.job, h.host).in_(chunk), h.epoch_hour >= window.first_hour)
                .group_by(h.job, h.host),
                tables.run_hourly, "PRIMARY",
            )  # fmt: skip
            edge = _hinted(
                select(r.job, r.host, func.count(), func.sum(_failed(r.status)))
                .where(tuple_(r.job, r.host).in_(chunk), r.started_at >= window.since,
                       r.started_at < window.first_hour_at, r.status.not_in(SKIPPED_STATUSES))
                .group_by(r.job, r.host),
                tables.runs, "ix_runs_job_started",
            )  # fmt: skip
            for query in (hours, edge):
                for job, host, runs, failures in connection.execute(query):
                    counts = found.setdefault((job, host), [0, 0])
                    # SUM() is DECIMAL on MySQL: numbers for JSON, not strings.
                    counts[0] += int(runs or 0)
                    counts[1] += int(failures or 0)
    return {key: (runs, failures) for key, (runs, failures) in found.items()}


def fleet_day_counts(engine: Engine, now: dt.datetime) -> tuple[int, int]:
    """Runs and failures of the whole fleet in the last 24 hours: a range of the hourly
    rollup per host (200 hosts: some 5,000 rows) and less than an hour of runs from
    ix_runs_started, which holds every column read."""
    window = last_day(now)
    h, r = tables.host_hourly.c, tables.runs.c
    hours = select(func.sum(h.runs), func.sum(h.failures)).where(h.epoch_hour >= window.first_hour)
    edge = select(func.count(), func.sum(_failed(r.status))).where(
        r.started_at >= window.since,
        r.started_at < window.first_hour_at,
        r.status.not_in(SKIPPED_STATUSES),
    )
    runs = failures = 0
    with engine.connect() as connection:
        for query in (hours, edge):
            counted, failed = connection.execute(query).one()
            runs += int(counted or 0)
            failures += int(failed or 0)
    return runs, failures


def prune_hourly(engine: Engine, now: dt.datetime) -> int:
    """Delete the hourly rows and the recent failures older than KEEP_HOURS and the
    performance days older than KEEP_PERF_DAYS; how many went."""
    oldest = epoch_hour(now) - KEEP_HOURS
    oldest_day = now.date() - dt.timedelta(days=KEEP_PERF_DAYS - 1)
    deleted = 0
    with engine.begin() as connection:
        for table in (tables.run_hourly, tables.host_hourly):
            deleted += connection.execute(delete(table).where(table.c.epoch_hour < oldest)).rowcount
        perf = tables.perf_daily
        deleted += connection.execute(delete(perf).where(perf.c.day < oldest_day)).rowcount
        failures = tables.recent_failures
        deleted += connection.execute(
            delete(failures).where(failures.c.started_at < now - KEEP_HOURS * HOUR)
        ).rowcount
    return deleted
