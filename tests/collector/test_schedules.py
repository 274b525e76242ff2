"""collector/schedules.py: a schedule in words, the next runs in the job's zone by cron's
rules at clock changes, and which slots of the run timeline no run started for. The
clock is passed in; nothing waits."""

from __future__ import annotations

import datetime as dt

import pytest
from smartcron.collector.schedules import describe, timeline, upcoming

MIN = dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ("30 2 * * *", "At 02:30"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("0 * * * 1-5", "Every hour, Monday through Friday"),
        ("0 22 * * mon-fri", "At 22:00, Monday through Friday"),
        ("5 4 * * 0", "At 04:05, only on Sunday"),
        ("5 4 * * 7", "At 04:05, only on Sunday"),  # cron's other Sunday
        ("@daily", "At 00:00"),  # macros as cron spells them out
        ("@hourly", "Every hour"),
        # cron's rule: with both day fields restricted, either one matching runs the job
        ("0 9 1 * 1", "At 09:00, on day 1 of the month, or on Monday"),
        ("0 0 29 2 *", "At 00:00, on day 29 of the month, only in February"),
    ],
)
def test_a_schedule_in_words(schedule: str, words: str) -> None:
    assert describe(schedule) == words


@pytest.mark.parametrize("bad", [None, "", "61 * * * *", "every day", "* * * *"])
def test_no_words_for_what_is_no_schedule(bad: str | None) -> None:
    assert describe(bad) is None


def test_the_next_five_runs_follow_cron_across_spring_forward_in_berlin() -> None:
    # 2026-03-29: at 02:00 CET the clock jumps to 03:00 CEST; 02:30 does not exist.
    now = dt.datetime(2026, 3, 27, 12, 0)
    assert upcoming("30 2 * * *", "Europe/Berlin", now) == [
        dt.datetime(2026, 3, 28, 1, 30),  # 02:30 CET
        dt.datetime(2026, 3, 29, 1, 0),  # skipped: once, right after the jump (03:00 CEST)
        dt.datetime(2026, 3, 30, 0, 30),  # 02:30 CEST
        dt.datetime(2026, 3, 31, 0, 30),
        dt.datetime(2026, 4, 1, 0, 30),
    ]


def test_the_next_runs_in_new_york_at_fall_back_run_a_fixed_time_once() -> None:
    # 2026-11-01: 01:00-02:00 EDT happens again as EST; a 01:30 job runs once, the first.
    now = dt.datetime(2026, 10, 31, 12, 0)
    assert upcoming("30 1 * * *", "America/New_York", now, count=2) == [
        dt.datetime(2026, 11, 1, 5, 30),  # 01:30 EDT
        dt.datetime(2026, 11, 2, 6, 30),  # 01:30 EST
    ]
    # A wildcard job runs at every real instant whose clock matches: the repeated hour twice.
    hourly = upcoming("30 * * * *", "America/New_York", dt.datetime(2026, 11, 1, 4, 0), 3)
    assert hourly == [dt.datetime(2026, 11, 1, h, 30) for h in (4, 5, 6)]


def test_no_next_runs_without_a_readable_schedule_or_zone() -> None:
    now = dt.datetime(2026, 1, 1)
    assert upcoming(None, "UTC", now) == []
    assert upcoming("nonsense", "UTC", now) == []
    assert upcoming("0 * * * *", "Mars/Olympus_Mons", now) == []


def test_a_slot_with_no_run_started_for_it_is_missed() -> None:
    now = dt.datetime(2026, 1, 1, 6, 10)
    # Hourly; the 02:00 and 03:00 runs never came, the 05:00 one started a bit late.
    runs = [dt.datetime(2026, 1, 1, h, 0, 2) for h in (0, 1, 4)] + [dt.datetime(2026, 1, 1, 5, 7)]
    found = timeline("0 * * * *", "UTC", runs, now)
    assert found is not None
    assert found.missed == [dt.datetime(2026, 1, 1, 2), dt.datetime(2026, 1, 1, 3)]
    # 00:00 to 05:00 judged; 06:00, the latest, is the state's to call late or not.
    assert found.slots == 6
    assert found.start == runs[0] and found.runs == runs


def test_a_run_started_a_little_early_or_late_still_counts() -> None:
    now = dt.datetime(2026, 1, 1, 3, 30)
    # The host's clock is 20 s ahead; one run waited 40 minutes for its lock or --jitter.
    runs = [dt.datetime(2026, 1, 1, 0, 59, 40), dt.datetime(2026, 1, 1, 2, 40)]
    found = timeline("0 * * * *", "UTC", runs, now)
    assert found is not None and found.missed == []
    # A run one minute before the next slot belongs to the next slot: 01:00 is missed.
    runs = [dt.datetime(2026, 1, 1, 1, 0), dt.datetime(2026, 1, 1, 2, 59, 30)]
    found = timeline("0 * * * *", "UTC", runs, now)
    assert found is not None and found.missed == [dt.datetime(2026, 1, 1, 2)]


def test_missed_slots_follow_the_zone_at_a_clock_change() -> None:
    # 30 2 * * * in Berlin across 2026-03-29, when 02:30 is skipped: cron runs it at
    # 03:00 CEST (01:00 UTC), so a run then is no miss, and nothing else was due.
    runs = [dt.datetime(2026, 3, 28, 1, 30, 1), dt.datetime(2026, 3, 29, 1, 0, 1)]
    found = timeline("30 2 * * *", "Europe/Berlin", runs, dt.datetime(2026, 3, 30, 1))
    assert found is not None and found.missed == []
    # Without the run on the 29th, that day's slot (01:00 UTC) is the one missed.
    found = timeline("30 2 * * *", "Europe/Berlin", runs[:1], dt.datetime(2026, 3, 30, 1))
    assert found is not None and found.missed == [dt.datetime(2026, 3, 29, 1, 0)]


def test_a_job_that_never_ran_misses_every_slot_since_it_was_first_seen() -> None:
    seen = dt.datetime(2026, 1, 1, 0, 5)
    found = timeline("*/15 * * * *", "UTC", [], dt.datetime(2026, 1, 1, 1, 20), since=seen)
    assert found is not None
    # 01:15's turn is not over at 01:20: the state module calls that one late, or not.
    assert found.missed == [dt.datetime(2026, 1, 1, 0, m) for m in (15, 30, 45)] + [
        dt.datetime(2026, 1, 1, 1, 0)
    ]
    assert timeline(None, "UTC", [seen], seen + MIN) is None
    assert timeline("*/15 * * * *", "UTC", [], seen + MIN) is None  # nothing to start from
