"""ingest_reports on both backends: what a batch leaves in the jobs rows, the MySQL fast
path's SQL literals, and the batched reads behind the summary page."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import pymysql
import pytest
from smartcron.collector import ingest, queries
from smartcron.collector.db import bulk, tables
from smartcron.collector.ingest import ingest_reports
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, select, text

from tests.support.service import make_report

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def report(job: str = "sync", *, minutes: int = 0, **kwargs: Any) -> RunReport:
    started = T0 + dt.timedelta(minutes=minutes)
    return RunReport.model_validate(make_report(job, started=started, **kwargs))


def job_row(engine: Engine, job: str = "sync", host: str = "web1") -> dict[str, Any]:
    j = tables.jobs.c
    with engine.connect() as connection:
        row = connection.execute(select(tables.jobs).where(j.job == job, j.host == host)).one()
    return dict(row._mapping)


def naive(moment: dt.datetime | None) -> dt.datetime:
    assert moment is not None, "a lost run's end only is unknown"
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def stored_time(value: Any) -> dt.datetime:
    """SQLite hands DATETIME back as text through Core only when it was written as text."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


# ---------------------------------------------------------------- the jobs rows


def test_a_batch_leaves_each_job_at_its_latest_run(engine: Engine) -> None:
    ok = report(minutes=0, status="success", duration_s=2.0)
    bad = report(minutes=5, status="failed")
    other = report("backup", minutes=1, host="db1", schedule="0 3 * * *")
    assert ingest_reports(engine, [bad, ok, other]) == (3, 0)

    row = job_row(engine)
    assert (row["last_status"], row["last_run_id"]) == ("failed", str(bad.run_id))
    assert stored_time(row["last_started_at"]) == naive(bad.started_at)
    assert stored_time(row["last_success_at"]) == naive(ok.finished_at)
    assert stored_time(row["next_expected_at"]) == dt.datetime(2030, 1, 1, 12, 10)
    backup = job_row(engine, "backup", "db1")
    assert backup["last_status"] == "success"
    assert stored_time(backup["next_expected_at"]) == dt.datetime(2030, 1, 2, 3, 0)


def test_an_older_run_delivered_late_does_not_replace_a_newer_one(engine: Engine) -> None:
    newer = report(minutes=10, status="failed")
    older = report(minutes=5, status="success", breaker_state="open")
    ingest_reports(engine, [newer])
    ingest_reports(engine, [older])

    row = job_row(engine)
    assert (row["last_status"], row["last_run_id"]) == ("failed", str(newer.run_id))
    assert row["breaker_state"] == "closed", "an older report's breaker state is stale"
    # ... but its success is still the latest success there is.
    assert stored_time(row["last_success_at"]) == naive(older.finished_at)


def test_an_older_success_does_not_move_last_success_back(engine: Engine) -> None:
    ingest_reports(engine, [report(minutes=10)])
    first = job_row(engine)["last_success_at"]
    ingest_reports(engine, [report(minutes=5)])
    assert job_row(engine)["last_success_at"] == first


def test_a_skip_after_a_run_in_one_batch_does_not_hide_the_run(engine: Engine) -> None:
    failed = report(minutes=0, status="failed")
    skip = report(minutes=5, status="skipped_locked", breaker_state="open", schedule="*/10 * * * *")
    ingest_reports(engine, [skip, failed])

    row = job_row(engine)
    assert (row["last_status"], row["last_run_id"]) == ("failed", str(failed.run_id))
    # The skip is newer: the job's settings and breaker state come from it.
    assert (row["breaker_state"], row["schedule"]) == ("open", "*/10 * * * *")


def test_a_job_that_was_only_ever_skipped_has_a_row_without_a_last_run(engine: Engine) -> None:
    ingest_reports(engine, [report("lonely", status="skipped_breaker", breaker_state="open")])
    row = job_row(engine, "lonely")
    assert row["last_status"] is None and row["last_started_at"] is None
    assert row["breaker_state"] == "open"


def test_an_older_skip_changes_nothing(engine: Engine) -> None:
    ingest_reports(engine, [report(minutes=10, schedule="*/5 * * * *")])
    ingest_reports(engine, [report(minutes=5, status="skipped_paused", schedule="@hourly")])
    assert job_row(engine)["schedule"] == "*/5 * * * *"


def test_next_expected_start_follows_each_report_not_a_cached_one(engine: Engine) -> None:
    # Two starts in the same minute share a memoised schedule lookup; a later minute must not.
    ingest_reports(engine, [report(minutes=0)])
    ingest_reports(engine, [report(minutes=7)])
    assert stored_time(job_row(engine)["next_expected_at"]) == dt.datetime(2030, 1, 1, 12, 10)


def test_a_lost_run_is_stored_without_an_end_or_a_duration(engine: Engine) -> None:
    # A wrapper or agent of v0.1.0 gave a lost run the moment its loss was noticed as
    # its end (a daily job's lasted 24 h): that is no measurement, so none is kept.
    old_style = make_report("sync", status="lost", started=T0, duration_s=86_400.0)
    assert old_style["duration_s"] is None  # today's reports say so themselves
    old_style["finished_at"] = (T0 + dt.timedelta(days=1)).isoformat()
    old_style["duration_s"] = 86_400.0
    lost = RunReport.model_validate(old_style)
    assert (lost.finished_at, lost.duration_s) == (None, None)
    assert ingest_reports(engine, [lost]) == (1, 0)

    r = tables.runs.c
    with engine.connect() as connection:
        stored = connection.execute(select(r.finished_at, r.duration_s)).one()
    assert tuple(stored) == (None, None)
    row = job_row(engine)
    assert (row["last_status"], row["last_finished_at"], row["last_duration_s"]) == (
        "lost", None, None,
    )  # fmt: skip


@pytest.mark.parametrize("field", ["finished_at", "duration_s"])
@pytest.mark.parametrize("status", ["success", "failed", "timeout", "skipped_locked"])
def test_only_a_lost_run_may_lack_an_end_and_a_duration(field: str, status: str) -> None:
    sent = make_report(status=status)
    sent[field] = None
    with pytest.raises(
        ValueError, match=f"may be null for a lost run only, and this run is {status}"
    ):
        RunReport.model_validate(sent)


def test_a_large_batch_stores_every_run_and_output(engine: Engine) -> None:
    batch = [report(f"job_{n % 30}", minutes=n, stdout=f"line {n}\n" * 50) for n in range(500)]
    assert ingest_reports(engine, batch) == (500, 0)
    assert ingest_reports(engine, batch[:10]) == (0, 10)
    with engine.connect() as connection:
        outputs = connection.execute(text("SELECT COUNT(*) FROM smartcron_run_output")).scalar()
        jobs = connection.execute(text("SELECT COUNT(*) FROM smartcron_jobs")).scalar()
    assert (outputs, jobs) == (500, 30)


# ---------------------------------------------------------------- MySQL literals


AWKWARD = [
    "it's", 'a "quote"', "back\\slash", "\\'", "nul\x00byte", "100%s %(x)s", "tab\tnew\nline",
    "\r\x1a", "ünïcödé", "emoji 🙂", "", "'; DROP TABLE smartcron_runs; --",
]  # fmt: skip


@pytest.fixture
def scratch(mysql_engine: Engine) -> Any:
    with mysql_engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS bench_literals")
        connection.exec_driver_sql(
            "CREATE TABLE bench_literals (n INT PRIMARY KEY, s MEDIUMTEXT, f DOUBLE, "
            "b TINYINT(1), t DATETIME(6), i BIGINT) CHARACTER SET utf8mb4"
        )
    yield mysql_engine
    with mysql_engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE bench_literals")


@pytest.mark.parametrize("sql_mode", ["", "NO_BACKSLASH_ESCAPES"])
def test_literals_round_trip_through_mysql(scratch: Engine, sql_mode: str) -> None:
    moment = dt.datetime(2030, 1, 2, 3, 4, 5, 678901)
    rows: list[tuple[Any, ...]] = [
        (n, value, 1.0 / (n + 3), n % 2 == 0, moment + dt.timedelta(seconds=n), 2**40 + n)
        for n, value in enumerate(AWKWARD)
    ]
    rows.append((len(rows), None, None, None, None, None))
    with scratch.begin() as connection:
        connection.exec_driver_sql(f"SET SESSION sql_mode = '{sql_mode}'")
        raw = connection.connection.dbapi_connection
        head = "INSERT INTO bench_literals (n, s, f, b, t, i) VALUES "
        # A tiny statement limit: the rows go in several statements, the count adds up.
        assert bulk.insert_rows(raw, head, rows, max_chars=60) == len(rows)
        stored = connection.exec_driver_sql(
            "SELECT n, s, f, b, t, i FROM bench_literals ORDER BY n"
        )
        back = [(n, s, f, None if b is None else bool(b), t, i) for n, s, f, b, t, i in stored]
        connection.exec_driver_sql("SET SESSION sql_mode = DEFAULT")
    assert back == rows


def test_literals_refuse_what_they_cannot_write_exactly(mysql_engine: Engine) -> None:
    with mysql_engine.connect() as connection:
        literal = bulk.literal_writer(connection.connection.dbapi_connection)
    assert literal(0.1) == "0.1e0" and literal(-3) == "-3" and literal(True) == "1"
    for value in (math.inf, math.nan):
        with pytest.raises(pymysql.err.ProgrammingError, match="can not be used"):
            literal(value)
    with pytest.raises(TypeError, match="naive UTC"):
        literal(T0)
    with pytest.raises(TypeError, match="no SQL literal"):
        literal(b"bytes")


# ---------------------------------------------------------------- reads for the summary


# Durations whose decimal form is long or unusual: the packed read (MySQL) must give back
# the very same doubles.
AWKWARD_DURATIONS = [0.1, 1 / 3, 1e-7, 123456.789012345, 2.5e-5, 7200.000001, 0.0, math.pi * 1e6]


def add_runs(engine: Engine, job: str, host: str, count: int, *, skip_every: int = 0) -> None:
    rows = []
    for n in range(count):
        started = dt.datetime(2030, 1, 1) + dt.timedelta(minutes=7 * n)
        status = "skipped_locked" if skip_every and n % skip_every == 0 else (
            "failed" if n % 5 == 0 else "success")  # fmt: skip
        rows.append({
            "run_id": str(uuid.uuid4()), "job": job, "host": host, "run_user": "u",
            "command": "c", "schedule": None, "priority": 5, "tags": "", "run_trigger": "cron",
            "status": status, "exit_code": 0, "signal_number": None, "started_at": started,
            "finished_at": started, "attempt_count": 1,
            "duration_s": AWKWARD_DURATIONS[n % len(AWKWARD_DURATIONS)] + n % 17,
            "peak_rss_bytes": None if n % 3 else n * 1024, "cpu_user_s": None,
            "cpu_system_s": None, "output_bytes": 0, "output_truncated": False,
            "breaker_state": "closed", "wrapper_version": "t", "received_at": started,
        })  # fmt: skip
    with engine.begin() as connection:
        connection.execute(tables.runs.insert(), rows)


def one_job_at_a_time(engine: Engine, job: str, host: str, limit: int) -> list[dict[str, Any]]:
    r = tables.runs.c
    query = (
        select(r.status, r.duration_s, r.peak_rss_bytes)
        .where(r.job == job, r.host == host, r.status.not_in(queries.SKIPPED))
        .order_by(r.started_at.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def test_recent_runs_of_many_jobs_equal_one_query_per_job(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [("sync", "web1"), ("sync", "web2"), ("backup", "db1"), ("never", "web1")]
    add_runs(engine, "sync", "web1", 80, skip_every=4)
    add_runs(engine, "sync", "web2", 7)
    add_runs(engine, "backup", "db1", 50)
    monkeypatch.setattr(queries, "KEYS_PER_QUERY", 3)  # more than one statement
    found = queries.recent_runs_by_job(engine, keys, limit=50)
    for job, host in keys:
        assert found[(job, host)] == one_job_at_a_time(engine, job, host, 50), (job, host)
    assert [len(found[key]) for key in keys] == [50, 7, 50, 0]


def test_recent_runs_of_a_long_list_read_in_halves_equal_one_query_per_job(
    engine: Engine,
) -> None:
    # 120 jobs: on MySQL the list is read as two halves on two connections.
    keys = [(f"job{n:03d}", "web1") for n in range(120)]
    for number, (job, host) in enumerate(keys):
        add_runs(engine, job, host, 3 + number % 5, skip_every=3)
    found = queries.recent_runs_by_job(engine, keys, limit=4)
    assert list(found) == keys
    for job, host in keys:
        assert found[(job, host)] == one_job_at_a_time(engine, job, host, 4), (job, host)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("2030-01-01T12:00:00.25Z", dt.datetime(2030, 1, 1, 12, 0, 0, 250000)),
        ("2030-01-01T14:00:00+02:00", dt.datetime(2030, 1, 1, 12, 0)),
        ("2030-01-01T00:30:00-05:30", dt.datetime(2030, 1, 1, 6, 0)),
        ("2030-01-01T00:00:00+14:00", dt.datetime(2029, 12, 31, 10, 0)),
    ],
)
def test_times_are_stored_as_naive_utc_whatever_their_zone(
    written: str, stored: dt.datetime
) -> None:
    parsed = RunReport.model_validate({**make_report(), "started_at": written}).started_at
    assert ingest.utc_naive(parsed) == stored
    assert ingest.utc_naive(stored) == stored  # already naive: taken as UTC
