"""Whether a --grace is so long that a missed run would go unnoticed.

The collector calls a run missed when no run started by its slot plus its grace
(collector/state.py), and any later run makes the job owe the slot after that one.
So a grace longer than every gap between the schedule's slots means the next run
always comes before the grace is out: one missed run is never noticed, only a
silence of the whole grace (`* * * * *` with `--grace 99d`). That can be meant, and
lines like it ran yesterday, so it is a warning (in --dry-run, and at a start from a
terminal), never a refusal.

The default grace reaches past the next run only by its five-minute floor
(expect.py); a grace within that floor is never warned about.
"""

from __future__ import annotations

import datetime as dt

from .expect import GRACE_FLOOR_S, default_grace_s
from .slots import ScheduleError, load_zone, next_slot
from .validate import format_duration

# The gaps are looked for by sampling: from points an eighth of the grace apart, the
# time to the next slot. Every gap that starts within the samples' span is then seen
# to within that step, so a warning is given only when every gap is surely shorter
# than the grace (never a false one); a gap within an eighth of the grace of it may
# go unwarned.
STEPS_PER_GRACE = 8
SAMPLES_MAX = 200  # next_slot() calls: well under a second on a busy host
SPAN_MAX = dt.timedelta(days=400)  # a year's pattern (and a leap day's month) in view


def long_grace_warning(
    schedule: str | None, zone_name: str | None, grace_s: float | None, now: dt.datetime
) -> str | None:
    """One line saying the grace hides every single missed run, naming both values and
    the fix; None when it does not (or when there is no schedule or grace to judge)."""
    if not schedule or grace_s is None or grace_s <= GRACE_FLOOR_S:
        return None
    try:
        zone = load_zone(zone_name)
        found = longest_gap(schedule, zone, now, dt.timedelta(seconds=grace_s))
    except (ScheduleError, ValueError, OverflowError):
        return None  # the line's other checks say what is wrong with the schedule
    if found is None:
        return None
    gap, span = found
    grace = format_duration(grace_s)
    default = format_duration(default_grace_s(gap.total_seconds()))
    return (
        f"--grace {grace} is longer than the longest gap between runs of {schedule!r} "
        f"({format_duration(gap.total_seconds())}, looking {format_duration(span.total_seconds())}"
        f" ahead): the next run always comes before the grace is out, so a missed run is "
        f"never noticed, only {grace} without any run; give --grace shorter than the gap, "
        f"or leave it out (the default here is {default})"
    )


def longest_gap(
    schedule: str, zone: dt.tzinfo, now: dt.datetime, grace: dt.timedelta
) -> tuple[dt.timedelta, dt.timedelta] | None:
    """(the longest gap seen, the span looked at) when every gap between the slots in
    that span is surely shorter than `grace`; None as soon as one may not be."""
    step = grace / STEPS_PER_GRACE
    span = min(SPAN_MAX, step * SAMPLES_MAX)
    first = next_slot(schedule, zone, now)  # from a slot: the gap after it is measured
    longest = dt.timedelta(0)
    moment = first
    while moment <= first + span:
        gap = next_slot(schedule, zone, moment) - moment
        if gap + step >= grace:
            return None
        longest = max(longest, gap)
        moment += step
    # A sample between slots sees less than its gap; cron's gaps are whole minutes.
    minutes = -(-longest // dt.timedelta(minutes=1))
    return dt.timedelta(minutes=minutes), span
