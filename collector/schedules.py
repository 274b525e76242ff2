"""A job's schedule as the job page shows it: in words, its next runs, and the slots
it missed among the runs shown.

The instants come from smartcron.wrapper.slots, so the page expects runs exactly when
the state module (and cron itself, at clock changes) does. Times are naive UTC, as
stored.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
from dataclasses import dataclass

from cron_descriptor import (
    ExpressionDescriptor,
    FormatException,
    MissingFieldException,
    Options,
    WrongArgumentException,
)
from smartcron.wrapper.slots import ScheduleError, cron_fields, load_zone, next_slots, slots_between

UTC = dt.timezone.utc
UPCOMING = 5  # the next runs a job page lists
# A run that starts up to this long before its slot still counts for it: the host's
# clock and the collector's need not agree to the second.
EARLY = dt.timedelta(minutes=1)
MAX_SLOTS = 2000  # slots looked at for one timeline: a month of a `*/30` job


@functools.lru_cache(maxsize=1024)
def describe(schedule: str | None) -> str | None:
    """The schedule in words ("At 02:30, Monday through Friday"), None when it is not
    a five-field schedule or macro. cron-descriptor reads the fields (names, ranges,
    steps, lists, and cron's rule that a day of the month OR a weekday matches); the
    macros are spelled out first, as cron does."""
    if not schedule:
        return None
    try:
        fields = cron_fields(schedule)
        options = Options(use_24hour_time_format=True, locale_code="en_US")
        return str(ExpressionDescriptor(" ".join(fields), options).get_description())
    except ScheduleError:
        return None
    except (FormatException, MissingFieldException, WrongArgumentException, ValueError,
            KeyError, IndexError):  # fmt: skip
        # A field croniter takes and the describer does not: the page shows the
        # expression alone.
        return None


def upcoming(
    schedule: str | None, zone_name: str | None, now: dt.datetime, count: int = UPCOMING
) -> list[dt.datetime]:
    """The next `count` runs after `now`, naive UTC; [] for a schedule or zone that
    cannot be read here."""
    if not schedule:
        return []
    try:
        found = next_slots(schedule, load_zone(zone_name), now.replace(tzinfo=UTC), count)
    except (ScheduleError, ValueError, OverflowError):
        return []
    return [moment.replace(tzinfo=None) for moment in found]


@dataclass(frozen=True)
class Timeline:
    """What the run timeline of one host shows: the window, the runs' starts in it and
    the slots of the schedule in it that no run started for."""

    start: dt.datetime
    end: dt.datetime
    runs: list[dt.datetime]
    missed: list[dt.datetime]
    slots: int  # slots in the window whose time for a run has passed


def timeline(
    schedule: str | None,
    zone_name: str | None,
    starts: list[dt.datetime],
    now: dt.datetime,
    since: dt.datetime | None = None,
) -> Timeline | None:
    """The slots of the window from the oldest run shown (or `since`, the job's first
    sighting, when it has no run) to `now`, and which of them were missed.

    A slot is missed when no run (a skip included: cron did start the wrapper) started
    between it, less EARLY, and the next slot: the rule by which the state module owes
    a run after the last one, so a job started late by --jitter or a lock is not missed.
    Only slots whose next slot has come are judged; the latest one is the state's to
    call late. None without a readable schedule."""
    ordered = sorted(starts)
    start = ordered[0] if ordered else since
    if not schedule or start is None or start >= now:
        return None
    try:
        zone = load_zone(zone_name)
        # The slot a run was started for may lie just after the run (EARLY): look from
        # a minute before the first run, so that slot is found and counted as run.
        slots = slots_between(schedule, zone, (start - EARLY).replace(tzinfo=UTC),
                              now.replace(tzinfo=UTC), MAX_SLOTS)  # fmt: skip
    except (ScheduleError, ValueError, OverflowError):
        return None
    slots = [moment.replace(tzinfo=None) for moment in slots]
    missed = []
    for slot, following in itertools.pairwise(slots):
        position = bisect.bisect_left(ordered, slot - EARLY)
        if position == len(ordered) or ordered[position] >= following - EARLY:
            missed.append(slot)
    return Timeline(start, now, ordered, missed, max(len(slots) - 1, 0))
