"""bench/page.py's loader on MySQL: the aggregate tables it fills from the runs after a
load (bench/aggregates.py, the migrations' backfills) hold what ingest leaves in them
for the same runs; setting the triggers and keys aside leaves the schema as it was; the
runs made inside the server (bench/page_runs.py) are every due run, each with its
output row."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from smartcron.collector.ingest import ingest_reports
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine

from bench.aggregates import fill_aggregates, keys_set_aside, triggers_set_aside
from bench.page_runs import Plan, due, insert_runs
from tests.support.service import make_report

# Revision 0017 dropped smartcron_run_rollup: the loader skips its backfill.
AGGREGATES = ("smartcron_run_hourly", "smartcron_host_hourly", "smartcron_run_daily",
              "smartcron_perf_daily", "smartcron_recent_failures",
              "smartcron_run_totals")  # fmt: skip
STATUSES = ["success"] * 12 + ["failed", "timeout", "killed_memory", "error", "lost",
                               "skipped_locked", "skipped_paused"]  # fmt: skip


@pytest.fixture
def mysql(
    mysql_engine: Engine, clear_tables: Callable[[Engine], None]
) -> Iterator[tuple[Engine, Any, Any]]:
    """The session's MySQL database emptied, with a raw pymysql connection and cursor
    (what the bench talks through)."""
    clear_tables(mysql_engine)
    raw = mysql_engine.raw_connection()
    try:
        yield mysql_engine, raw, raw.cursor()
    finally:
        raw.close()
        clear_tables(mysql_engine)


def snapshot(cursor: Any) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    for table in AGGREGATES:
        cursor.execute(f"SELECT * FROM {table}")
        # A sum of DOUBLEs depends on the order of its terms (44.279 against
        # 44.278999999999996): the trigger's is the order of ingest, GROUP BY's another.
        rows = [tuple(round(v, 6) if isinstance(v, float) else v for v in row)
                for row in cursor.fetchall()]  # fmt: skip
        found[table] = sorted(rows, key=repr)
    return found


def schema(cursor: Any) -> list[str]:
    shown = []
    for table in ("smartcron_runs", "smartcron_run_output"):
        cursor.execute(f"SHOW CREATE TABLE {table}")
        shown.append(cursor.fetchone()[1])
    cursor.execute("SELECT trigger_name, action_statement FROM information_schema.triggers"
                   " WHERE event_object_schema = DATABASE() ORDER BY trigger_name")  # fmt: skip
    return shown + [repr(row) for row in cursor.fetchall()]


def test_the_filled_aggregates_are_what_ingest_leaves(mysql: tuple[Engine, Any, Any]) -> None:
    engine, raw, cursor = mysql
    rng = random.Random(8)
    now = dt.datetime.now(dt.timezone.utc)
    # Within the last 40 hours: every backfill's window (48 h, 30 days) holds them all.
    reports = [
        RunReport.model_validate(
            make_report(
                f"job{rng.randrange(40)}",
                host=f"web{rng.randrange(5)}",
                status=rng.choice(STATUSES),
                started=now - dt.timedelta(seconds=rng.randrange(60, 144_000)),
                duration_s=round(rng.lognormvariate(1.5, 1.5), 3),
                peak_rss_bytes=rng.choice([None, 2**20 * rng.randrange(1, 900)]),
                stderr=rng.choice(["", "upstream answered 503\n"]),
            )
        )
        for _ in range(5000)
    ]
    for start in range(0, len(reports), 500):
        ingest_reports(engine, reports[start : start + 500])
    raw.commit()
    ingested = snapshot(cursor)
    assert sum(len(rows) for rows in ingested.values()) > 1000
    assert set(fill_aggregates(cursor)) <= {"smartcron_run_rollup"}
    raw.commit()
    assert snapshot(cursor) == ingested


def test_setting_aside_leaves_the_schema_as_it_was(mysql: tuple[Engine, Any, Any]) -> None:
    _engine, _raw, cursor = mysql
    before = schema(cursor)
    with (
        triggers_set_aside(cursor, "smartcron_runs") as triggers,
        keys_set_aside(cursor, "smartcron_runs") as run_keys,
        keys_set_aside(cursor, "smartcron_run_output", primary=True) as output_keys,
    ):
        assert len(run_keys) >= 4 and output_keys and output_keys[0].startswith("PRIMARY KEY")
        cursor.execute("SHOW CREATE TABLE smartcron_runs")
        assert " KEY " not in cursor.fetchone()[1].replace("PRIMARY KEY", "")
        assert schema(cursor) != before
    assert schema(cursor) == before
    assert triggers == [], "since 0017 ingest writes the aggregates: no trigger to set aside"


def test_the_server_makes_every_due_run_with_its_output(mysql: tuple[Engine, Any, Any]) -> None:
    _engine, raw, cursor = mysql
    now = dt.datetime(2030, 6, 10, 8, 3, 0)
    base = dt.datetime(2030, 6, 9)
    plans = [
        Plan("sync_a", "web1", "*/5 * * * *", 5, 5, 0, 1923, 2.0, 2**25, 0.3),
        Plan("report_b", "web2", "7 * * * *", 3, 60, 7, 1923, 20.0, 2**27, 0.0),
        Plan("late_c", "web1", "*/15 * * * *", 5, 15, 0, 600, 1.0, 2**24, 0.1),
    ]
    made = insert_runs(raw, plans, base, 120, now, seed=3)
    expected = sum(due(plan, 120, 1923) for plan in plans)
    assert made == expected
    cursor.execute("SELECT job, COUNT(*), MIN(started_at), MAX(started_at) FROM smartcron_runs"
                   " GROUP BY job ORDER BY job")  # fmt: skip
    by_job = {job: (count, first, last) for job, count, first, last in cursor.fetchall()}
    assert by_job["late_c"][2] < base + dt.timedelta(minutes=600)
    assert by_job["sync_a"][1] >= base + dt.timedelta(minutes=120)
    assert by_job["sync_a"][0] == due(plans[0], 120, 1923)
    cursor.execute("SELECT COUNT(*) FROM smartcron_runs r JOIN smartcron_run_output o"
                   " ON o.run_id = r.run_id")  # fmt: skip
    assert cursor.fetchone()[0] == made
    cursor.execute("SELECT status, COUNT(*), COUNT(duration_s) FROM smartcron_runs"
                   " GROUP BY status")  # fmt: skip
    statuses = {status: (count, timed) for status, count, timed in cursor.fetchall()}
    assert statuses["success"][0] > made / 2
    assert statuses.get("lost", (0, 0))[1] == 0, "a lost run has no duration, as ingest stores it"
