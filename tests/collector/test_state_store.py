"""The state stored on a job's row, on both backends: ingest decides it in the job's
zone, the evaluation pass moves it on when time alone changes it, a pause changes it,
and the health view reads it (an injected clock throughout: received_at and `now`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcron.collector import actions, queries, state_store
from smartcron.collector.db import tables
from smartcron.collector.heartbeats import Heartbeat, store_heartbeat
from smartcron.collector.ingest import ingest_reports
from smartcron.collector.state import JobState
from smartcron.collector.state_store import evaluate_due
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import OperationalError

from tests.collector.conftest import clear_tables
from tests.support.service import make_report

UTC = dt.timezone.utc
# 02:00 CEST on 10 June 2030: a Berlin `0 2 * * *` job's run, 00:00 UTC.
RAN = dt.datetime(2030, 6, 10, 0, 0, 1, tzinfo=UTC)
# The next day's run is late after its grace (2h24m, a tenth of the day) and the last
# run's 1.5 s (its report could still be on its way: no agent lists the job's runs).
LATE = dt.datetime(2030, 6, 11, 2, 24, 1, 500000)


def report(started: dt.datetime = RAN, **fields: Any) -> RunReport:
    zone = fields.pop("timezone", "Europe/Berlin")
    document = make_report("nightly", started=started, schedule="0 2 * * *", **fields)
    if zone is not None:
        document["timezone"] = zone
    return RunReport.model_validate(document)


def row(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        found = connection.execute(select(tables.jobs).where(tables.jobs.c.job == "nightly"))
        return {k: _naive(v) for k, v in found.one()._mapping.items()}


def _naive(value: Any) -> Any:
    if isinstance(value, str) and value[:2] == "20" and value[10:11] == " ":
        return dt.datetime.fromisoformat(value)
    return value


def naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def health_view(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        return dict(
            connection.execute(text("SELECT * FROM smartcron_v_job_health")).mappings().one()
        )


def test_ingest_stores_the_zone_and_a_state_decided_in_it(engine: Engine) -> None:
    noon = naive(RAN) + dt.timedelta(hours=12)
    ingest_reports(engine, [report()], received_at=noon)

    stored = row(engine)
    assert stored["timezone"] == "Europe/Berlin"
    assert (stored["state"], stored["state_reason"]) == ("healthy", "last run succeeded")
    # Read in Berlin, not in UTC: the next run is at 02:00 CEST tomorrow, 00:00 UTC.
    assert stored["next_expected_at"] == dt.datetime(2030, 6, 11, 0, 0)
    assert stored["late_after_at"] == LATE
    assert stored["missed_at"] is None
    assert stored["review_at"] == stored["late_after_at"]
    assert health_view(engine)["state"] == "healthy"


def test_a_report_without_a_zone_is_read_as_utc(engine: Engine) -> None:
    ingest_reports(engine, [report(timezone=None)], received_at=naive(RAN))
    stored = row(engine)
    assert stored["timezone"] is None
    assert stored["next_expected_at"] == dt.datetime(2030, 6, 10, 2, 0)
    (item,) = queries.jobs(engine, "nightly")
    assert item["timezone"] == "UTC"


def test_the_evaluation_pass_makes_a_job_late_then_a_report_clears_it(engine: Engine) -> None:
    ingest_reports(engine, [report()], received_at=naive(RAN))
    before = LATE - dt.timedelta(microseconds=1)
    assert evaluate_due(engine, before) == 0  # nothing is due for review yet
    assert row(engine)["state"] == "healthy"

    due = LATE
    assert evaluate_due(engine, due) == 1
    stored = row(engine)
    assert stored["state"] == "late"
    assert stored["missed_at"] == dt.datetime(2030, 6, 11, 0, 0)
    # Next expected is never in the past: the run after the one missed, reviewed then.
    assert stored["next_expected_at"] == dt.datetime(2030, 6, 12, 0, 0)
    assert stored["review_at"] == stored["next_expected_at"]
    assert "one was due at 2030-06-11 02:00 CEST (00:00 UTC)" in stored["state_reason"]
    view = health_view(engine)
    assert (view["state"], view["reason"]) == ("late", stored["state_reason"])
    assert evaluate_due(engine, due + dt.timedelta(hours=1)) == 0  # unchanged: no write

    late_run = RAN + dt.timedelta(days=1, hours=3)
    ingest_reports(engine, [report(late_run)], received_at=naive(late_run))
    stored = row(engine)
    assert (stored["state"], stored["missed_at"]) == ("healthy", None)
    assert stored["next_expected_at"] == dt.datetime(2030, 6, 12, 0, 0)


def test_a_run_in_flight_from_an_agent_that_stopped_beating_does_not_stay_running(
    engine: Engine,
) -> None:
    ingest_reports(engine, [report()], received_at=naive(RAN))
    in_flight = {"job": "nightly", "pid": 4242, "started_at": "2030-06-11T00:00:01Z"}

    def beat(at: dt.datetime) -> None:
        store_heartbeat(
            engine, Heartbeat.model_validate({"host": "web1", "running": [in_flight]}), now=at
        )

    # The agent lists every run on the host, this job's among them: its grace alone
    # counts (2h24m, no allowance for a report on its way).
    beat(dt.datetime(2030, 6, 11, 2, 23, 30))
    due = dt.datetime(2030, 6, 11, 2, 24)
    assert evaluate_due(engine, due) == 1
    stored = row(engine)
    assert stored["state"] == "running"
    # Running only as long as a fresh heartbeat says so: reviewed when it goes stale.
    assert stored["review_at"] == dt.datetime(2030, 6, 11, 2, 28, 30)
    # The next heartbeat lists the same run: it decides no job's state again (a fleet's
    # every heartbeat would), and the review, when the first goes stale, finds it.
    beat(dt.datetime(2030, 6, 11, 2, 27))
    assert row(engine)["review_at"] == dt.datetime(2030, 6, 11, 2, 28, 30)
    assert evaluate_due(engine, dt.datetime(2030, 6, 11, 2, 28, 30)) == 1
    stored = row(engine)
    assert (stored["state"], stored["review_at"]) == ("running", dt.datetime(2030, 6, 11, 2, 32))

    # Then the agent dies: no heartbeat, no report. Time alone makes the job late again.
    assert evaluate_due(engine, dt.datetime(2030, 6, 11, 2, 31, 59)) == 0
    assert row(engine)["state"] == "running"
    assert evaluate_due(engine, dt.datetime(2030, 6, 11, 2, 32)) == 1
    stored = row(engine)
    assert stored["state"] == "late", stored["state_reason"]
    assert stored["missed_at"] == dt.datetime(2030, 6, 11, 0, 0)
    assert stored["review_at"] == dt.datetime(2030, 6, 12, 0, 0)


def test_a_failure_keeps_a_job_degraded_for_24_hours(engine: Engine) -> None:
    failed = report(status="failed")
    good = report(RAN + dt.timedelta(hours=1))
    ingest_reports(engine, [failed], received_at=naive(RAN))
    assert row(engine)["state"] == "failing"
    ingest_reports(engine, [good], received_at=naive(RAN) + dt.timedelta(hours=1))
    stored = row(engine)
    assert stored["state"] == "degraded"
    assert stored["state_reason"].startswith(
        "a run failed in the last 24 h, at 2030-06-10 02:00 CEST"
    )

    # Reports keep it fresh; the evaluation pass ages the failure out on its own.
    ingest_reports(engine, [report(RAN + dt.timedelta(hours=20))],
                   received_at=naive(RAN) + dt.timedelta(hours=20))  # fmt: skip
    assert row(engine)["review_at"] == naive(RAN) + dt.timedelta(days=1)
    evaluate_due(engine, naive(RAN) + dt.timedelta(days=1))
    assert row(engine)["state"] == "healthy"


def test_pause_and_resume_change_the_stored_state(engine: Engine) -> None:
    ingest_reports(engine, [report()], received_at=naive(RAN))
    actions.apply(engine, "nightly", "pause", "alice")
    stored = row(engine)
    assert (stored["state"], stored["review_at"]) == ("paused", None)
    assert stored["state_reason"].startswith("paused by alice at ")
    assert health_view(engine)["state"] == "paused"
    actions.apply(engine, "nightly", "resume", "alice")
    assert row(engine)["state"] != "paused"


def test_the_api_gives_times_in_the_zone_too(engine: Engine) -> None:
    ingest_reports(engine, [report()], received_at=naive(RAN))
    (item,) = queries.jobs(engine, "nightly")
    assert item["next_expected_at"] == "2030-06-11T00:00:00.000000Z"
    assert item["next_expected_at_local"] == "2030-06-11T02:00:00+02:00"
    assert item["last_started_at_local"] == "2030-06-10T02:00:01+02:00"
    assert item["state"] == "healthy" and item["reason"] == "last run succeeded"
    assert "review_at" not in item and "state_reason" not in item


def test_a_decision_from_a_row_that_a_report_changed_since_is_not_stored(engine: Engine) -> None:
    # The evaluation pass of one replica reads the row, a report lands on another, then
    # the pass writes: the report's own refresh must stand.
    ingest_reports(engine, [report()], received_at=naive(RAN))
    with engine.connect() as connection:
        (read,) = state_store._job_rows(connection, [("nightly", "web1")])
    stale = JobState("late", "stale", None, None, naive(RAN), None)
    newer = RAN + dt.timedelta(days=1)
    ingest_reports(engine, [report(newer)], received_at=naive(newer))
    with engine.begin() as connection:
        written = state_store.store_decisions(connection, [state_store._update_values(read, stale)])
    assert written == 0
    assert row(engine)["state"] == "healthy"


def test_a_decision_from_before_a_late_failure_arrived_is_not_stored(engine: Engine) -> None:
    # An older failure delivered late leaves the job's last run as it was and moves only
    # its latest failure: a pass that read the row before it must not make the job
    # healthy again over the report's "degraded".
    ingest_reports(engine, [report()], received_at=naive(RAN))
    with engine.connect() as connection:
        (read,) = state_store._job_rows(connection, [("nightly", "web1")])
    late_failure = report(RAN - dt.timedelta(hours=1), status="failed")
    ingest_reports(engine, [late_failure], received_at=naive(RAN))
    assert row(engine)["state"] == "degraded"
    healthy = JobState("healthy", "stale", None, None, None, None)
    with engine.begin() as connection:
        written = state_store.store_decisions(
            connection, [state_store._update_values(read, healthy)]
        )
    assert written == 0
    assert row(engine)["state"] == "degraded"


def test_one_batch_stores_the_state_of_every_job_in_it(engine: Engine) -> None:
    jobs = [f"job{n}" for n in range(7)]
    batch = []
    for n, job in enumerate(jobs):
        document = make_report(job, started=RAN, schedule="0 2 * * *",
                               status="failed" if n % 2 else "success")  # fmt: skip
        document["timezone"] = "Europe/Berlin"
        batch.append(RunReport.model_validate(document))
    ingest_reports(engine, batch, received_at=naive(RAN))
    actions.apply(engine, "job0", "pause", "o'brien \\ 100%s")
    with engine.connect() as connection:
        found = connection.execute(select(tables.jobs.c.job, tables.jobs.c.state,
                                          tables.jobs.c.state_reason)).all()  # fmt: skip
    states = {job: state for job, state, _ in found}
    assert states == {job: "failing" if n % 2 else "healthy" for n, job in enumerate(jobs)} | {
        "job0": "paused"
    }
    reason = next(reason for job, _, reason in found if job == "job0")
    assert reason.startswith("paused by o'brien \\ 100%s at ")


def test_many_decisions_are_stored_each_on_its_own_row(engine: Engine) -> None:
    # More decisions than one UPDATE takes on MySQL, with values the escaping must get
    # right: each lands on its own row, and a stale one (its run replaced) on none.
    count = state_store.DECISIONS_PER_UPDATE * 2 + 7
    batch = [RunReport.model_validate(make_report(f"job{n:03d}", started=RAN))
             for n in range(count)]  # fmt: skip
    ingest_reports(engine, batch, received_at=naive(RAN))
    keys = [(f"job{n:03d}", "web1") for n in range(count)]
    with engine.connect() as connection:
        rows = state_store._job_rows(connection, keys)
    moment = dt.datetime(2030, 6, 10, 0, 0, 1, 654321)
    decided = {
        row["job"]: JobState("late", f"it's \\ 100%s {n} 🙂\x00", moment, None,
                             moment + dt.timedelta(microseconds=n), None)
        for n, row in enumerate(rows)
    }  # fmt: skip
    updates = [state_store._update_values(row, decided[row["job"]]) for row in rows]
    later = RAN + dt.timedelta(minutes=1)
    newer_run = RunReport.model_validate(make_report("job005", started=later))
    ingest_reports(engine, [newer_run], received_at=naive(later))
    with engine.begin() as connection:
        written = state_store.store_decisions(connection, updates)
    assert written == count - 1
    with engine.connect() as connection:
        after = state_store._job_rows(connection, keys)
    stored = {row["job"]: state_store._stored(row) for row in after}
    assert stored.pop("job005").state != "late"
    assert stored == {job: state for job, state in decided.items() if job != "job005"}


def test_decisions_for_much_of_the_table_lock_only_their_own_rows_on_mysql(
    mysql_engine: Engine,
) -> None:
    # bench/ingest.py's 212 jobs: with 100 of them in one UPDATE, MariaDB read the whole
    # primary key by cost, and at REPEATABLE READ kept every row it read locked until
    # commit, so concurrent ingests waited on rows of jobs they had nothing to do with.
    # Another connection shows which rows are locked: NOWAIT fails at once on one that is.
    clear_tables(mysql_engine)
    keys = [(f"job_{n:03d}", f"web{n % 8 + 1}") for n in range(212)]
    batch = [RunReport.model_validate(make_report(job, host=host, started=RAN))
             for job, host in keys]  # fmt: skip
    ingest_reports(mysql_engine, batch, received_at=naive(RAN))
    decided = sorted(keys)[: state_store.DECISIONS_PER_UPDATE]
    with mysql_engine.connect() as connection:
        rows = state_store._job_rows(connection, decided)
    late = JobState("late", "a test's decision", None, None, naive(RAN), None)
    updates = [state_store._update_values(row, late) for row in rows]
    with mysql_engine.begin() as writer, mysql_engine.connect() as probe:
        assert state_store.store_decisions(writer, updates) == len(decided)
        locked = [key for key in sorted(keys) if _locked(probe, key)]
    assert locked == decided


def _locked(connection: Connection, key: tuple[str, str]) -> bool:
    """Whether another transaction holds `key`'s jobs row (MariaDB 10.3+, MySQL 8)."""
    with connection.begin():
        try:
            connection.execute(text(
                "SELECT job FROM smartcron_jobs WHERE job = :job AND host = :host FOR UPDATE NOWAIT"
            ), {"job": key[0], "host": key[1]})  # fmt: skip
        except OperationalError:
            return True
    return False
