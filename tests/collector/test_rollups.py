"""The hourly and daily rollups of revision 0009 (collector/rollups.py and the triggers
of migrations/sql/*/0009_rollups.sql), on SQLite and MySQL: every count they give equals
the count taken from the runs themselves, lost runs (no duration) and skips included,
at any moment of the hour, through ingest and across the migration of a database that
already holds runs.

The oracle is the runs: counted here in Python, and by the SQL the views ran over the
runs before this revision."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from typing import Any

import pytest
from smartcron.collector import fleet, queries, rollups
from smartcron.collector.db import tables
from smartcron.collector.db.migrate import head_revision, migrate
from smartcron.collector.db.migrations.types import Micro
from smartcron.collector.ingest import ingest_reports
from smartcron.wrapper.schema import FAILED_STATUSES, SKIPPED_STATUSES, RunReport
from sqlalchemy import Engine, bindparam, select, text

from tests.support.collector_api import stored_runs
from tests.support.service import make_report

STATUSES = ["success"] * 5 + ["failed", "timeout", "lost", "error", "skipped_locked",
                              "skipped_paused", "skipped_breaker"]  # fmt: skip


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def reports(count: int, now: dt.datetime, seed: int = 1, hours: int = 60) -> list[dict[str, Any]]:
    """Runs of a few jobs on two hosts over the last `hours` hours, every status, some
    started on the stroke of an hour or a microsecond before it."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        started = now - dt.timedelta(seconds=rng.randrange(60, hours * 3600))
        if rng.random() < 0.15:  # on an hour's edge
            started = started.replace(minute=0, second=0, microsecond=0)
            started -= dt.timedelta(microseconds=rng.choice([0, 1]))
        if abs(started - (now - dt.timedelta(days=1))) < dt.timedelta(minutes=5):
            # Away from now - 24 h: the tests that read the database's clock move on.
            started -= dt.timedelta(minutes=10)
        made.append(make_report(
            f"job{rng.randrange(5)}", host=f"web{rng.randrange(2)}",
            status=rng.choice(STATUSES), started=started.replace(tzinfo=dt.timezone.utc),
            duration_s=rng.choice([0.0, 0.25, 1.5, 30.0, 3600.5]),
            peak_rss_bytes=rng.choice([None, 2**20, 2**33]),
        ))  # fmt: skip
    return made


def ingest(engine: Engine, batch: Iterable[dict[str, Any]]) -> None:
    ingest_reports(engine, [RunReport.model_validate(report) for report in batch])


def outcome(status: str) -> tuple[int, int, int, int]:
    """(runs, successes, failures, skips) that one run adds."""
    skipped = status in SKIPPED_STATUSES
    return (int(not skipped), int(status == "success"), int(status in FAILED_STATUSES),
            int(skipped))  # fmt: skip


def add(into: dict[Any, list[int]], key: Any, values: Iterable[int]) -> None:
    cell = into.setdefault(key, [0, 0, 0, 0])
    for n, value in enumerate(values):
        cell[n] += value


def expected_hourly(runs: list[dict[str, Any]], from_hour: int = 0) -> dict[Any, Any]:
    found: dict[Any, list[int]] = {}
    for run in runs:
        hour = rollups.epoch_hour(run["started_at"])
        if hour >= from_hour:
            add(found, (run["job"], run["host"], hour), outcome(run["status"]))
    return {key: tuple(cell) for key, cell in found.items()}


def expected_host_hourly(runs: list[dict[str, Any]], from_hour: int = 0) -> dict[Any, Any]:
    found: dict[Any, list[int]] = {}
    for (_job, host, hour), cell in expected_hourly(runs, from_hour).items():
        add(found, (hour, host), cell)
    return {key: tuple(cell) for key, cell in found.items()}


def expected_daily(runs: list[dict[str, Any]]) -> dict[Any, Any]:
    """(runs, successes, failures, skips, timed, duration sum, duration max, rss max)."""
    cells: dict[Any, list[dict[str, Any]]] = {}
    for run in runs:
        cells.setdefault((run["started_at"].date(), run["job"], run["host"]), []).append(run)
    found = {}
    for key, cell in cells.items():
        counts: dict[Any, list[int]] = {}
        for run in cell:
            add(counts, key, outcome(run["status"]))
        real = [run["duration_s"] for run in cell if run["status"] not in SKIPPED_STATUSES]
        timed = [d for d in real if d is not None]
        memory = [run["peak_rss_bytes"] for run in cell if run["peak_rss_bytes"] is not None]
        found[key] = (*counts[key], len(timed), pytest.approx(sum(timed)),
                      max(timed, default=None), max(memory, default=None))  # fmt: skip
    return found


def stored(engine: Engine, table: Any, keys: int) -> dict[Any, Any]:
    with engine.connect() as connection:
        rows = connection.execute(select(table)).all()
    result = {}
    for row in rows:
        key = tuple(row[:keys])
        if table is tables.run_daily and not isinstance(key[0], dt.date):
            key = (dt.date.fromisoformat(key[0]), *key[1:])
        result[key] = tuple(row[keys:])
    return result


def assert_rollups_match(engine: Engine, runs: list[dict[str, Any]], from_hour: int = 0) -> None:
    hourly = stored(engine, tables.run_hourly, 3)
    assert {k: v for k, v in hourly.items() if k[2] >= from_hour} == expected_hourly(
        runs, from_hour
    )
    host_hourly = stored(engine, tables.host_hourly, 2)
    assert {k: v for k, v in host_hourly.items() if k[0] >= from_hour} == expected_host_hourly(
        runs, from_hour
    )
    assert stored(engine, tables.run_daily, 3) == expected_daily(runs)


def last_day_counts(runs: list[dict[str, Any]], now: dt.datetime) -> dict[Any, tuple[int, int]]:
    """Runs and failures started at or after now - 24 h, per (job, host), from the runs."""
    found: dict[Any, list[int]] = {}
    for run in runs:
        if run["started_at"] >= now - dt.timedelta(days=1):
            real, _, failed, _ = outcome(run["status"])
            cell = found.setdefault((run["job"], run["host"]), [0, 0])
            cell[0] += real
            cell[1] += failed
    return {key: (a, b) for key, (a, b) in found.items() if a or b}


# ---------------------------------------------------------------- the triggers


def test_ingest_counts_every_run_once_in_each_rollup(engine: Engine) -> None:
    now = utc_now()
    batch = reports(400, now)
    ingest(engine, batch)
    ingest(engine, batch[:100])  # replayed: duplicates count nothing
    runs = stored_runs(engine)
    assert len(runs) == 400
    assert {run["status"] for run in runs} == set(STATUSES), "every status, lost and skips too"
    assert any(run["duration_s"] is None for run in runs), "a lost run has no duration"
    assert_rollups_match(engine, runs)
    more = reports(50, now, seed=2)
    ingest(engine, more)
    assert_rollups_match(engine, stored_runs(engine))


@pytest.mark.parametrize("minute", [0, 1, 29, 59])
def test_the_last_24_hours_from_the_rollup_equal_the_runs_at_any_minute(
    engine: Engine, minute: int
) -> None:
    base = utc_now().replace(minute=0, second=0, microsecond=0)
    ingest(engine, reports(400, base, seed=minute))
    runs = stored_runs(engine)
    keys = sorted({(run["job"], run["host"]) for run in runs})
    for now in (base + dt.timedelta(minutes=minute),
                base + dt.timedelta(minutes=minute, microseconds=1),
                base - dt.timedelta(hours=5, minutes=minute)):  # fmt: skip
        expected = last_day_counts(runs, now)
        assert rollups.job_day_counts(engine, keys, now) == expected, now
        assert rollups.fleet_day_counts(engine, now) == (
            sum(a for a, _ in expected.values()),
            sum(b for _, b in expected.values()),
        ), now


def test_the_page_status_and_health_view_count_as_the_runs_do(engine: Engine) -> None:
    now = utc_now()
    ingest(engine, reports(300, now, seed=5))
    runs = stored_runs(engine)
    # The views' clock is the database's; a run that would move across now - 24 h
    # meanwhile is not among these (every run is a minute or more from any edge).
    later = utc_now()
    expected = last_day_counts(runs, later)
    status = fleet.status(engine)
    assert (status["runs_24h"], status["failures_24h"]) == (
        sum(a for a, _ in expected.values()),
        sum(b for _, b in expected.values()),
    )
    with engine.connect() as connection:
        health = connection.execute(text("SELECT * FROM smartcron_v_job_health")).mappings()
        seen = {(row["job"], row["host"]): (int(row["runs_24h"]), int(row["failures_24h"]))
                for row in health}  # fmt: skip
    assert {key: value for key, value in seen.items() if value != (0, 0)} == expected
    described = {
        (item["job"], item["host"]): (item["runs_24h"], item["failures_24h"])
        for item in queries.jobs(engine)
    }
    assert {key: value for key, value in described.items() if value != (0, 0)} == expected


# The daily trends as revision 0001 computed them from the runs: the oracle.
OLD_TRENDS = {
    "mysql": "SELECT DATE(started_at) AS day, job, host,"
    " SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS runs,"
    " SUM(status = 'success') AS successes,"
    " SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')) AS failures,"
    " SUM(status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS skipped,"
    " ROUND(AVG(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END), 3) AS avg_duration_s,"
    " ROUND(MAX(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END), 3) AS max_duration_s,"
    " MAX(peak_rss_bytes) AS max_peak_rss_bytes FROM smartcron_runs"
    " WHERE started_at >= UTC_DATE() - INTERVAL 90 DAY GROUP BY DATE(started_at), job, host",
}
OLD_TRENDS["sqlite"] = (
    OLD_TRENDS["mysql"]
    .replace("DATE(started_at)", "date(started_at)")
    .replace("UTC_DATE() - INTERVAL 90 DAY", "date('now', '-90 days')")
)


def test_daily_trends_from_the_rollup_equal_the_old_view_over_the_runs(engine: Engine) -> None:
    now = utc_now()
    ingest(engine, reports(500, now, seed=7, hours=24 * 95))
    dialect = "mysql" if engine.dialect.name in ("mysql", "mariadb") else "sqlite"

    def plain(index: int, value: Any) -> Any:
        # The day as text, the figures as floats (SUM() is DECIMAL on MySQL).
        if value is None:
            return None
        return str(value) if index == 0 else float(value) if index >= 3 else value

    def rows(sql: str) -> list[tuple[Any, ...]]:
        with engine.connect() as connection:
            found = connection.exec_driver_sql(sql.replace("%", "%%") if dialect == "mysql"
                                               else sql).all()  # fmt: skip
        return sorted(tuple(plain(i, v) for i, v in enumerate(row)) for row in found)

    old = rows(OLD_TRENDS[dialect])
    assert len(old) > 100
    assert rows("SELECT * FROM smartcron_v_daily_trends") == old


# ---------------------------------------------------------------- migrating, pruning


# A database at revision 0007 (0001's columns; 0004 let a lost run's end be null; 0005's
# job columns all have defaults), for the migration test: its rows go in with plain SQL
# in the columns of that revision, never through today's ingest, which writes later ones.
TIME_COLUMNS = {"started_at", "finished_at", "received_at", "first_seen_at",
                "last_started_at", "last_finished_at", "last_success_at", "review_at"}  # fmt: skip


def moment(value: str | None) -> dt.datetime | None:
    """A report's ISO time as the naive UTC datetime the tables hold."""
    if value is None:
        return None
    return dt.datetime.fromisoformat(value).astimezone(dt.timezone.utc).replace(tzinfo=None)


def run_row_0007(report: dict[str, Any]) -> dict[str, Any]:
    """A report as a row of smartcron_runs at 0007, every column of that revision."""
    started = moment(report["started_at"])
    return {
        "run_id": report["run_id"], "job": report["job"], "host": report["host"],
        "run_user": report["user"], "command": report["command"],
        "schedule": report["schedule"], "priority": report["priority"], "tags": "",
        "run_trigger": report["trigger"], "status": report["status"],
        "exit_code": report["exit_code"], "signal_number": report["signal"],
        "started_at": started, "finished_at": moment(report["finished_at"]),
        "duration_s": report["duration_s"], "attempt_count": len(report["attempts"]),
        "peak_rss_bytes": report["peak_rss_bytes"], "cpu_user_s": report["cpu_user_s"],
        "cpu_system_s": report["cpu_system_s"], "output_bytes": report["output_bytes"],
        "output_truncated": False, "breaker_state": report["breaker_state"],
        "wrapper_version": report["wrapper_version"], "received_at": started,
    }  # fmt: skip


def job_rows_0007(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each job's row as ingest at 0007 left it: first seen at its first run, the figures
    of its latest run and the time of its latest success."""
    mine: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in sorted(runs, key=lambda run: run["started_at"]):
        mine.setdefault((run["job"], run["host"]), []).append(run)
    rows = []
    for cell in mine.values():
        first, last = cell[0], cell[-1]
        successes = [run["started_at"] for run in cell if run["status"] == "success"]
        rows.append({
            "job": last["job"], "host": last["host"], "schedule": last["schedule"],
            "priority": last["priority"], "command": last["command"],
            "first_seen_at": first["started_at"], "last_run_id": last["run_id"],
            "last_status": last["status"], "last_started_at": last["started_at"],
            "last_finished_at": last["finished_at"],
            "last_success_at": max(successes, default=None),
            "last_duration_s": last["duration_s"], "breaker_state": "closed", "paused": False,
            "review_at": dt.datetime(2000, 1, 1),
        })  # fmt: skip
    return rows


def insert_rows(engine: Engine, table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    # Times bound as the tables' own type: on SQLite the text the collector writes
    # ('.ffffff' always), which the migration's SQL reads by position.
    statement = text(
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(':' + column for column in columns)})"
    ).bindparams(*[bindparam(name, type_=Micro) for name in columns
                   if name in TIME_COLUMNS])  # fmt: skip
    with engine.begin() as connection:
        connection.execute(statement, rows)


def test_migrating_a_database_with_runs_fills_the_rollups_from_them(empty_engine: Engine) -> None:
    assert migrate(empty_engine, to="0007") == "0007"
    now = utc_now()
    old_runs = [run_row_0007(report) for report in reports(400, now, seed=11, hours=24 * 5)]
    insert_rows(empty_engine, "smartcron_runs", old_runs)
    insert_rows(empty_engine, "smartcron_jobs", job_rows_0007(old_runs))
    assert migrate(empty_engine) == head_revision()
    runs = stored_runs(empty_engine)
    assert len(runs) == 400
    assert {run["status"] for run in runs} == set(STATUSES), "every status, lost and skips too"
    assert any(run["duration_s"] is None for run in runs), "a lost run has no duration"
    # The hourly rollups are filled for the last 48 hours (all that is read), from the
    # start of the hour; the daily one from every run.
    window = rollups.epoch_hour(utc_now() - dt.timedelta(hours=rollups.KEEP_HOURS))
    assert_rollups_match(empty_engine, runs, from_hour=window + 1)
    hourly = stored(empty_engine, tables.run_hourly, 3)
    assert min(key[2] for key in hourly) >= window, "hours before the window were filled"
    assert min(run["started_at"] for run in runs) < dt.datetime.fromtimestamp(
        window * 3600, dt.timezone.utc
    ).replace(tzinfo=None), "some runs are older than the window"
    filled = hourly
    assert migrate(empty_engine) == head_revision()
    assert stored(empty_engine, tables.run_hourly, 3) == filled, "a second migrate re-counted"
    # Today's ingest on the migrated database: the jobs of 0007 take new runs, and the
    # triggers count them on top of what the migration filled.
    # (Ending two hours ago: an hour-long run started a minute ago would end in the future,
    # and ingest refuses a report from the future.)
    ingest(empty_engine, reports(60, utc_now() - dt.timedelta(hours=2), seed=12))
    assert len(stored_runs(empty_engine)) == 460
    assert_rollups_match(empty_engine, stored_runs(empty_engine), from_hour=window + 1)
    keys = sorted({(run["job"], run["host"]) for run in runs})
    later = utc_now()
    assert rollups.job_day_counts(empty_engine, keys, later) == last_day_counts(
        stored_runs(empty_engine), later
    )


def test_pruning_deletes_only_the_hours_past_keeping(engine: Engine) -> None:
    now = utc_now()
    ingest(engine, reports(300, now, seed=13, hours=24 * 4))
    runs = stored_runs(engine)
    keys = sorted({(run["job"], run["host"]) for run in runs})
    before = rollups.job_day_counts(engine, keys, now), rollups.fleet_day_counts(engine, now)
    assert min(k[2] for k in stored(engine, tables.run_hourly, 3)) < rollups.epoch_hour(now) - 48
    assert rollups.prune_hourly(engine, now) > 0
    oldest = rollups.epoch_hour(now) - rollups.KEEP_HOURS
    assert min(k[2] for k in stored(engine, tables.run_hourly, 3)) == oldest
    assert min(k[0] for k in stored(engine, tables.host_hourly, 2)) == oldest
    assert_rollups_match(engine, runs, from_hour=oldest)
    assert (rollups.job_day_counts(engine, keys, now), rollups.fleet_day_counts(engine, now)) == (
        before
    )
    assert rollups.prune_hourly(engine, now) == 0


def test_pruning_deletes_the_failures_past_keeping(engine: Engine) -> None:
    """smartcron_recent_failures keeps KEEP_HOURS of failed runs, of which the view
    shows 24; older ones go, and the view's rows stay."""
    now = utc_now()
    ingest(engine, reports(300, now, seed=14, hours=24 * 4))
    failures = tables.recent_failures
    with engine.connect() as connection:
        before = connection.execute(select(failures.c.run_id, failures.c.started_at)).all()
        shown = connection.execute(text("SELECT run_id FROM smartcron_v_recent_failures")).all()
    oldest = now - dt.timedelta(hours=rollups.KEEP_HOURS)
    assert min(started for _, started in before) < oldest, "the reports span four days"
    assert shown, "some failed in the last day"
    assert rollups.prune_hourly(engine, now) > 0
    with engine.connect() as connection:
        after = connection.execute(select(failures.c.run_id, failures.c.started_at)).all()
        still = connection.execute(text("SELECT run_id FROM smartcron_v_recent_failures")).all()
    assert sorted(after) == sorted(row for row in before if row[1] >= oldest)
    assert sorted(still) == sorted(shown)
