"""slots.next_slot against cron itself: across DST spring-forward and fall-back, the
instants it gives are exactly the instants cronie's main loop would run a job at
(tests/support/cronie.py, the oracle)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smartcron.wrapper.slots import ScheduleError, next_slot, next_slots, slots_between

from tests.support.cronie import SCHEDULES, UTC, ZONES, cronie_runs


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize(("zone_name", "spring", "fall"), ZONES)
def test_next_slot_is_what_cron_runs_across_both_changes(
    zone_name: str, spring: dt.datetime, fall: dt.datetime, schedule: str
) -> None:
    zone = ZoneInfo(zone_name)
    for start in (spring, fall):
        expected = cronie_runs(schedule, zone, start, hours=48)
        found = []
        moment = start
        while True:
            moment = next_slot(schedule, zone, moment)
            if moment > expected[-1]:
                break
            found.append(moment)
        assert found == expected, f"{schedule} in {zone_name} from {start}"


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize(("zone_name", "spring", "fall"), ZONES)
def test_slots_between_lists_what_cron_runs_across_both_changes(
    zone_name: str, spring: dt.datetime, fall: dt.datetime, schedule: str
) -> None:
    zone = ZoneInfo(zone_name)
    for start in (spring, fall):
        end = start + dt.timedelta(hours=48)
        found = slots_between(schedule, zone, start, end)
        assert found == cronie_runs(schedule, zone, start, hours=48), f"{schedule} from {start}"
        assert found == next_slots(schedule, zone, start, len(found)), "next_slot disagrees"


def test_slots_between_is_bounded_and_refuses_bad_schedules() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    day = slots_between("* * * * *", UTC, start, start + dt.timedelta(days=1))
    assert len(day) == 1440 and day[0] == start + dt.timedelta(minutes=1)
    assert day[-1] == start + dt.timedelta(days=1)  # the end is in, the start is not
    first = slots_between("* * * * *", UTC, start, start + dt.timedelta(days=1), limit=10)
    assert first == day[:10]
    with pytest.raises(ScheduleError):
        slots_between("61 * * * *", UTC, start, start + dt.timedelta(days=1))


def test_a_skipped_fixed_time_runs_right_after_the_jump() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    before = dt.datetime(2026, 3, 28, 12, tzinfo=UTC)
    # 02:30 does not exist on 29 March: cron runs the job at 03:00 CEST, 01:00 UTC.
    assert next_slot("30 2 * * *", berlin, before) == dt.datetime(2026, 3, 29, 1, tzinfo=UTC)
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    # 02:00 does not exist on 4 October (02:00 -> 02:30 +11): run at 02:30, 15:30 UTC.
    first = next_slot("0 2 * * *", lord_howe, dt.datetime(2026, 10, 3, 4, tzinfo=UTC))
    assert first.astimezone(lord_howe).strftime("%H:%M %z") == "02:30 +1100"


def test_a_repeated_time_runs_once_for_fixed_jobs_and_twice_for_wildcards() -> None:
    new_york = ZoneInfo("America/New_York")
    before = dt.datetime(2026, 10, 31, 18, tzinfo=UTC)
    daily = next_slots("30 1 * * *", new_york, before, 2)
    assert [d.astimezone(new_york).strftime("%d %H:%M %z") for d in daily] == [
        "01 01:30 -0400", "02 01:30 -0500"
    ]  # fmt: skip
    quarter = next_slots("*/30 * * * *", new_york, dt.datetime(2026, 11, 1, 4, 45, tzinfo=UTC), 5)
    assert [q.astimezone(new_york).strftime("%H:%M %z") for q in quarter] == [
        "01:00 -0400", "01:30 -0400", "01:00 -0500", "01:30 -0500", "02:00 -0500"
    ]  # fmt: skip


def test_inside_the_second_pass_of_a_repeated_hour_the_next_slot_is_not_in_the_past() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    second_pass = dt.datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET, the second time
    assert next_slot("*/15 * * * *", berlin, second_pass) == dt.datetime(
        2026, 10, 25, 1, 15, tzinfo=UTC
    )
    # The fixed-time job ran at the first 02:30 already: next is tomorrow's.
    assert next_slot("30 2 * * *", berlin, second_pass) == dt.datetime(
        2026, 10, 26, 1, 30, tzinfo=UTC
    )


@pytest.mark.parametrize("bad", ["", "61 * * * *", "* * * *", "0 0 * * * *", "@reboot", "junk"])
def test_bad_schedules_are_refused(bad: str) -> None:
    with pytest.raises(ScheduleError):
        next_slot(bad, ZoneInfo("UTC"), dt.datetime(2026, 1, 1, tzinfo=UTC))


# Zones with a clock change, and the moments of some of their changes (UTC).
CHANGES = [(zone, moment) for zone, spring, fall in ZONES for moment in (spring, fall)] + [
    ("Europe/London", dt.datetime(2026, 3, 28, 20, tzinfo=UTC)),
    ("America/Santiago", dt.datetime(2026, 4, 4, 20, tzinfo=UTC)),
    ("Asia/Tehran", dt.datetime(2022, 9, 20, 12, tzinfo=UTC)),
]
FIELD = st.one_of(
    st.just("*"), st.integers(2, 30).map(lambda k: f"*/{k}"), st.integers(0, 59).map(str)
)
HOUR = st.one_of(
    st.just("*"), st.integers(2, 6).map(lambda k: f"*/{k}"), st.integers(0, 23).map(str),
    st.tuples(st.integers(0, 3), st.integers(1, 3)).map(lambda p: f"{p[0]}-{p[0] + p[1]}"),
)  # fmt: skip


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(
    change=st.sampled_from(CHANGES),
    minute=FIELD.filter(lambda f: not f.isdigit() or int(f) < 60),
    hour=HOUR,
    lead=st.integers(0, 6 * 60),
)
def test_any_schedule_near_any_change_runs_when_cron_would(
    change: tuple[str, dt.datetime], minute: str, hour: str, lead: int
) -> None:
    zone_name, moment = change
    zone = ZoneInfo(zone_name)
    start = moment - dt.timedelta(minutes=lead)
    expected = cronie_runs(f"{minute} {hour} * * *", zone, start, hours=8)
    found = []
    at = start
    while expected:
        at = next_slot(f"{minute} {hour} * * *", zone, at)
        if at > expected[-1]:
            break
        found.append(at)
    assert found == expected
