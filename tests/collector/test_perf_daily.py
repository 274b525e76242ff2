"""smartcron_perf_daily (revision 0014), on SQLite and MySQL: the rows migrate fills from
the runs a database already holds and the rows ingest adds give
smartcron_v_job_performance the figures the runs themselves give, every one exact but
the p95, which is the midpoint of the exact p95's bucket held between the shortest and
the longest run (collector/db/migrations/duration_buckets.py); the evaluation pass
deletes only the days past keeping.

The oracle is the runs as stored, counted here in Python."""

from __future__ import annotations

import datetime as dt
import math
import random
from fractions import Fraction
from typing import Any

import pytest
from smartcron.collector import rollups
from smartcron.collector.db import tables
from smartcron.collector.db.migrate import head_revision, migrate
from smartcron.collector.db.migrations.duration_buckets import EDGES, midpoint
from smartcron.collector.db.migrations.versions.v0014_per_job_views import down_revision
from smartcron.collector.ingest import ingest_reports
from smartcron.wrapper.schema import SKIPPED_STATUSES, RunReport
from sqlalchemy import Engine, func, select, text

from tests.support.collector_api import insert_runs_before_0017, stored_runs
from tests.support.service import make_report

STATUSES = ["success"] * 6 + ["failed", "timeout", "lost", "skipped_locked", "skipped_paused"]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def ingest_spread(
    engine: Engine, count: int, seed: int, days: int = 35, *, old_revision: bool = False
) -> None:
    """Runs of a few jobs on two hosts over the last `days` days, every kind of status,
    durations over six orders of magnitude, memory now and then; with `old_revision`,
    into a database before 0014, as the collector of then stored them."""
    rng = random.Random(seed)
    now = utc_now()
    reports = []
    for _ in range(count):
        started = now - dt.timedelta(seconds=rng.randrange(120, days * 86400))
        if abs(started - now.replace(hour=0, minute=0, second=0, microsecond=0)
               + dt.timedelta(days=29)) < dt.timedelta(hours=1):  # fmt: skip
            started -= dt.timedelta(hours=2)  # away from the window's first midnight
        reports.append(make_report(
            f"job{rng.randrange(4)}", host=f"web{rng.randrange(2)}",
            status=rng.choice(STATUSES), started=started.replace(tzinfo=dt.timezone.utc),
            duration_s=round(rng.lognormvariate(2.0, 2.5), 4),
            peak_rss_bytes=rng.choice([None, 3 * 2**20, 2**33 + 7]),
        ))  # fmt: skip
    validated = [RunReport.model_validate(report) for report in reports]
    if old_revision:
        insert_runs_before_0017(engine, validated)
    else:
        ingest_reports(engine, validated)


def shown_p95(durations: list[float]) -> float:
    """What the view shows for the exact nearest-rank p95 of `durations`."""
    ordered = sorted(durations)
    exact = ordered[math.ceil(0.95 * len(ordered)) - 1]
    bucket = next((k for k, edge in enumerate(EDGES) if exact <= edge), None)
    shown = ordered[-1] if bucket is None else midpoint(bucket)
    return min(max(shown, ordered[0]), ordered[-1])


def expected(runs: list[dict[str, Any]], today: dt.date) -> dict[tuple[str, str], dict[str, Any]]:
    first = today - dt.timedelta(days=29)
    by_job: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        if run["status"] not in SKIPPED_STATUSES and run["started_at"].date() >= first:
            by_job.setdefault((run["job"], run["host"]), []).append(run)
    found = {}
    for key, job_runs in by_job.items():
        timed = [run["duration_s"] for run in job_runs if run["duration_s"] is not None]
        memory = [run["peak_rss_bytes"] for run in job_runs if run["peak_rss_bytes"] is not None]
        successes = sum(run["status"] == "success" for run in job_runs)
        # ROUND(x) of a DECIMAL: half up.
        mean = Fraction(sum(memory), len(memory)) if memory else None
        half_up = None if mean is None else math.floor(mean + Fraction(1, 2))
        found[key] = {
            "runs": len(job_runs),
            "successes": successes,
            "success_rate_pct": round(100 * successes / len(job_runs), 1),
            "avg_duration_s": round(sum(timed) / len(timed), 3) if timed else None,
            "p95_duration_s": round(shown_p95(timed), 3) if timed else None,
            "max_duration_s": round(max(timed), 3) if timed else None,
            "avg_peak_rss_bytes": half_up,
            "max_peak_rss_bytes": max(memory) if memory else None,
        }
    return found


def performance(engine: Engine) -> dict[tuple[str, str], dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM smartcron_v_job_performance")).mappings()
        found = {}
        for row in rows:
            values = {key: None if value is None else float(value)
                      for key, value in row.items() if key not in ("job", "host")}  # fmt: skip
            found[(row["job"], row["host"])] = values
    return found


def assert_view_matches_runs(engine: Engine) -> None:
    today = utc_now().date()
    want = expected(stored_runs(engine), today)
    got = performance(engine)
    assert sorted(got) == sorted(want)
    for key, row in want.items():
        for column, value in row.items():
            # Sums in another order may differ in the last bit, then in the third decimal.
            assert got[key][column] == pytest.approx(value, abs=0.0011), (key, column)


def perf_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(tables.perf_daily).order_by("job", "host", "day")))


def test_migrate_fills_from_the_runs_and_ingest_adds_to_it(empty_engine: Engine) -> None:
    # The revision before 0014 has no smartcron_perf_daily: runs as stored then.
    assert migrate(empty_engine, to=down_revision) == down_revision
    ingest_spread(empty_engine, 600, seed=21, old_revision=True)
    assert migrate(empty_engine) == head_revision()
    assert_view_matches_runs(empty_engine)
    filled = perf_rows(empty_engine)
    oldest = min(row.day for row in filled)
    oldest = oldest if isinstance(oldest, dt.date) else dt.date.fromisoformat(oldest)
    assert oldest >= utc_now().date() - dt.timedelta(days=rollups.KEEP_PERF_DAYS - 1)
    assert migrate(empty_engine) == head_revision()
    assert perf_rows(empty_engine) == filled, "a second migrate re-counted"
    ingest_spread(empty_engine, 300, seed=22)
    assert_view_matches_runs(empty_engine)


def test_pruning_deletes_only_the_days_past_keeping(engine: Engine) -> None:
    ingest_spread(engine, 400, seed=23, days=45)
    before = performance(engine)
    now = utc_now()
    oldest = now.date() - dt.timedelta(days=rollups.KEEP_PERF_DAYS - 1)
    day = tables.perf_daily.c.day
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).where(day < oldest)).scalar_one() > 0
    assert rollups.prune_hourly(engine, now) > 0
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).where(day < oldest)).scalar_one() == 0
        assert connection.execute(select(func.count()).where(day == oldest)).scalar_one() > 0
    assert performance(engine) == before
    assert rollups.prune_hourly(engine, now) == 0
