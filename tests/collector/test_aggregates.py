"""The aggregates that ingest writes per batch (collector/aggregates.py), on SQLite and
MariaDB: after any batches (replays, lost runs, skips, failures, several hosts, jobs,
hours and days, durations on the histogram's edges), every aggregate table equals the
GROUP BY over smartcron_runs that the triggers of revisions 0009, 0014 and 0016 would
have produced (and smartcron_run_totals what revision 0020's fill produces, to the
microsecond); two batches at once on the same keys neither deadlock nor lose a count.

The oracle is SQL over the stored runs with the triggers' expressions, per dialect."""

from __future__ import annotations

import datetime as dt
import decimal
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smartcron.collector.aggregates import at_most
from smartcron.collector.db import tables
from smartcron.collector.db.engine import is_mysql
from smartcron.collector.db.migrations.duration_buckets import EDGES, fragments
from smartcron.collector.db.retry import is_deadlock
from smartcron.collector.db.scripts import migration_sql, split_statements
from smartcron.collector.ingest import ingest_reports
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, event

from tests.support.service import make_report

SKIPS = "('skipped_locked', 'skipped_breaker', 'skipped_paused')"
FAILS = "('failed', 'timeout', 'killed_memory', 'error', 'lost')"
OUTCOMES = (
    f"SUM(status NOT IN {SKIPS}), SUM(status = 'success'), SUM(status IN {FAILS}),"
    f" SUM(status IN {SKIPS})"
)
HOUR = {
    "mysql": "TIMESTAMPDIFF(HOUR, '1970-01-01 00:00:00', started_at)",
    "sqlite": "CAST(strftime('%s', substr(started_at, 1, 13) || ':00:00') AS INTEGER) / 3600",
}
RIGHT_300 = {"mysql": "RIGHT(o.stderr_tail, 300)", "sqlite": "substr(o.stderr_tail, -300)"}
# A duration in whole microseconds, floor(d * 10^6 + 0.5), with each backend's own floor
# (SQLite's CAST truncates; durations are not negative).
MICROSECONDS = {
    "mysql": "CAST(FLOOR(d * 1000000 + 0.5e0) AS SIGNED)",
    "sqlite": "CAST(d * 1000000 + 0.5 AS INTEGER)",
}
# Midnight on a day in the past (ingest refuses reports from the future).
BASE = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)


def oracle(dialect: str) -> dict[str, tuple[str, str]]:
    """Per table: the GROUP BY over the runs, and the query of the table, column for
    column, each in the key's order."""
    hour = HOUR[dialect]
    count_runs = fragments(dialect)["count_runs"]
    real = f"status NOT IN {SKIPS}"
    within = ", ".join(
        f"SUM(CASE WHEN d <= {bound} THEN 1 ELSE 0 END)" for bound in tables.TOTAL_BUCKETS
    )
    return {
        "smartcron_run_hourly": (
            f"SELECT job, host, {hour} AS h, {OUTCOMES} FROM smartcron_runs"
            " GROUP BY job, host, h ORDER BY job, host, h",
            "SELECT job, host, epoch_hour, runs, successes, failures, skips"
            " FROM smartcron_run_hourly ORDER BY job, host, epoch_hour",
        ),
        "smartcron_host_hourly": (
            f"SELECT {hour} AS h, host, {OUTCOMES} FROM smartcron_runs"
            " GROUP BY h, host ORDER BY h, host",
            "SELECT epoch_hour, host, runs, successes, failures, skips"
            " FROM smartcron_host_hourly ORDER BY epoch_hour, host",
        ),
        "smartcron_run_daily": (
            f"SELECT DATE(started_at) AS d, job, host, {OUTCOMES},"
            f" SUM({real} AND duration_s IS NOT NULL),"
            f" COALESCE(SUM(CASE WHEN {real} THEN duration_s END), 0),"
            f" MAX(CASE WHEN {real} THEN duration_s END), MAX(peak_rss_bytes)"
            " FROM smartcron_runs GROUP BY d, job, host ORDER BY d, job, host",
            "SELECT day, job, host, runs, successes, failures, skips, timed, duration_sum,"
            " duration_max, rss_max FROM smartcron_run_daily ORDER BY day, job, host",
        ),
        "smartcron_perf_daily": (
            "SELECT job, host, DATE(started_at) AS d, COUNT(*), SUM(status = 'success'),"
            " COUNT(duration_s), COALESCE(SUM(duration_s), 0), MIN(duration_s),"
            " MAX(duration_s), COALESCE(SUM(peak_rss_bytes), 0), COUNT(peak_rss_bytes),"
            f" MAX(peak_rss_bytes), {count_runs} FROM smartcron_runs WHERE {real}"
            " GROUP BY job, host, d ORDER BY job, host, d",
            "SELECT * FROM smartcron_perf_daily ORDER BY job, host, day",
        ),
        "smartcron_recent_failures": (
            "SELECT r.started_at, r.run_id, r.job, r.host, r.status, r.exit_code,"
            " r.signal_number, r.duration_s, r.attempt_count,"
            f" {RIGHT_300[dialect]} FROM smartcron_runs r"
            " LEFT JOIN smartcron_run_output o ON o.run_id = r.run_id"
            f" WHERE r.status IN {FAILS} ORDER BY r.started_at, r.run_id",
            "SELECT started_at, run_id, job, host, status, exit_code, signal_number,"
            " duration_s, attempt_count, stderr_end FROM smartcron_recent_failures"
            " ORDER BY started_at, run_id",
        ),
        # d: the duration that counts, none for a skip (which ran nothing) or a lost run.
        "smartcron_run_totals": (
            f"SELECT job, host, status, COUNT(*), COUNT(d),"
            f" COALESCE(SUM({MICROSECONDS[dialect]}), 0), {within}"
            f" FROM (SELECT job, host, status, CASE WHEN {real} THEN duration_s END AS d"
            " FROM smartcron_runs) AS r GROUP BY job, host, status ORDER BY job, host, status",
            "SELECT * FROM smartcron_run_totals ORDER BY job, host, status",
        ),
    }


def plain(value: Any, approximate: bool = False) -> Any:
    """One value as both backends can be compared on: numbers as int or approximate
    float (sums in another order differ in the last bits), days and times as text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and approximate:
        return pytest.approx(value, rel=1e-9, abs=1e-9)
    if isinstance(value, dt.datetime):
        return value.isoformat(" ", "microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def rows(engine: Engine, query: str, approximate: bool = False) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        result = connection.exec_driver_sql(query, execution_options={"no_parameters": True})
        return [tuple(plain(value, approximate) for value in row) for row in result]


def assert_aggregates_equal_the_runs(engine: Engine) -> None:
    dialect = "mysql" if is_mysql(engine) else "sqlite"
    for table, (expected, stored) in oracle(dialect).items():
        # Sums of floats in another order differ in the last bits: the oracle's approximate.
        assert rows(engine, stored) == rows(engine, expected, approximate=True), table


def assert_the_totals_fill_agrees(engine: Engine) -> None:
    """Revision 0020's fill, run again over the same runs, leaves smartcron_run_totals as
    ingest wrote it: the same integers, the microseconds of every duration included."""
    dialect = "mysql" if is_mysql(engine) else "sqlite"
    _, stored = oracle(dialect)["smartcron_run_totals"]
    written = rows(engine, stored)
    with engine.begin() as connection:
        for statement in split_statements(migration_sql("0020_run_totals.sql", dialect)):
            if not statement.upper().startswith("ANALYZE"):
                connection.exec_driver_sql(statement)
    assert rows(engine, stored) == written


# ---------------------------------------------------------------- random batches

STATUSES = ["success", "success", "failed", "timeout", "killed_memory", "error", "lost",
            "skipped_locked", "skipped_breaker", "skipped_paused"]  # fmt: skip
# On the histograms' edges and either side of them, whole microseconds and a half (ties
# for the totals' rounding, which round to even would break the other way), and ordinary
# ones.
DURATIONS = st.one_of(
    st.sampled_from(
        [
            EDGES[0],
            EDGES[24],
            EDGES[40],
            EDGES[40] * (1 + 1e-15),
            0.0,
            60.0,
            1.0,
            5.0 * (1 + 1e-15),
            43200.0,
            2.5e-6,
            5e-7,
            12.0000005,
        ]
    ),
    st.floats(min_value=0.0, max_value=100_000.0, allow_nan=False),
)
# No NUL: the oracle's substr() on SQLite ends a text at its first NUL, ingest's slice
# of the stderr does not (a NUL is stored and read back whole: test_ingest_store.py).
# No lone surrogate either: it is not UTF-8, and a report refuses it.
STDERR = st.one_of(
    st.just(""),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20),
    st.text(alphabet="aé€\n", min_size=290, max_size=320),
)


@st.composite
def report(draw: st.DrawFn) -> dict[str, Any]:
    # Four days around midnights and hour ends, a few jobs on two hosts.
    started = BASE + dt.timedelta(
        hours=draw(st.integers(0, 95)),
        seconds=draw(st.sampled_from([0, 1, 1799, 3599])),
        microseconds=draw(st.sampled_from([0, 999_999])),
    )
    return make_report(
        draw(st.sampled_from(["backup", "sync", "tidy"])),
        host=draw(st.sampled_from(["web1", "web2"])),
        status=draw(st.sampled_from(STATUSES)),
        started=started,
        duration_s=draw(DURATIONS),
        peak_rss_bytes=draw(st.one_of(st.none(), st.integers(0, 2**40))),
        stderr=draw(STDERR),
    )


@st.composite
def batches(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Batches of new reports, each with replays of earlier ones (and of its own)."""
    made: list[list[dict[str, Any]]] = []
    seen: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 4))):
        batch = draw(st.lists(report(), max_size=12))
        seen.extend(batch)
        if seen:
            batch += draw(st.lists(st.sampled_from(seen), max_size=4))
        made.append(batch)
    return made


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])  # fmt: skip
@given(sent=batches())
def test_the_aggregates_are_the_group_by_over_the_runs(
    engine: Engine, clear_tables: Callable[[Engine], None], sent: list[list[dict[str, Any]]]
) -> None:
    clear_tables(engine)
    for batch in sent:
        ingest_reports(engine, [RunReport.model_validate(r) for r in batch])
    assert_aggregates_equal_the_runs(engine)
    assert_the_totals_fill_agrees(engine)


# ---------------------------------------------------------------- concurrency


def test_two_batches_at_once_on_the_same_keys_lose_nothing(
    mysql_engine: Engine, clear_tables: Callable[[Engine], None]
) -> None:
    # Both batches add to the same hourly, daily and performance rows, new and old ones
    # (the first round creates them), in one order: neither waits for a lock the other
    # waits for, so neither is picked as a deadlock victim (ingest would retry one, and
    # RETRIES exhausted would fail it).
    clear_tables(mysql_engine)
    started = BASE + dt.timedelta(hours=10)
    jobs = [("backup", "web1"), ("sync", "web1"), ("backup", "web2"), ("tidy", "web2")]

    def batch(n: int) -> list[RunReport]:
        return [
            RunReport.model_validate(
                make_report(
                    job,
                    host=host,
                    status=STATUSES[(n + i) % len(STATUSES)],
                    started=started + dt.timedelta(minutes=(n + i) % 50),
                    duration_s=1.0 + i,
                    stderr="boom",
                )
            )
            for i, (job, host) in enumerate(jobs * 10)
        ]

    errors: list[BaseException] = []
    deadlocks: list[BaseException] = []

    def note_deadlock(context: Any) -> None:
        if is_deadlock(context.original_exception):
            deadlocks.append(context.original_exception)

    event.listen(mysql_engine, "handle_error", note_deadlock)
    try:
        for round_ in range(5):
            send_together(mysql_engine, batch(2 * round_), batch(2 * round_ + 1), errors)
    finally:
        event.remove(mysql_engine, "handle_error", note_deadlock)
    assert (errors, deadlocks) == ([], [])
    [[runs]] = rows(mysql_engine, "SELECT COUNT(*) FROM smartcron_runs")
    assert runs == 5 * 2 * 40
    assert_aggregates_equal_the_runs(mysql_engine)


def send_together(
    engine: Engine, first: list[RunReport], second: list[RunReport], errors: list[BaseException]
) -> None:
    """Ingest both batches at once, on two threads; what either raised goes to `errors`."""
    barrier = threading.Barrier(2)

    def send(reports: list[RunReport]) -> None:
        barrier.wait()
        try:
            ingest_reports(engine, reports)
        except BaseException as error:  # noqa: BLE001 - the assertion names it
            errors.append(error)

    threads = [threading.Thread(target=send, args=(batch,)) for batch in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


@given(st.lists(st.floats(min_value=0, max_value=1e6) | st.sampled_from(EDGES), max_size=30))
def test_at_most_counts_the_values_at_or_under_each_edge(durations: list[float]) -> None:
    """The histogram's cumulative counts, a bound's own value included in its count."""
    expected = tuple(sum(duration <= edge for duration in durations) for edge in EDGES)
    assert at_most(durations, EDGES) == expected
