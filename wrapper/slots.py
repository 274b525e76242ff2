"""When cron runs a schedule, as real instants, with the schedule read in a time zone.

Cron (Vixie cron, cronie) reads a schedule on the wall clock of its zone. Where a
daylight-saving change moves that clock, it splits jobs in two kinds:

- fixed-time jobs (neither the minute nor the hour field starts with `*`, as in
  `30 2 * * *`): a time the clock skips (spring forward) runs once, right after
  the jump; a time the clock shows twice (fall back) runs once, the first time.
- wildcard jobs (`*/15 * * * *`, `0 * * * *`, @hourly): run at every real
  instant whose wall clock matches, so a skipped time does not happen and a
  repeated one happens twice.

croniter handed an aware datetime runs a fixed-time job twice in a repeated hour,
so here croniter only walks the naive wall clock, and this module turns each
wall-clock time into the instants cron runs it at. The collector's idea of a
job's next run and --dry-run's list both come from next_slot().
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter

UTC = dt.timezone.utc
MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}  # fmt: skip
# No zone has moved its clock by more than this at once: a wall-clock time earlier
# than `after`'s by up to this much can still be an instant after it (fall back).
MAX_SHIFT = dt.timedelta(hours=3)
# Wall-clock candidates looked at for one answer: three hours of a `* * * * *`
# schedule behind `after`, then a few ahead.
MAX_CANDIDATES = 400


class ScheduleError(ValueError):
    """Not a five-field cron expression or macro."""


def cron_fields(schedule: str) -> list[str]:
    """The five fields of a schedule, macros spelled out; ScheduleError otherwise."""
    text = " ".join(schedule.split())
    fields = MACROS.get(text.lower(), text).split()
    if len(fields) != 5 or not croniter.is_valid(" ".join(fields)):
        raise ScheduleError(f"{schedule!r} is not a five-field cron schedule or macro")
    return fields


def is_wildcard(fields: list[str]) -> bool:
    """cronie's MIN_STAR / HR_STAR: the field's text starts with `*`."""
    return fields[0].startswith("*") or fields[1].startswith("*")


def instants_of(wall: dt.datetime, zone: dt.tzinfo, wildcard: bool) -> list[dt.datetime]:
    """The UTC instants at which cron runs a job due at naive wall-clock time `wall`."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    if first.astimezone(zone).replace(tzinfo=None) == wall:  # shown twice: fall back
        return [first, second] if wildcard else [first]
    # Skipped (spring forward): fold=1 reads the time with the offset after the jump,
    # fold=0 with the one before, so the jump lies between the two readings.
    return [] if wildcard else [_jump_between(min(first, second), max(first, second), zone)]


def _jump_between(low: dt.datetime, high: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The instant in [low, high] at which the zone's offset changes, to the second."""
    before = low.astimezone(zone).utcoffset()
    while high - low > dt.timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def next_slot(schedule: str, zone: dt.tzinfo, after: dt.datetime) -> dt.datetime:
    """The first instant strictly after `after` (aware) at which cron runs `schedule`
    read in `zone`, in UTC. ScheduleError for a bad schedule."""
    fields = cron_fields(schedule)
    wildcard = is_wildcard(fields)
    wall = after.astimezone(zone).replace(tzinfo=None)
    offsets = {(after + k * MAX_SHIFT).astimezone(zone).utcoffset() for k in (-1, 1)}
    if len(offsets) > 1:
        wall -= MAX_SHIFT  # a clock change is near: look behind the wall clock too
    try:
        walker = croniter(" ".join(fields), wall)
        best: dt.datetime | None = None
        for _ in range(MAX_CANDIDATES):
            instants = instants_of(walker.get_next(dt.datetime), zone, wildcard)
            # The first instant of each wall-clock time never decreases: once one is
            # past the best found, no later wall-clock time can beat it.
            if best is not None and instants and instants[0] > best:
                break
            for instant in instants:
                if instant > after and (best is None or instant < best):
                    best = instant
    except (CroniterError, OverflowError) as error:
        raise ScheduleError(f"{schedule!r}: {error}") from None
    if best is None:
        raise ScheduleError(f"{schedule!r} has no run time near {after.isoformat()}")
    return best


def next_slots(schedule: str, zone: dt.tzinfo, after: dt.datetime, count: int) -> list[dt.datetime]:
    """The next `count` instants after `after`, in order."""
    found: list[dt.datetime] = []
    moment = after
    for _ in range(count):
        moment = next_slot(schedule, zone, moment)
        found.append(moment)
    return found


def slots_between(
    schedule: str, zone: dt.tzinfo, start: dt.datetime, end: dt.datetime, limit: int = 100_000
) -> list[dt.datetime]:
    """Every instant in (start, end] (aware) at which cron runs `schedule` read in `zone`,
    in order, in UTC: what next_slot() would give one after another, from one walk of
    the wall clock (a day of `* * * * *` is 1,440 of them). At most `limit`."""
    fields = cron_fields(schedule)
    wildcard = is_wildcard(fields)
    # Wall-clock times up to MAX_SHIFT either side can be instants inside the range.
    wall = (start.astimezone(zone) - MAX_SHIFT).replace(tzinfo=None)
    last_wall = (end.astimezone(zone) + MAX_SHIFT).replace(tzinfo=None)
    found: set[dt.datetime] = set()
    try:
        walker = croniter(" ".join(fields), wall)
        while len(found) < limit:
            candidate = walker.get_next(dt.datetime)
            if candidate > last_wall:
                break
            found.update(i for i in instants_of(candidate, zone, wildcard) if start < i <= end)
    except (CroniterError, OverflowError) as error:
        raise ScheduleError(f"{schedule!r}: {error}") from None
    return sorted(found)[:limit]


def load_zone(name: str | None) -> ZoneInfo:
    """The zone of a name (a report's `timezone`), UTC for none. ValueError when this
    machine's tz database has no such zone."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ValueError, OSError) as error:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {name!r}: {error}") from None
    except KeyError:
        raise ValueError(f"unknown time zone {name!r}") from None
