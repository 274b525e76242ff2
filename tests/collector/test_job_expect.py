"""A job's `expect` (grace, minimum and maximum duration, consecutive failures) on its
row, on SQLite and MySQL: stored from the newest run that carries one, kept when a
report carries none (an older wrapper's, a lost run's), refused when out of bounds;
the grace in the state (missed after it), with the agent's runs in flight making a
job that did not start late at its grace; the API and the job page showing them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
from smartcron.collector import heartbeats, queries
from smartcron.collector.db import tables
from smartcron.collector.ingest import ingest_reports
from smartcron.collector.state_store import evaluate_due, refresh_states
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, select

from tests.support.service import Service, make_report

UTC = dt.timezone.utc
# An hourly job's run at 10:00:01 UTC on 10 June 2030, ten seconds long.
RAN = dt.datetime(2030, 6, 10, 10, 0, 1, tzinfo=UTC)
DUE = dt.datetime(2030, 6, 10, 11, 0)  # the next run, naive UTC as stored
MINUTE = dt.timedelta(minutes=1)
EXPECT = ("grace_s", "min_duration_s", "max_duration_s", "alert_after")


def report(started: dt.datetime = RAN, expect: Any = "absent", **fields: Any) -> RunReport:
    fields.setdefault("duration_s", 10.0)
    document = make_report("hourly", started=started, schedule="0 * * * *", **fields)
    if expect != "absent":
        document["expect"] = expect
    return RunReport.model_validate(document)


def row(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        found = connection.execute(select(tables.jobs).where(tables.jobs.c.job == "hourly"))
        return dict(found.one()._mapping)


def expect_of(engine: Engine) -> tuple[Any, ...]:
    stored = row(engine)
    return tuple(stored[name] for name in EXPECT)


def at(started: dt.datetime, duration_s: float = 10.0) -> dt.datetime:
    """When the run's report is received: a minute after it ended."""
    ended = started + dt.timedelta(seconds=duration_s)
    return ended.astimezone(UTC).replace(tzinfo=None) + MINUTE


def test_the_newest_run_that_carries_expect_sets_it(engine: Engine) -> None:
    ingest_reports(engine, [report()], at(RAN))  # an older wrapper's: the defaults
    assert expect_of(engine) == (None, None, None, 3)

    full = {"grace_s": 600.0, "min_duration_s": 0.1, "max_duration_s": 5400.0, "alert_after": 5}
    second = RAN + dt.timedelta(hours=1)
    ingest_reports(engine, [report(second, full)], at(second))
    assert expect_of(engine) == (600.0, 0.1, 5400.0, 5)  # 0.1 exactly: a DOUBLE

    # A run that came late, older than the one stored, changes nothing ...
    ingest_reports(engine, [report(RAN + MINUTE, {"grace_s": 60.0})], at(second))
    assert expect_of(engine) == (600.0, 0.1, 5400.0, 5)
    # ... a report without expect (a lost run's) keeps it ...
    third = second + dt.timedelta(hours=1)
    ingest_reports(engine, [report(third, status="lost")], at(third))
    assert expect_of(engine) == (600.0, 0.1, 5400.0, 5)
    # ... and a line that sets none any more gives the defaults back.
    fourth = third + dt.timedelta(hours=1)
    ingest_reports(engine, [report(fourth, {})], at(fourth))
    assert expect_of(engine) == (None, None, None, 3)


def test_a_skipped_run_carries_the_lines_expect_too(engine: Engine) -> None:
    # A skip is not a run (it leaves the last outcome alone) but it is the line as it is.
    ingest_reports(engine, [report(status="skipped_locked", expect={"alert_after": 7})], at(RAN))
    assert expect_of(engine) == (None, None, None, 7)
    later = RAN + dt.timedelta(hours=1)
    ingest_reports(engine, [report(later, status="skipped_breaker")], at(later))
    assert expect_of(engine) == (None, None, None, 7)  # no expect: kept
    latest = later + dt.timedelta(hours=1)
    ingest_reports(engine, [report(latest, {"grace_s": 90.0}, status="skipped_paused")],
                   at(latest))  # fmt: skip
    assert expect_of(engine) == (90.0, None, None, 3)
    assert row(engine)["last_status"] is None


@pytest.mark.parametrize(
    ("expect", "error"),
    [
        ({"grace_s": 0}, "expect.grace_s: Input should be greater than 0"),
        ({"grace_s": -5}, "expect.grace_s: Input should be greater than 0"),
        ({"max_duration_s": 2e9}, "expect.max_duration_s: Input should be less than or equal"),
        ({"alert_after": 0}, "expect.alert_after: Input should be greater than or equal to 1"),
        ({"alert_after": "3"}, "expect.alert_after: Input should be a valid integer"),
        ({"min_duration_s": 60, "max_duration_s": 30},
         "expect: Value error, min_duration_s (60) is above max_duration_s (30)"),
        ("10m", "expect: Input should be an object"),
    ],
)  # fmt: skip
def test_the_service_refuses_an_expect_out_of_bounds_and_keeps_the_rest(
    collector: Service, expect: Any, error: str
) -> None:
    good = make_report("fine")
    bad = make_report("hourly") | {"expect": expect}
    answer = collector.post_runs([bad, good])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 1
    [rejected] = body["rejected"]
    assert rejected["index"] == 0 and rejected["error"].startswith(f"runs[0].{error}"), rejected


def test_unknown_keys_in_expect_are_taken_and_ignored(collector: Service) -> None:
    # A newer wrapper may add one within schema 1 (DESIGN.md, "Growing the contract").
    document = make_report("newer") | {"expect": {"grace_s": 120, "jitter_s": 30}}
    answer = collector.post_runs([document])
    assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text
    [job] = collector.get("/api/v1/jobs/newer").json()["hosts"]
    assert job["expect"]["grace_s"] == 120.0


# ---------------------------------------------------------------- the grace in the state


def beat(running: list[dict[str, Any]], total: int | None = None) -> heartbeats.Heartbeat:
    body: dict[str, Any] = {"host": "web1", "running": running}
    if total is not None:
        body["running_total"] = total
    return heartbeats.Heartbeat.model_validate(body)


def in_flight(started: dt.datetime) -> dict[str, Any]:
    return {"job": "hourly", "pid": 4242, "started_at": started.isoformat() + "Z"}


def test_the_lines_grace_decides_when_the_run_is_missed(engine: Engine) -> None:
    first = report(expect={"grace_s": 1200.0})
    ingest_reports(engine, [first], at(RAN))
    # No agent lists the job's runs: the last run's 10 s are added to the 20 minutes.
    assert row(engine)["late_after_at"] == DUE + 20 * MINUTE + dt.timedelta(seconds=10)
    again = report(expect={}, run_id=str(first.run_id))
    ingest_reports(engine, [again], at(RAN))  # a duplicate: nothing changes
    assert row(engine)["late_after_at"] == DUE + 20 * MINUTE + dt.timedelta(seconds=10)


def test_once_the_agent_lists_a_jobs_runs_one_not_listed_has_not_started(engine: Engine) -> None:
    long_run = report(duration_s=2400.0)  # 40 minutes: the report of the next may come late
    ingest_reports(engine, [long_run], at(RAN, 2400.0))
    assert row(engine)["late_after_at"] == DUE + 6 * MINUTE + 40 * MINUTE

    # The agent lists the 11:00 run in flight: the job's runs are ones it sees, so a
    # run it does not list has not started, and the grace alone counts ...
    heartbeats.store_heartbeat(engine, beat([in_flight(DUE)]), now=DUE + MINUTE)
    stored = row(engine)
    assert stored["in_flight_seen_at"] == DUE + MINUTE
    assert (stored["state"], stored["late_after_at"]) == ("healthy", DUE + 6 * MINUTE)
    # ... and running past its grace, the job is running, not missed.
    heartbeats.store_heartbeat(engine, beat([in_flight(DUE)]), now=DUE + 30 * MINUTE)
    stored = row(engine)
    assert (stored["state"], stored["missed_at"]) == ("running", DUE)

    # The next slot, 12:00: the run ended (its report came), the 12:00 run never started.
    ended = report(dt.datetime(2030, 6, 10, 11, 0, 1, tzinfo=UTC), duration_s=2400.0)
    ingest_reports(engine, [ended], DUE + 41 * MINUTE)
    noon = DUE + dt.timedelta(hours=1)
    heartbeats.store_heartbeat(engine, beat([]), now=noon + MINUTE)
    stored = row(engine)
    # The agent lists every run on the host and not this one: late at the grace alone.
    assert (stored["state"], stored["late_after_at"]) == ("healthy", noon + 6 * MINUTE)
    heartbeats.store_heartbeat(engine, beat([]), now=noon + 5 * MINUTE)
    evaluate_due(engine, noon + 6 * MINUTE)
    stored = row(engine)
    assert (stored["state"], stored["missed_at"]) == ("late", noon)


def test_a_heartbeat_that_lists_only_some_runs_is_no_proof_a_run_did_not_start(
    engine: Engine,
) -> None:
    ingest_reports(engine, [report(duration_s=2400.0)], at(RAN, 2400.0))
    heartbeats.store_heartbeat(engine, beat([in_flight(DUE)]), now=DUE + MINUTE)
    # 150 runs in flight on the host, 100 sent: this job's may be among those left out.
    ended = report(dt.datetime(2030, 6, 10, 11, 0, 1, tzinfo=UTC), duration_s=2400.0)
    ingest_reports(engine, [ended], DUE + 41 * MINUTE)
    noon = DUE + dt.timedelta(hours=1)
    others = [in_flight(noon) | {"job": f"other{n}"} for n in range(100)]
    heartbeats.store_heartbeat(engine, beat(others, total=150), now=noon + MINUTE)
    assert row(engine)["late_after_at"] == noon + 6 * MINUTE + 40 * MINUTE
    heartbeats.store_heartbeat(engine, beat([]), now=noon + 2 * MINUTE)  # all of them: none
    assert row(engine)["late_after_at"] == noon + 6 * MINUTE
    # And a heartbeat gone stale (the agent stopped) proves nothing either.
    stale = noon + 2 * MINUTE + heartbeats.FRESH_FOR + MINUTE
    with engine.begin() as connection:
        refresh_states(connection, [("hourly", "web1")], stale)
    stored = row(engine)
    assert (stored["state"], stored["late_after_at"]) == ("healthy", noon + 46 * MINUTE)


# ---------------------------------------------------------------- the API and the page


def test_the_api_and_the_job_page_show_them(collector: Service) -> None:
    started = dt.datetime.now(UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    expect = {"min_duration_s": 2.0, "max_duration_s": 3600.0, "alert_after": 4}
    documents = [
        make_report("hourly", started=started, schedule="0 * * * *") | {"expect": expect},
        make_report("tight", started=started, schedule="0 * * * *") | {"expect": {"grace_s": 90.0}},
        make_report("older", started=started, schedule=None),
    ]
    assert collector.post_runs(documents).status_code == 200
    [hourly] = collector.get("/api/v1/jobs/hourly").json()["hosts"]
    assert hourly["expect"] == {
        "grace_s": None, "grace_default": True, "grace_applied_s": 360.0,  # a tenth of the hour
        "min_duration_s": 2.0, "max_duration_s": 3600.0, "alert_after": 4,
    }  # fmt: skip
    assert not set(EXPECT) & set(hourly), "the values are under expect only"
    listed = {item["job"]: item for item in collector.get("/api/v1/jobs").json()["jobs"]}
    assert listed["tight"]["expect"]["grace_s"] == 90.0
    assert listed["tight"]["expect"]["grace_applied_s"] == 90.0
    assert listed["tight"]["expect"]["grace_default"] is False
    assert listed["older"]["expect"] == {
        "grace_s": None, "grace_default": True, "grace_applied_s": None,
        "min_duration_s": None, "max_duration_s": None, "alert_after": 3,
    }  # fmt: skip

    html = page_text(collector, "/jobs/hourly")
    assert "Grace 6m (default: the larger of 5m and 10 % of the interval)" in html
    assert "Expected duration at least 2s, at most 1h" in html
    assert "Alert after 4 consecutive failures" in html
    assert "Grace 1m30s (set on the line)" in page_text(collector, "/jobs/tight")
    older = page_text(collector, "/jobs/older")
    assert "Grace - (no schedule: missed runs are not checked)" in older
    assert "Expected duration not set" in older and "Alert after 3 consecutive failures" in older


def page_text(service: Service, path: str) -> str:
    """The page's text as a reader sees it: tags out, white space folded."""
    import html
    import re

    answer = requests.get(f"{service.url}{path}", timeout=30, headers={
        "Accept": "text/html", "Authorization": f"Bearer {service.admin_token}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    text = re.sub(r"<[^>]+>", " ", answer.text)
    return " ".join(html.unescape(text).split())


def test_describe_jobs_gives_the_expect_of_rows_from_before_revision_0013(engine: Engine) -> None:
    # Rows the upgrade gave defaults to read like those of reports without expect.
    ingest_reports(engine, [report()], at(RAN))
    [item] = queries.jobs(engine, "hourly")
    assert item["expect"]["alert_after"] == 3 and item["expect"]["grace_default"] is True
