"""ingest_reports on both backends: what a batch leaves in the jobs rows, awkward text
bound by the driver and read back whole, and the batched reads behind the summary page."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from smartcron.collector import ingest, queries
from smartcron.collector.db import tables
from smartcron.collector.db.engine import create_db_engine
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, event, select, text

from tests.collector.conftest import clear_tables
from tests.support.collector_api import insert_run_rows
from tests.support.service import make_report

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
# The collector's clock in these tests: a day after T0, so that no report is ahead of it.
RECEIVED = dt.datetime(2030, 1, 2, 12, 0)
# A clock just after the runs, for what the state module decides at the time of receipt:
# a day later a */5 job is late and its next expected run is the one after that clock.
SOON_AFTER = dt.datetime(2030, 1, 1, 12, 6)


def ingest_reports(
    engine: Engine, reports: Sequence[RunReport], received_at: dt.datetime = RECEIVED
) -> tuple[int, int]:
    """(accepted, duplicates), nothing refused."""
    stored = ingest.ingest_reports(engine, reports, received_at=received_at)
    assert stored.refused == {}
    return stored.accepted, stored.duplicates


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
    assert ingest_reports(engine, [bad, ok, other], SOON_AFTER) == (3, 0)

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


def test_the_latest_failure_is_kept_on_the_row_and_never_moves_back(engine: Engine) -> None:
    """last_failure_at, the start of the newest failed run (a lost run is one), is what
    keeps a job degraded: in one batch, across batches, and against late deliveries."""
    ingest_reports(engine, [report(minutes=0, status="failed"), report(minutes=5)])
    assert stored_time(job_row(engine)["last_failure_at"]) == naive(T0)

    later = report(minutes=20, status="lost")
    ingest_reports(engine, [report(minutes=10, status="timeout"), later])
    assert stored_time(job_row(engine)["last_failure_at"]) == naive(later.started_at)
    # An older failure delivered late, a success, a skip: none of them moves it.
    ingest_reports(engine, [report(minutes=15, status="error"), report(minutes=30),
                            report(minutes=35, status="skipped_locked")])  # fmt: skip
    assert stored_time(job_row(engine)["last_failure_at"]) == naive(later.started_at)
    ingest_reports(engine, [report("backup", host="db1")])
    assert job_row(engine, "backup", "db1")["last_failure_at"] is None


def test_a_skip_after_a_run_in_one_batch_does_not_hide_the_run(engine: Engine) -> None:
    failed = report(minutes=0, status="failed")
    skip = report(minutes=5, status="skipped_locked", breaker_state="open", schedule="*/10 * * * *")
    ingest_reports(engine, [skip, failed])

    row = job_row(engine)
    assert (row["last_status"], row["last_run_id"]) == ("failed", str(failed.run_id))
    # The skip is newer: the job's settings and breaker state come from it.
    assert (row["breaker_state"], row["schedule"]) == ("open", "*/10 * * * *")


def test_the_zone_comes_from_the_latest_report_run_or_skip(engine: Engine) -> None:
    run = report(minutes=0).model_copy(update={"timezone": "Europe/Berlin"})
    ingest_reports(engine, [run])
    assert job_row(engine)["timezone"] == "Europe/Berlin"
    skip = report(minutes=5, status="skipped_locked").model_copy(
        update={"timezone": "America/New_York"}
    )
    ingest_reports(engine, [skip])
    assert job_row(engine)["timezone"] == "America/New_York"
    lonely = report("lonely", status="skipped_paused").model_copy(
        update={"timezone": "Australia/Lord_Howe"}
    )
    ingest_reports(engine, [lonely])
    assert job_row(engine, "lonely")["timezone"] == "Australia/Lord_Howe"


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
    ingest_reports(engine, [report(minutes=0)], SOON_AFTER)
    ingest_reports(engine, [report(minutes=7)], SOON_AFTER + dt.timedelta(minutes=2))
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


def test_every_field_of_a_report_is_stored_or_knowingly_not(engine: Engine) -> None:
    # A field the model gains must be stored, or named in ingest.NOT_STORED: never
    # dropped by oversight. Each field here has a value that is not its default.
    sent = make_report("sync", started=T0) | {
        "timezone": "Europe/Berlin", "output_dropped_bytes": 5, "signal_denied": True,
        "lock_error": "Read-only file system: /var/lib/smartcron/locks/sync.lock",
        "expect": {"grace_s": 90.0, "alert_after": 2},
    }  # fmt: skip
    # And an attempt that could not start (the wrapper's retry of a vanished command).
    why = "cannot run './sync.sh': command not found; check the path, or PATH in the crontab"
    sent["attempts"].append(sent["attempts"][0] | {"status": "error", "exit_code": 127,
                                                   "signal": None, "error": why})  # fmt: skip
    fields = {field.alias or name for name, field in RunReport.model_fields.items()}
    assert set(sent) == fields, "the report here lacks a field of the model"
    assert ingest_reports(engine, [RunReport.model_validate(sent)]) == (1, 0)

    read = queries.run(engine, sent["run_id"])
    assert read is not None
    job = job_row(engine)  # timezone and expect are the job's, not the run's
    assert (job["timezone"], job["grace_s"], job["alert_after"]) == ("Europe/Berlin", 90.0, 2)
    assert fields - set(read) == ingest.NOT_STORED | {"timezone", "expect"}
    assert fields >= ingest.NOT_STORED, "NOT_STORED names a field the model lacks"
    # Every field of an attempt is kept, the error only where there is one.
    assert [set(attempt) for attempt in read["attempts"]] == [set(a) for a in sent["attempts"]]
    assert read["attempts"][1]["error"] == why
    # What is read back is what was sent (the plain fields; times have their own tests).
    plain = ("job", "host", "user", "command", "trigger", "status", "exit_code", "output_bytes")
    assert {key: read[key] for key in plain} == {key: sent[key] for key in plain}


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


def test_late_after_follows_each_runs_duration_within_one_minute(engine: Engine) -> None:
    # Both start in the same minute on the same schedule: the next start is shared (and
    # memoised); the grace is the schedule's (5 minutes) and each run's own duration is
    # added, as its report may still be on the way (no agent lists the jobs' runs).
    quick = report("quick", duration_s=1.0)
    slow = report("slow", duration_s=600.0)
    ingest_reports(engine, [quick, slow], SOON_AFTER)
    five = dt.timedelta(minutes=5)
    for job, grace in (("quick", five + dt.timedelta(seconds=1)), ("slow", five * 3)):
        row = job_row(engine, job)
        assert stored_time(row["next_expected_at"]) == dt.datetime(2030, 1, 1, 12, 5)
        assert stored_time(row["late_after_at"]) == dt.datetime(2030, 1, 1, 12, 5) + grace


# ---------------------------------------------------------------- duplicates change nothing


def job_keys(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(select(tables.jobs.c.job, tables.jobs.c.host))
        return sorted((job, host) for job, host in rows)


def test_a_duplicate_under_another_job_name_creates_no_job(engine: Engine) -> None:
    original = report("sync")
    assert ingest_reports(engine, [original]) == (1, 0)
    replay = report("other", minutes=5, status="failed").model_copy(
        update={"run_id": original.run_id}
    )
    assert ingest_reports(engine, [replay]) == (0, 1)
    assert job_keys(engine) == [("sync", "web1")]


def test_a_duplicate_does_not_flip_a_healthy_job_to_failing(engine: Engine) -> None:
    healthy = report(minutes=0, status="success")
    ingest_reports(engine, [healthy])
    before = job_row(engine)
    # The same run_id, newer and failed: a replay with other figures is still that run.
    replay = report(minutes=10, status="failed").model_copy(update={"run_id": healthy.run_id})
    assert ingest_reports(engine, [replay]) == (0, 1)
    assert job_row(engine) == before


def test_a_batch_of_only_duplicates_leaves_the_stored_state_as_it_was(engine: Engine) -> None:
    # Received just after the run, the */5 job is healthy; a day later it would be late.
    # A replay a day later changed no row, so it must not refresh (re-decide) the state.
    run = report(minutes=0, status="success")
    ingest_reports(engine, [run], SOON_AFTER)
    before = job_row(engine)
    assert before["state"] == "healthy"
    assert ingest_reports(engine, [run], RECEIVED) == (0, 1)
    assert job_row(engine) == before


def test_a_new_run_refreshes_only_its_own_jobs_state(engine: Engine) -> None:
    ingest_reports(engine, [report("sync"), report("backup", schedule="*/5 * * * *")], SOON_AFTER)
    ingest_reports(engine, [report("sync", minutes=1440)], RECEIVED + dt.timedelta(minutes=1))
    # sync's new run was just now; backup had none for a day, but no report of it came.
    assert job_row(engine)["state"] == "healthy"
    assert job_row(engine, "backup")["state"] == "healthy"
    assert stored_time(job_row(engine, "backup")["next_expected_at"]) == dt.datetime(
        2030, 1, 1, 12, 5
    )


def test_a_replayed_run_does_not_undo_a_later_skip(engine: Engine) -> None:
    run = report(minutes=0, breaker_state="closed")
    skip = report(minutes=5, status="skipped_breaker", breaker_state="open")
    ingest_reports(engine, [run])
    ingest_reports(engine, [skip])
    before = job_row(engine)
    assert before["breaker_state"] == "open"
    assert ingest_reports(engine, [run, skip]) == (0, 2)
    assert job_row(engine) == before


def test_the_second_copy_of_a_run_in_one_batch_changes_nothing(engine: Engine) -> None:
    first = report("sync", minutes=0)
    second = report("other", minutes=5, status="failed").model_copy(update={"run_id": first.run_id})
    assert ingest_reports(engine, [first, second]) == (1, 1)
    assert job_keys(engine) == [("sync", "web1")]
    assert job_row(engine)["last_status"] == "success"


def test_a_run_stored_by_another_request_after_the_read_is_a_duplicate(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = report("sync")
    ingest_reports(engine, [stored])
    real = ingest.stored_run_ids
    reads: list[Sequence[str]] = []

    def out_of_date_once(connection: Any, run_ids: Sequence[str]) -> set[str]:
        # The first read misses the run, as if a concurrent request stored it just after:
        # the insert then fails on the unique run_id, and the transaction is done again.
        reads.append(run_ids)
        return set() if len(reads) == 1 else real(connection, run_ids)

    monkeypatch.setattr(ingest, "stored_run_ids", out_of_date_once)
    replay = stored.model_copy(update={"job": "other"})
    assert ingest_reports(engine, [replay, report("fresh", minutes=1)]) == (1, 1)
    assert len(reads) == 2
    assert job_keys(engine) == [("fresh", "web1"), ("sync", "web1")]


# ---------------------------------------------------------------- text bound by the driver


AWKWARD = [
    "it's", 'a "quote"', "back\\slash", "\\'", "nul\x00byte", "100%s %(x)s", "tab\tnew\nline",
    "\r\x1a", "ünïcödé", "emoji 🙂", "", "'; DROP TABLE smartcron_runs; --",
]  # fmt: skip


def stored_texts(engine: Engine) -> dict[str, tuple[str, str, str]]:
    r, o = tables.runs.c, tables.run_output.c
    query = select(r.job, r.command, o.stdout_tail, o.stderr_tail).join_from(
        tables.runs, tables.run_output, r.run_id == o.run_id
    )
    with engine.connect() as connection:
        return {job: (command, out, err) for job, command, out, err in connection.execute(query)}


def awkward_reports() -> list[RunReport]:
    batch = []
    for number, value in enumerate(AWKWARD):
        raw = make_report(f"awkward{number}", stdout=value, stderr=value[::-1])
        batch.append(RunReport.model_validate(raw | {"command": value}))
    return batch


def test_awkward_text_is_stored_exactly(engine: Engine) -> None:
    assert ingest_reports(engine, awkward_reports()) == (len(AWKWARD), 0)
    expected = {f"awkward{n}": (value, value, value[::-1]) for n, value in enumerate(AWKWARD)}
    assert stored_texts(engine) == expected


def test_awkward_text_is_stored_exactly_without_backslash_escapes(mysql_engine: Engine) -> None:
    # A session with NO_BACKSLASH_ESCAPES: the driver, told so by the server, escapes
    # quotes by doubling them instead.
    engine = create_db_engine(mysql_engine.url.render_as_string(hide_password=False))

    @event.listens_for(engine, "connect")
    def no_backslash_escapes(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(
                "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_BACKSLASH_ESCAPES')"
            )

    clear_tables(engine)
    try:
        with engine.connect() as connection:
            mode = connection.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar()
        assert "NO_BACKSLASH_ESCAPES" in str(mode)
        stored = ingest.ingest_reports(engine, awkward_reports(), received_at=RECEIVED)
        assert (stored.accepted, stored.refused) == (len(AWKWARD), {})
        expected = {f"awkward{n}": (value, value, value[::-1]) for n, value in enumerate(AWKWARD)}
        assert stored_texts(engine) == expected
    finally:
        clear_tables(engine)
        engine.dispose()


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
        insert_run_rows(connection, rows)


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


def values_read_back(engine: Engine, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's row and its output row, by column, times as datetimes."""
    r, o = tables.runs.c, tables.run_output.c
    with engine.connect() as connection:
        run = connection.execute(select(tables.runs).where(r.run_id == run_id)).one()
        output = connection.execute(select(tables.run_output).where(o.run_id == run_id)).one()
    times = {"started_at", "finished_at", "received_at"}
    found = {
        k: stored_time(v) if k in times and v is not None else v for k, v in run._mapping.items()
    }
    return found, dict(output._mapping)


# A tail as long as the schema allows, of what the escaping must get right, 4-byte
# characters among them (utf8mb4).
LONG_TAIL = ("'\\\x00\"🙂ü%s\n" * (131_072 // 10 + 1))[:131_072]


@pytest.mark.parametrize(
    "fields",
    [
        {"stdout": LONG_TAIL, "stderr": LONG_TAIL[::-1], "status": "failed"},
        # Nulls where a report may hold them: no schedule, no exit code, no memory figure.
        {"status": "timeout", "schedule": None, "peak_rss_bytes": None},
        {"duration_s": 1 / 3, "stdout": "\\", "stderr": "'"},
    ],
    ids=["long-tails", "nulls", "awkward-numbers"],
)
def test_every_value_of_a_run_is_read_back_as_it_was_bound(
    engine: Engine, fields: dict[str, Any]
) -> None:
    # Times with microseconds, a command of quotes and a 4-byte character: each value
    # goes through ingest and comes back from both tables equal to what was bound.
    started = T0 + dt.timedelta(microseconds=123_457)
    document = make_report("bound", started=started, **fields)
    document |= {"command": "echo 'it''s' \"\\\\\" 🙂 %(x)s", "tags": ["a", "b"]}
    sent = RunReport.model_validate(document)
    received = RECEIVED + dt.timedelta(microseconds=999_999)
    assert ingest_reports(engine, [sent], received_at=received) == (1, 0)
    run, output = values_read_back(engine, str(sent.run_id))
    expected_run = ingest.run_row(sent, received)
    assert {k: run[k] for k in expected_run} == expected_run | {
        # Stored as 0/1 (MySQL's BOOL is TINYINT); the same value read back.
        "output_truncated": run["output_truncated"]
    }
    assert bool(run["output_truncated"]) is sent.output_truncated
    assert output == ingest.output_row(sent)
    assert run["started_at"].microsecond == 123_457
