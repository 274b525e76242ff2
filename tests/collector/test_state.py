"""state.decide_state on an injected clock: a job's state, next expected run and late
moment in its own zone, across DST changes, with no false "late" and no slot skipped;
the grace (the line's, or the larger of 5 minutes and 10 % of the interval) and the
allowance for a run whose report is still on its way."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from smartcron.collector.state import (
    DEGRADED_FOR,
    JobFacts,
    decide_state,
    run_grace,
    shown,
    slot_of_run,
)

from tests.support.cronie import SCHEDULES, ZONES, cronie_runs

UTC = dt.timezone.utc
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)
LAST_DURATION = dt.timedelta(seconds=30)  # facts()'s: no agent lists runs, so it is added


def naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def facts(**changes: object) -> JobFacts:
    base: dict[str, object] = {
        "schedule": "0 2 * * *", "timezone": "Europe/Berlin",
        "first_seen_at": dt.datetime(2026, 1, 1), "last_status": "success",
        "last_started_at": dt.datetime(2026, 6, 10, 0, 0, 1), "last_duration_s": 30.0,
    }  # fmt: skip
    return JobFacts(**(base | changes))  # type: ignore[arg-type]


def test_a_berlin_2am_job_is_not_late_all_day() -> None:
    # The old collector read the schedule as UTC: after 02:00 UTC the job looked late
    # for the 23 hours until its next real run at 02:00 CEST (00:00 UTC).
    job = facts()
    for hour in range(24):
        now = dt.datetime(2026, 6, 10, hour, 30)
        decided = decide_state(job, now)
        assert decided.state == "healthy", (now, decided)
        assert decided.next_expected_at == dt.datetime(2026, 6, 11, 0, 0)
    # A daily job's grace: a tenth of the day, 2h24m, and the last run's 30 seconds.
    late_at = dt.datetime(2026, 6, 11, 2, 24, 30)
    assert decide_state(job, late_at - SECOND).state == "healthy"
    late = decide_state(job, late_at)
    assert (late.state, late.missed_at) == ("late", dt.datetime(2026, 6, 11, 0, 0))


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize(("zone_name", "spring", "fall"), ZONES)
def test_across_dst_changes_no_false_late_and_no_skipped_slot(
    zone_name: str, spring: dt.datetime, fall: dt.datetime, schedule: str
) -> None:
    """Walk every run cron makes across each change: after each run the job is healthy
    until the grace of the next real run is out, and late the moment it is, owing
    exactly that run. The grace is a tenth of the time from that run to cron's run
    after it (at least 5 minutes), as cronie makes them: across the change too."""
    zone = ZoneInfo(zone_name)
    for start in (spring, fall):
        runs = [naive(r) for r in cronie_runs(schedule, zone, start, hours=56)]
        walked = [r for r in runs if r < naive(start) + dt.timedelta(hours=30)]
        for ran, following, after in zip(walked, runs[1:], runs[2:], strict=False):
            job = facts(schedule=schedule, timezone=zone_name, last_started_at=ran + SECOND)
            late_at = following + max(5 * MINUTE, (after - following) / 10) + LAST_DURATION
            for now in (ran + 2 * SECOND, following, late_at - SECOND):
                decided = decide_state(job, now)
                assert decided.state == "healthy", (schedule, zone_name, ran, now, decided)
                assert decided.next_expected_at == following
                assert decided.late_after_at == late_at
            decided = decide_state(job, late_at)
            assert (decided.state, decided.missed_at) == ("late", following), (schedule, ran)
            assert decided.next_expected_at is not None and decided.next_expected_at > late_at


def test_a_late_job_expects_its_next_run_after_now_and_is_reviewed_then() -> None:
    job = facts(schedule="*/15 * * * *", last_started_at=dt.datetime(2026, 6, 10, 10, 0, 2))
    now = dt.datetime(2026, 6, 10, 11, 7)
    decided = decide_state(job, now)
    assert decided.state == "late"
    assert decided.missed_at == dt.datetime(2026, 6, 10, 10, 15)
    assert decided.next_expected_at == dt.datetime(2026, 6, 10, 11, 15)
    assert decided.review_at == decided.next_expected_at
    assert "one was due at 2026-06-10 12:15 CEST (10:15 UTC)" in decided.reason


def test_states_in_order_of_precedence() -> None:
    now = dt.datetime(2026, 6, 10, 12)
    failed_at = now - dt.timedelta(hours=3)
    assert decide_state(facts(last_failure_at=failed_at), now).state == "degraded"
    degraded = decide_state(facts(schedule=None, last_failure_at=failed_at), now)
    assert degraded.review_at == failed_at + DEGRADED_FOR  # when the failure ages out
    assert decide_state(facts(last_failure_at=now - DEGRADED_FOR), now).state == "healthy"
    # A failure dated past what ingest accepts (a wrong clock's, stored before that
    # refusal) is not one of the last 24 hours.
    assert decide_state(facts(last_failure_at=now + dt.timedelta(days=365)), now).state == (
        "healthy"
    )
    failing = decide_state(facts(last_status="timeout"), now)
    assert failing.state == "failing" and "last run timeout at" in failing.reason
    assert decide_state(facts(breaker_state="open"), now).state == "failing"
    old = dt.datetime(2026, 6, 1)
    assert decide_state(facts(last_started_at=old), now).state == "late"
    running = decide_state(facts(last_started_at=old, running_since=now), now)
    assert running.state == "running" and "running since" in running.reason
    paused = decide_state(facts(last_started_at=old, paused=True, paused_by="alice"), now)
    assert (paused.state, paused.review_at, paused.next_expected_at) == ("paused", None, None)
    assert paused.reason.startswith("paused by alice")


def test_a_running_job_is_reviewed_when_the_heartbeat_saying_so_goes_stale() -> None:
    now = dt.datetime(2026, 6, 10, 12)
    stale_at = now + dt.timedelta(minutes=5)
    job = facts(last_started_at=dt.datetime(2026, 6, 1), running_since=now,
                running_seen_until=stale_at)  # fmt: skip
    running = decide_state(job, now)
    # Time alone changes this decision then (the agent may have died): review it.
    assert (running.state, running.review_at) == ("running", stale_at)
    gone = dataclasses.replace(job, running_since=None, running_seen_until=None)
    assert decide_state(gone, stale_at).state == "late"


def test_a_job_that_never_ran_owes_the_first_run_after_it_was_seen() -> None:
    job = facts(last_status=None, last_started_at=None, last_duration_s=None,
                first_seen_at=dt.datetime(2026, 6, 10, 9))  # fmt: skip
    assert decide_state(job, dt.datetime(2026, 6, 10, 12)).state == "healthy"
    assert decide_state(job, dt.datetime(2026, 6, 11, 2, 23, 59)).state == "healthy"
    late = decide_state(job, dt.datetime(2026, 6, 11, 2, 24))  # no last duration to add
    assert late.state == "late" and late.reason.startswith("never ran; one was due at")


def test_an_unreadable_schedule_or_zone_is_never_late() -> None:
    now = dt.datetime(2030, 1, 1)
    for job in (facts(schedule="not cron"), facts(timezone="Mars/Olympus"), facts(schedule=None)):
        decided = decide_state(job, now)
        assert (decided.state, decided.next_expected_at, decided.late_after_at) == (
            "healthy", None, None
        )  # fmt: skip
    # ... but it says so, rather than look checked.
    unknown = decide_state(facts(timezone="Mars/Olympus"), now).reason
    assert unknown == (
        "last run succeeded; lateness not checked: schedule '0 2 * * *' in zone Mars/Olympus "
        "cannot be read here"
    )
    assert decide_state(facts(schedule=None), now).reason == "last run succeeded"


def test_without_an_agent_a_long_job_is_not_missed_while_its_report_may_be_on_the_way() -> None:
    # Hourly, the last run took 30 minutes: the 11:00 run's report may come at 11:30
    # and later; late after the grace (6 minutes, a tenth of the hour) and those 30.
    job = facts(
        schedule="0 * * * *", last_started_at=dt.datetime(2026, 6, 10, 10), last_duration_s=1800
    )
    late_at = dt.datetime(2026, 6, 10, 11, 36)
    assert decide_state(job, late_at - SECOND).state == "healthy"
    late = decide_state(job, late_at)
    assert (late.state, late.missed_at) == ("late", dt.datetime(2026, 6, 10, 11))


def test_where_the_agent_lists_runs_a_job_that_did_not_start_is_late_after_its_grace() -> None:
    start = dt.datetime(2026, 6, 10, 10)
    watched = facts(schedule="0 * * * *", last_started_at=start, last_duration_s=1800,
                    runs_seen=True)  # fmt: skip
    due = dt.datetime(2026, 6, 10, 11)
    assert decide_state(watched, due + 6 * MINUTE - SECOND).state == "healthy"
    missed = decide_state(watched, due + 6 * MINUTE)
    assert (missed.state, missed.missed_at, missed.late_after_at) == (
        "late", due, due + 6 * MINUTE
    )  # fmt: skip
    # ... and the same job with its 11:00 run in flight, three hours long, is running.
    running = dataclasses.replace(watched, running_since=due + SECOND)
    for now in (due + 6 * MINUTE, due + dt.timedelta(hours=3)):
        decided = decide_state(running, now)
        assert decided.state == "running", (now, decided)
        assert "running since 2026-06-10 13:00 CEST (11:00 UTC)" in decided.reason


def test_the_default_grace_is_a_tenth_of_the_time_to_the_next_run_at_least_5_minutes() -> None:
    # 09:00 and 17:00 in Berlin (07:00, 15:00 UTC): 8 hours to the next run from 09:00,
    # 16 from 17:00. Every minute: five minutes, not six seconds.
    cases = [
        ("0 9,17 * * *", dt.datetime(2026, 6, 10, 6), dt.datetime(2026, 6, 10, 7), 48 * MINUTE),
        ("0 9,17 * * *", dt.datetime(2026, 6, 10, 8), dt.datetime(2026, 6, 10, 15), 96 * MINUTE),
        ("* * * * *", dt.datetime(2026, 6, 10, 8), dt.datetime(2026, 6, 10, 8, 1), 5 * MINUTE),
        (
            "0 0 1 * *",
            dt.datetime(2026, 6, 10),
            dt.datetime(2026, 6, 30, 22),
            dt.timedelta(days=31) / 10,
        ),
    ]
    for schedule, last, due, expected in cases:
        job = facts(schedule=schedule, last_started_at=last, last_duration_s=None)
        decided = decide_state(job, last + SECOND)
        assert (decided.next_expected_at, decided.late_after_at) == (due, due + expected), schedule


def test_the_lines_grace_replaces_the_default() -> None:
    job = facts(schedule="0 2 * * *", grace_s=600.0, runs_seen=True)
    due = dt.datetime(2026, 6, 11, 0, 0)
    assert decide_state(job, due).late_after_at == due + 10 * MINUTE
    assert decide_state(job, due + 10 * MINUTE).state == "late"
    # A grace as long as the design's largest still gives a time (or none), never an error.
    endless = decide_state(facts(grace_s=1e9), dt.datetime(2030, 1, 1))
    assert endless.state == "healthy"


def test_times_are_shown_in_the_zone_and_in_utc() -> None:
    moment = dt.datetime(2026, 3, 29, 1, 0)
    assert shown(moment, "Europe/Berlin") == "2026-03-29 03:00 CEST (01:00 UTC)"
    assert shown(moment, None) == "2026-03-29 01:00 UTC"
    assert shown(dt.datetime(2026, 3, 28, 23, 30), "Europe/Berlin") == (
        "2026-03-29 00:30 CET (2026-03-28 23:30 UTC)"
    )


@pytest.mark.parametrize(
    ("schedule", "zone", "started", "slot", "expected"),
    [
        # Each run has its own slot's grace: 09:00's next run is 8 h on, 17:00's 16 h.
        ("0 9,17 * * *", None, dt.datetime(2030, 6, 10, 9, 0, 20), dt.datetime(2030, 6, 10, 9, 0),
         48 * MINUTE),
        ("0 9,17 * * *", None, dt.datetime(2030, 6, 10, 17, 2), dt.datetime(2030, 6, 10, 17, 0),
         96 * MINUTE),
        # A weekly job found a week back; its grace is a tenth of the week.
        ("0 3 * * 1", None, dt.datetime(2030, 6, 12, 1, 0), dt.datetime(2030, 6, 10, 3, 0),
         dt.timedelta(hours=16.8)),
        # Berlin's spring forward: 02:30 does not exist, cron runs it at 03:00 CEST
        # (01:00 UTC), and the next run is 23 hours later.
        ("30 2 * * *", "Europe/Berlin", dt.datetime(2030, 3, 31, 1, 0, 5),
         dt.datetime(2030, 3, 31, 1, 0), dt.timedelta(hours=2.35)),
        # Every minute: the run's own minute, and the floor of five minutes.
        ("* * * * *", None, dt.datetime(2030, 6, 10, 9, 0, 59), dt.datetime(2030, 6, 10, 9, 0),
         5 * MINUTE),
    ],
)  # fmt: skip
def test_a_run_in_flight_has_the_grace_of_its_own_slot(
    schedule: str, zone: str | None, started: dt.datetime, slot: dt.datetime,
    expected: dt.timedelta,
) -> None:  # fmt: skip
    assert slot_of_run(schedule, zone, started) == slot
    assert run_grace(schedule, zone, None, started) == expected


def test_a_run_in_flight_takes_the_lines_grace_or_the_floor() -> None:
    started = dt.datetime(2030, 6, 10, 9, 0, 20)
    assert run_grace("0 9,17 * * *", None, 90.0, started) == 90 * SECOND
    assert run_grace(None, None, None, started) == 5 * MINUTE, "no schedule: the floor"
    assert run_grace("61 * * * *", None, None, started) == 5 * MINUTE, "unreadable: the floor"
    assert slot_of_run("0 9 * * *", None, dt.datetime(2030, 6, 10, 8, 0)) == dt.datetime(
        2030, 6, 9, 9, 0
    ), "before today's slot: yesterday's"
