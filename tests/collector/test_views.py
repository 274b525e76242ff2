"""The reporting views return the right numbers for a known set of runs, on both backends.

Rows go straight into the tables with SQLAlchemy Core; times are naive UTC relative to
the test's start, kept minutes to hours away from each view's window edges so that the
few seconds a test takes never move a row across one.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import random
import statistics
import uuid
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
from smartcron.collector.db import tables
from smartcron.collector.db.migrations.duration_buckets import EDGES, RELATIVE_ERROR
from smartcron.collector.ingest import ingest_reports
from smartcron.collector.state import shown, slot_after
from smartcron.collector.state_store import refresh_states
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, text

from tests.support.collector_api import insert_run_rows
from tests.support.service import make_report

MiB = 2**20
# What the wrapper reports by default for each status (killed_memory and lost: none).
EXIT_CODES = {"success": 0, "failed": 1, "timeout": 124, "error": 127}
EXIT_CODES.update(dict.fromkeys(("skipped_locked", "skipped_breaker", "skipped_paused"), 0))


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def stamp(moment: dt.datetime) -> str:
    """A time as both backends print it in the views' text: microseconds always shown."""
    return f"{moment:%Y-%m-%d %H:%M:%S.%f}"


def plain(value: Any) -> Any:
    """One spelling for both drivers: MySQL hands back Decimal, date and datetime where
    SQLite hands back int/float and text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (decimal.Decimal, int, float)):
        return float(value)
    if isinstance(value, dt.datetime):
        return stamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def view(engine: Engine, name: str, order_by: str = "") -> list[dict[str, Any]]:
    query = f"SELECT * FROM {name}" + (f" ORDER BY {order_by}" if order_by else "")
    with engine.connect() as connection:
        rows = connection.execute(text(query)).mappings().all()
    return [{key: plain(value) for key, value in row.items()} for row in rows]


def run_row(
    job: str,
    status: str,
    started_at: dt.datetime,
    duration_s: float | None,
    *,
    host: str = "web1",
    peak_rss_bytes: int | None = None,
    exit_code: int | None = None,
    output_bytes: int = 0,
    attempts: int = 1,
) -> dict[str, Any]:
    """A smartcron_runs row as ingest would store it."""
    return {
        "run_id": str(uuid.uuid4()),
        "job": job,
        "host": host,
        "run_user": "root",
        "command": f"/usr/local/bin/{job}",
        "schedule": "*/5 * * * *",
        "priority": 5,
        "tags": "[]",
        "run_trigger": "cron",
        "status": status,
        "exit_code": EXIT_CODES.get(status) if exit_code is None else exit_code,
        "signal_number": 9 if status == "killed_memory" else None,
        "started_at": started_at,
        # None for a lost run: its end is unknown.
        "finished_at": None
        if duration_s is None
        else started_at + dt.timedelta(seconds=duration_s),
        "duration_s": duration_s,
        "attempt_count": 0 if status.startswith("skipped") else attempts,
        "peak_rss_bytes": peak_rss_bytes,
        "cpu_user_s": None,
        "cpu_system_s": None,
        "output_bytes": output_bytes,
        "output_truncated": False,
        "breaker_state": "closed",
        "wrapper_version": "0.1.0",
        "received_at": started_at + dt.timedelta(seconds=(duration_s or 0) + 1),
    }


def add_run(
    engine: Engine,
    job: str,
    status: str,
    started_at: dt.datetime,
    duration_s: float | None,
    *,
    host: str = "web1",
    peak_rss_bytes: int | None = None,
    exit_code: int | None = None,
    stderr: str | None = "",
    attempts: int = 1,
) -> str:
    """One run (and, unless stderr is None, its output row), as ingest stores it;
    returns its run_id."""
    row = run_row(
        job,
        status,
        started_at,
        duration_s,
        host=host,
        peak_rss_bytes=peak_rss_bytes,
        exit_code=exit_code,
        output_bytes=len(stderr or ""),
        attempts=attempts,
    )
    outputs = [] if stderr is None else [
        {"run_id": row["run_id"], "attempts": "[]", "stdout_tail": "", "stderr_tail": stderr}
    ]  # fmt: skip
    with engine.begin() as connection:
        insert_run_rows(connection, [row], outputs)
    return str(row["run_id"])


def add_runs(
    engine: Engine, job: str, runs: list[tuple[str, dt.datetime, float, int | None]]
) -> None:
    """Many runs of one job on web1 in one statement: (status, started_at, duration_s, rss)."""
    rows = [run_row(job, *run[:3], peak_rss_bytes=run[3]) for run in runs]
    with engine.begin() as connection:
        insert_run_rows(connection, rows)


def add_job(engine: Engine, job: str, now: dt.datetime, **state: Any) -> dict[str, Any]:
    """A smartcron_jobs row: a */15 job whose last run, 5 min ago, succeeded. Its state
    columns are state.py's to fill (refresh() below), as ingest does."""
    row: dict[str, Any] = {
        "job": job,
        "host": "web1",
        "schedule": "*/15 * * * *",
        "priority": 5,
        "command": f"/usr/local/bin/{job}",
        "first_seen_at": now - dt.timedelta(days=7),
        "last_run_id": str(uuid.uuid4()),
        "last_status": "success",
        "last_started_at": now - dt.timedelta(minutes=5, microseconds=-123456),
        "last_finished_at": now - dt.timedelta(minutes=4),
        "last_success_at": now - dt.timedelta(minutes=4),
        "last_duration_s": 60.0,
        "breaker_state": "closed",
        "paused": False,
        "paused_at": None,
        "paused_by": None,
        **state,
    }
    with engine.begin() as connection:
        connection.execute(tables.jobs.insert().values(**row))
    return row


# ---------------------------------------------------------------- smartcron_v_job_performance


def round_half_up(value: Fraction) -> int:
    """ROUND(x) as both backends do it (Python's round() goes to the even neighbour)."""
    return math.floor(value + Fraction(1, 2))


def nearest_rank_p95(durations: list[float]) -> float:
    """The exact figure the view approximates: the duration at position ceil(0.95 n)."""
    ordered = sorted(durations)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def test_job_performance(engine: Engine) -> None:
    now = utc_now()
    failed = {3: "failed", 10: "timeout", 20: "killed_memory"}
    for duration in range(1, 21):  # durations 1..20 s over the last 27 days
        started = now - dt.timedelta(hours=32 * duration)
        status = failed.get(duration, "success")
        add_run(engine, "nightly_backup", status, started, duration, peak_rss_bytes=duration * MiB)
    # Not runs of the job: skipped ones (the lock wait is their duration) ...
    add_run(engine, "nightly_backup", "skipped_locked", now - dt.timedelta(hours=2), 300.0)
    add_run(engine, "nightly_backup", "skipped_paused", now - dt.timedelta(hours=3), 0.0)
    # ... and one from before the 30-day window.
    add_run(
        engine,
        "nightly_backup",
        "success",
        now - dt.timedelta(days=31),
        1000.0,
        peak_rss_bytes=4096 * MiB,
    )
    # The same job on another host is a row of its own.
    for duration, status in ((5, "success"), (7, "failed"), (6, "success")):
        started = now - dt.timedelta(hours=duration)
        add_run(engine, "nightly_backup", status, started, duration, host="web2")
    # A job that only ever got skipped has no performance to report.
    add_run(engine, "log_rotate", "skipped_locked", now - dt.timedelta(hours=1), 0.0)

    rows = view(engine, "smartcron_v_job_performance", "job, host")

    # The p95 is a bucket's midpoint (below); web2's, its longest run, is held there.
    assert rows[0].pop("p95_duration_s") == pytest.approx(19.0, rel=RELATIVE_ERROR)
    assert rows == [
        {
            "job": "nightly_backup",
            "host": "web1",
            "runs": 20,
            "successes": 17,
            "success_rate_pct": 85.0,
            "avg_duration_s": 10.5,
            "max_duration_s": 20.0,
            "avg_peak_rss_bytes": 10.5 * MiB,
            "max_peak_rss_bytes": 20 * MiB,
        },
        {
            "job": "nightly_backup",
            "host": "web2",
            "runs": 3,
            "successes": 2,
            "success_rate_pct": 66.7,
            "avg_duration_s": 6.0,
            "p95_duration_s": 7.0,
            "max_duration_s": 7.0,
            "avg_peak_rss_bytes": None,
            "max_peak_rss_bytes": None,
        },
    ]


def test_job_performance_leaves_lost_runs_out_of_durations(engine: Engine) -> None:
    # A lost run has no duration (its end is unknown): it counts as a run and a failure,
    # and in no duration figure. A daily job's 24 h until the loss was noticed once did.
    now = utc_now()
    for hours, duration in ((5, 1.0), (4, 2.0), (3, 3.0)):
        add_run(engine, "backup", "success", now - dt.timedelta(hours=hours), duration)
    add_run(engine, "backup", "lost", now - dt.timedelta(hours=2), None)
    add_run(engine, "vanished", "lost", now - dt.timedelta(hours=2), None)

    rows = {row["job"]: row for row in view(engine, "smartcron_v_job_performance")}

    backup = rows["backup"]
    assert (backup["runs"], backup["successes"], backup["success_rate_pct"]) == (4, 3, 75.0)
    assert (backup["avg_duration_s"], backup["p95_duration_s"], backup["max_duration_s"]) == (
        2.0, 3.0, 3.0,
    )  # fmt: skip
    vanished = rows["vanished"]
    assert (vanished["runs"], vanished["successes"]) == (1, 0)
    assert vanished["avg_duration_s"] is vanished["p95_duration_s"] is None
    assert vanished["max_duration_s"] is None


@pytest.mark.parametrize(
    ("count", "p95"),
    [(1, 1.0), (2, 2.0), (19, 19.0), (20, 19.0), (21, 20.0), (100, 95.0), (101, 96.0)],
)
def test_job_performance_p95_is_the_nearest_rank(engine: Engine, count: int, p95: float) -> None:
    now = utc_now()
    for duration in range(count, 0, -1):  # inserted in reverse: the view must sort
        add_run(engine, "sync", "success", now - dt.timedelta(minutes=duration), duration)
    (row,) = view(engine, "smartcron_v_job_performance")
    # Within a bucket's error (and ROUND(, 3)): of 100 runs lasting 1..100 s, 95 s shares
    # a quarter octave (90.5..107.6 s) with 91..94 s. One run: held to its duration.
    assert abs(row["p95_duration_s"] - p95) <= RELATIVE_ERROR * p95 + 0.0005
    assert row["max_duration_s"] == float(count)


def test_job_performance_is_exact_but_for_p95_within_a_bucket(engine: Engine) -> None:
    # A month of a job whose durations spread over two orders of magnitude, with memory
    # missing now and then and every status but the skipped ones.
    rng = random.Random(7)
    now = utc_now()
    statuses = ["success"] * 17 + ["failed", "timeout", "lost"]
    runs = []
    for minute in range(1500):
        status = rng.choice(statuses)
        duration = round(rng.lognormvariate(1.5, 1.0), 6)
        rss = None if status == "lost" else rng.randrange(10 * MiB, 900 * MiB)
        runs.append((status, now - dt.timedelta(minutes=27 * minute + 5), duration, rss))
    add_runs(engine, "etl", runs)
    add_runs(engine, "etl", [("skipped_locked", now - dt.timedelta(hours=1), 500.0, None)])

    (row,) = view(engine, "smartcron_v_job_performance")

    durations = [duration for _status, _started, duration, _rss in runs]
    memory = [rss for _status, _started, _duration, rss in runs if rss is not None]
    successes = sum(status == "success" for status, _started, _duration, _rss in runs)
    exact = {
        "runs": len(runs),
        "successes": successes,
        "success_rate_pct": round(100 * successes / len(runs), 1),
        "avg_duration_s": round(statistics.fmean(durations), 3),
        "max_duration_s": round(max(durations), 3),
        "avg_peak_rss_bytes": float(round_half_up(Fraction(sum(memory), len(memory)))),
        "max_peak_rss_bytes": max(memory),
    }
    assert {key: row[key] for key in exact} == exact
    p95 = nearest_rank_p95(durations)
    # 8.6 %, and ROUND(, 3)
    assert abs(row["p95_duration_s"] - p95) <= RELATIVE_ERROR * p95 + 0.0005
    # The midpoint of the p95's bucket exactly: the bucket is the p95's, not a neighbour's.
    k = next(k for k, edge in enumerate(EDGES) if p95 <= edge)
    assert row["p95_duration_s"] == round(2 * EDGES[k] / (1 + 2 ** (1 / 4)), 3)


def test_job_performance_p95_of_runs_alike_is_their_duration(engine: Engine) -> None:
    # Held between the shortest and the longest run: no bucket's error when all agree.
    now = utc_now()
    add_runs(engine, "same", [("success", now - dt.timedelta(minutes=m), 42.5, None)
                              for m in range(1, 40)])  # fmt: skip
    (row,) = view(engine, "smartcron_v_job_performance")
    assert (row["p95_duration_s"], row["max_duration_s"]) == (42.5, 42.5)


@pytest.mark.parametrize(
    ("durations", "p95"),
    [
        # Past the last bucket (18.2 h): the longest run.
        ([1.0] * 5 + [70_000.0] * 95 + [90_000.0] * 5, 90_000.0),
        # Under the first (1/64 s): at most 1/64 s, and no less than the shortest run.
        ([0.001] * 100 + [0.002] * 3, 0.002),
    ],
)
def test_job_performance_p95_outside_the_buckets(
    engine: Engine, durations: list[float], p95: float
) -> None:
    now = utc_now()
    add_runs(engine, "odd", [("success", now - dt.timedelta(minutes=m + 1), d, None)
                             for m, d in enumerate(durations)])  # fmt: skip
    (row,) = view(engine, "smartcron_v_job_performance")
    assert row["p95_duration_s"] == p95


def test_job_performance_counts_today_and_the_29_days_before(
    engine: Engine, clear_tables: Callable[[Engine], None]
) -> None:
    # Whole UTC days: any time of the oldest day counts, nothing of the day before it.
    for _ in range(2):  # twice only if midnight passed between the rows and the read
        today = utc_now().date()
        first_day = dt.datetime.combine(today - dt.timedelta(days=29), dt.time())
        add_runs(engine, "sync", [
            ("success", first_day + dt.timedelta(seconds=1), 2.0, None),
            ("success", first_day - dt.timedelta(seconds=1), 50.0, None),
        ])  # fmt: skip
        rows = view(engine, "smartcron_v_job_performance")
        if utc_now().date() == today:
            break
        clear_tables(engine)
    assert [(row["runs"], row["max_duration_s"]) for row in rows] == [(1, 2.0)]


# ---------------------------------------------------------------- smartcron_v_daily_trends


def test_daily_trends(engine: Engine) -> None:
    now = utc_now()
    # Noon of the days before yesterday and yesterday: far from any day's edge.
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    day2, day1 = noon - dt.timedelta(days=2), noon - dt.timedelta(days=1)
    for minute, (status, duration, rss) in enumerate(
        [
            ("success", 1.0, 100 * MiB),
            ("success", 2.0, 120 * MiB),
            ("success", 3.0, 110 * MiB),
            ("failed", 10.0, 90 * MiB),
            ("timeout", 20.0, 300 * MiB),
            ("skipped_locked", 0.0, None),
            ("skipped_breaker", 0.0, None),
        ]
    ):
        add_run(
            engine,
            "report_mail",
            status,
            day2 + dt.timedelta(minutes=minute),
            duration,
            peak_rss_bytes=rss,
        )
    add_run(engine, "report_mail", "success", day1, 4.0, peak_rss_bytes=50 * MiB)
    add_run(engine, "report_mail", "error", day1 + dt.timedelta(hours=1), 0.5)
    add_run(engine, "report_mail", "success", noon - dt.timedelta(days=89), 9.0)
    add_run(engine, "report_mail", "success", noon - dt.timedelta(days=91), 99.0)  # too old

    rows = view(engine, "smartcron_v_daily_trends", "day")

    common = {"job": "report_mail", "host": "web1"}
    assert rows == [
        {
            "day": (noon - dt.timedelta(days=89)).date().isoformat(),
            **common,
            "runs": 1,
            "successes": 1,
            "failures": 0,
            "skipped": 0,
            "avg_duration_s": 9.0,
            "max_duration_s": 9.0,
            "max_peak_rss_bytes": None,
        },
        {
            "day": day2.date().isoformat(),
            **common,
            "runs": 5,
            "successes": 3,
            "failures": 2,
            "skipped": 2,
            "avg_duration_s": 7.2,
            "max_duration_s": 20.0,
            "max_peak_rss_bytes": 300 * MiB,
        },
        {
            "day": day1.date().isoformat(),
            **common,
            "runs": 2,
            "successes": 1,
            "failures": 1,
            "skipped": 0,
            "avg_duration_s": 2.25,
            "max_duration_s": 4.0,
            "max_peak_rss_bytes": 50 * MiB,
        },
    ]


def test_daily_trends_leaves_lock_waits_out_of_durations(engine: Engine) -> None:
    # A run skipped after --lock-wait 5m lasted 300 s without the job running at all:
    # like the average, the day's longest run is one that ran.
    day = utc_now().replace(hour=12, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    add_run(engine, "vend_sync", "success", day, 4.0)
    add_run(engine, "vend_sync", "skipped_locked", day + dt.timedelta(minutes=5), 300.0)

    (row,) = view(engine, "smartcron_v_daily_trends")

    assert (row["runs"], row["skipped"], row["avg_duration_s"]) == (1, 1, 4.0)
    assert row["max_duration_s"] == 4.0


def test_daily_trends_leaves_lost_runs_out_of_durations(engine: Engine) -> None:
    day = utc_now().replace(hour=12, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    add_run(engine, "vend_sync", "success", day, 4.0)
    add_run(engine, "vend_sync", "lost", day + dt.timedelta(minutes=5), None)

    (row,) = view(engine, "smartcron_v_daily_trends")

    assert (row["runs"], row["failures"], row["avg_duration_s"]) == (2, 1, 4.0)
    assert row["max_duration_s"] == 4.0


# ---------------------------------------------------------------- smartcron_v_job_health


def refresh(engine: Engine, now: dt.datetime) -> None:
    """The state of every job row, as ingest would store it (collector/state.py)."""
    with engine.begin() as connection:
        keys = [
            (job, host)
            for job, host in connection.execute(text("SELECT job, host FROM smartcron_jobs"))
        ]
        refresh_states(connection, keys, now)


def test_job_health_reads_the_stored_state_and_reason(engine: Engine) -> None:
    # The view decides nothing: whatever state.py stored is what it shows.
    add_job(engine, "odd", utc_now(), state="late", state_reason="one was due at noon")
    (row,) = view(engine, "smartcron_v_job_health")
    assert (row["state"], row["reason"]) == ("late", "one was due at noon")


def test_job_health_states_and_reasons(engine: Engine) -> None:
    now = utc_now()
    hour = dt.timedelta(hours=1)
    # Each job ran at the last quarter hour of its */15 schedule: none owes a run yet.
    slot = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)
    ran = {"last_started_at": slot + dt.timedelta(seconds=1)}
    # healthy: its one failure is older than 24 h.
    # The rows as ingest leaves them, the newest failure on it (revision 0019).
    add_job(engine, "healthy", now, last_failure_at=now - 25 * hour, **ran)
    add_run(engine, "healthy", "success", now - 2 * hour, 1.0)
    add_run(engine, "healthy", "failed", now - 25 * hour, 1.0)
    # degraded: the last run succeeded, one of the day's three failed (skips don't count).
    add_job(engine, "degraded", now, last_failure_at=now - 2 * hour, **ran)
    for offset, status in ((1, "success"), (2, "timeout"), (3, "success"), (4, "skipped_locked")):
        add_run(engine, "degraded", status, now - offset * hour, 1.0)
    # failing: the last run failed.
    failed = add_job(
        engine, "failed_last", now, last_status="failed", last_failure_at=now - hour, **ran
    )
    add_run(engine, "failed_last", "failed", now - hour, 1.0)
    # failing: the breaker is open (runs are being skipped by it).
    add_job(engine, "breaker_open", now, breaker_state="open", last_status="skipped_breaker", **ran)
    # late: no run for 75 minutes of a */15 schedule.
    late = add_job(engine, "late", now, last_started_at=now - 75 * dt.timedelta(minutes=1))
    # paused: wins over everything else, a failed last run included.
    paused = add_job(
        engine,
        "paused",
        now,
        paused=True,
        paused_by="alice",
        paused_at=now - 3 * hour,
        last_status="failed",
    )
    refresh(engine, now)

    rows = {row["job"]: row for row in view(engine, "smartcron_v_job_health")}

    owed = slot_after(
        "*/15 * * * *", None, late["last_started_at"].replace(second=0, microsecond=0)
    )
    found = {job: (row["state"], row["reason"]) for job, row in rows.items()}
    assert found == {
        "healthy": ("healthy", "last run succeeded"),
        "degraded": (
            "degraded",
            f"a run failed in the last 24 h, at {shown(now - 2 * hour, None)}; "
            "the last run succeeded",
        ),
        "failed_last": ("failing", f"last run failed at {shown(failed['last_started_at'], None)}"),
        "breaker_open": (
            "failing",
            "circuit breaker open after repeated failures; last run skipped_breaker",
        ),
        "late": (
            "late",
            f"no run since {shown(late['last_started_at'], None)}; "
            f"one was due at {shown(owed, None)}",
        ),
        "paused": ("paused", f"paused by alice at {shown(paused['paused_at'], None)}"),
    }
    counts = {job: (row["runs_24h"], row["failures_24h"]) for job, row in rows.items()}
    assert counts["healthy"] == (1, 0)
    assert counts["degraded"] == (3, 1)
    assert counts["late"] == (0, 0)
    assert rows["failed_last"]["last_started_at"] == stamp(failed["last_started_at"])
    assert rows["breaker_open"]["breaker_state"] == "open"
    assert owed is not None and rows["late"]["missed_at"] == stamp(owed)


def test_job_health_reason_for_a_job_that_never_ran(engine: Engine) -> None:
    # The agent registers jobs it finds in crontabs before they ever report a run; one
    # whose first run does not come is late, and says so rather than saying nothing.
    now = utc_now()
    add_job(
        engine,
        "never_ran",
        now,
        first_seen_at=now - dt.timedelta(hours=2),
        last_run_id=None,
        last_status=None,
        last_started_at=None,
        last_finished_at=None,
        last_success_at=None,
        last_duration_s=None,
    )
    refresh(engine, now)

    (row,) = view(engine, "smartcron_v_job_health")

    assert row["state"] == "late"
    assert row["reason"].startswith("never ran; one was due at ")


def test_job_health_reads_the_rollup_and_an_hour_of_runs_joining_nothing_on_mysql(
    mysql_engine: Engine, clear_tables: Callable[[Engine], None]
) -> None:
    """The 24-hour counts come from the hourly rollup and a range of ix_runs_started
    (the runs before its first whole hour), grouped with the jobs' rows: no join, which
    MariaDB made without a key (10 s on 10,000 jobs), and no subquery per job, which read
    the job's whole history by (job, host)."""
    clear_tables(mysql_engine)
    now = utc_now()
    for number in range(40):
        add_job(mysql_engine, f"job{number}", now)
        # Three days of runs every 20 minutes: most of them outside the 24 hours.
        add_runs(mysql_engine, f"job{number}", [
            ("success", now - dt.timedelta(minutes=20 * n), 1.0, None) for n in range(1, 216)
        ])  # fmt: skip
    with mysql_engine.connect() as connection:
        connection.execute(
            text("ANALYZE TABLE smartcron_jobs, smartcron_runs, smartcron_run_hourly")
        ).all()
        plan = connection.execute(text("EXPLAIN SELECT * FROM smartcron_v_job_health")).mappings()
        rows = [dict(row) for row in plan]
    assert [row["select_type"] for row in rows if row["id"] == 1] == ["PRIMARY"], rows
    assert not [row for row in rows if "DEPENDENT" in str(row["select_type"])], rows
    runs = [row for row in rows if row["table"] == "r"]
    assert [(row["type"], row["key"]) for row in runs] == [("range", "ix_runs_started")], rows


# ---------------------------------------------------------------- smartcron_v_recent_failures


def test_recent_failures(engine: Engine) -> None:
    now = utc_now()
    hour = dt.timedelta(hours=1)
    long_stderr = "x" * 700 + "the end of it all: " + "🔥é" * 150  # 300 characters at the end
    newest = add_run(
        engine, "vend_sync", "failed", now - hour, 2.5, exit_code=3, stderr=long_stderr, attempts=3
    )
    timeout = add_run(
        engine, "report_mail", "timeout", now - 2 * hour, 60.0004, stderr="rendering...\n"
    )
    memory = add_run(engine, "nightly_backup", "killed_memory", now - 3 * hour, 12.0)
    lost = add_run(engine, "log_rotate", "lost", now - 5 * hour, 0.0, stderr=None)
    add_run(engine, "vend_sync", "success", now - dt.timedelta(minutes=30), 1.0)
    add_run(engine, "vend_sync", "skipped_breaker", now - dt.timedelta(minutes=20), 0.0)
    add_run(engine, "vend_sync", "failed", now - 25 * hour, 1.0, stderr="yesterday")

    rows = view(engine, "smartcron_v_recent_failures")

    assert [row["run_id"] for row in rows] == [newest, timeout, memory, lost], "newest first"
    first = rows[0]
    assert first["stderr_end"] == long_stderr[-300:]
    assert first["stderr_end"].endswith("🔥é" * 150)
    assert (first["job"], first["status"], first["exit_code"]) == ("vend_sync", "failed", 3)
    assert (first["duration_s"], first["attempt_count"]) == (2.5, 3)
    assert rows[1]["stderr_end"] == "rendering...\n"
    assert rows[1]["duration_s"] == 60.0
    assert (rows[1]["status"], rows[1]["exit_code"]) == ("timeout", 124)
    assert (rows[2]["status"], rows[2]["signal_number"]) == ("killed_memory", 9)
    assert rows[3]["stderr_end"] is None, "a lost run has no output row"


def test_recent_failures_takes_the_stderr_of_a_report_ingested(engine: Engine) -> None:
    """Through ingest: its output row goes in before the run, whose trigger copies the
    stderr; a success's report adds nothing to smartcron_recent_failures."""
    now = utc_now()
    failed = make_report(
        status="error", exit_code=127, started=now - dt.timedelta(minutes=5), stderr="not found\n"
    )
    success = make_report(started=now - dt.timedelta(minutes=1), exit_code=0, stderr="ok")
    ingest_reports(engine, [RunReport.model_validate(r) for r in (failed, success)])

    rows = view(engine, "smartcron_v_recent_failures")

    assert [(r["run_id"], r["status"], r["stderr_end"]) for r in rows] == [
        (failed["run_id"], "error", "not found\n")
    ]
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT COUNT(*) FROM smartcron_recent_failures")).scalar()
    assert kept == 1, "successes are not kept"


def test_recent_failures_reads_one_range_of_its_table_on_mysql(
    mysql_engine: Engine, clear_tables: Callable[[Engine], None]
) -> None:
    """The view reads its own table in the order of its key: no output row per failure
    by a random run_id (3.8 s at 10,000 jobs, bench/README.md), and no sort."""
    clear_tables(mysql_engine)
    now = utc_now()
    for number in range(200):
        status = "failed" if number % 4 else "success"
        add_run(mysql_engine, f"job{number % 20}", status, now - dt.timedelta(minutes=13 * number),
                1.0, stderr="boom")  # fmt: skip
    with mysql_engine.connect() as connection:
        connection.execute(text("ANALYZE TABLE smartcron_recent_failures")).all()
        plan = connection.execute(text("EXPLAIN SELECT * FROM smartcron_v_recent_failures"))
        rows = [dict(row) for row in plan.mappings()]
        shown = view(mysql_engine, "smartcron_v_recent_failures")
    assert [(row["table"], row["type"], row["key"]) for row in rows] == [
        ("smartcron_recent_failures", "range", "PRIMARY")
    ], rows
    assert "filesort" not in str(rows[0]["Extra"]), rows
    # 24 hours of runs every 13 minutes, three in four failed.
    day = [n for n in range(200) if n % 4 and 13 * n < 24 * 60]
    assert len(shown) == len(day)


# ---------------------------------------------------------------- smartcron_v_active_alerts


def alert_row(
    job: str, severity: str, rule: str, opened_at: dt.datetime, **more: Any
) -> dict[str, Any]:
    """A row as the alert engine writes it (collector/alerting/store.py)."""
    row = {"job": job, "host": "web1", "rule": rule, "severity": severity,
           "summary": f"{job}: {rule}", "detail": f"{job} is {rule}", "opened_at": opened_at,
           "instant": opened_at, "last_seen_at": opened_at, "open_key": 1}  # fmt: skip
    return row | more


def test_active_alerts(engine: Engine) -> None:
    now = utc_now()
    minutes = dt.timedelta(minutes=1)
    alerts = [
        ("late", "warning", "missed", 90),
        ("vend_sync", "critical", "failed", 30),
        ("report_mail", "high", "failed", 200),
        ("nightly_backup", "critical", "breaker_open", 45),
        ("log_rotate", "info", "too_fast", 5),
    ]
    with engine.begin() as connection:
        for job, severity, rule, age in alerts:
            connection.execute(
                tables.alerts.insert().values(alert_row(job, severity, rule, now - age * minutes))
            )
        connection.execute(
            tables.alerts.insert().values(
                alert_row(
                    "vend_sync",
                    "critical",
                    "failed",
                    now - 600 * minutes,
                    summary="resolved long ago",
                    resolved_at=now - 500 * minutes,
                    open_key=None,
                )
            )
        )
        connection.execute(
            tables.alerts.update()
            .where(tables.alerts.c.job == "late")
            .values(acknowledged_at=now, acknowledged_by="ops")
        )

    rows = view(engine, "smartcron_v_active_alerts")

    order = [(row["severity"], row["job"]) for row in rows]
    assert order == [
        ("critical", "nightly_backup"),
        ("critical", "vend_sync"),
        ("high", "report_mail"),
        ("warning", "late"),
        ("info", "log_rotate"),
    ], "most severe first, then oldest first"
    ages = {row["job"]: row["open_minutes"] for row in rows}
    assert ages["report_mail"] in (200, 201)
    assert ages["log_rotate"] in (5, 6)
    assert {row["summary"] for row in rows}.isdisjoint({"resolved long ago"})
    by_job = {row["job"]: row for row in rows}
    assert (by_job["late"]["rule"], bool(by_job["late"]["acknowledged"])) == ("missed", True)
    assert by_job["late"]["acknowledged_by"] == "ops"
    assert not by_job["vend_sync"]["acknowledged"]


def test_active_alerts_put_an_unknown_severity_last(engine: Engine) -> None:
    # Both backends must agree on where a severity outside the four known ones goes.
    now = utc_now()
    with engine.begin() as connection:
        for job, severity in (("a", "critical"), ("b", "info"), ("c", "notice")):
            connection.execute(
                tables.alerts.insert().values(
                    alert_row(job, severity, "failed", now - dt.timedelta(minutes=10))
                )
            )

    rows = view(engine, "smartcron_v_active_alerts")

    assert [row["severity"] for row in rows] == ["critical", "info", "notice"]
