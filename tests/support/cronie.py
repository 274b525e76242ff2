"""cronie's main loop (cron.c, main()), written out minute by minute on an injected
clock: the oracle the DST tests hold slots.py and state.py to.

Each real minute the loop compares the wall clock with the minute it last handled.
One minute on: run what matches. Jumped forward a little (spring): run the
fixed-time jobs of every skipped minute, then everything due now. Went back (fall
back): run only wildcard jobs until the wall clock catches up.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from croniter import croniter
from smartcron.wrapper.slots import cron_fields, is_wildcard

UTC = dt.timezone.utc
MINUTE = dt.timedelta(minutes=1)
# (zone, a moment before its spring-forward, a moment before its fall-back), 2026.


def _at(year: int, month: int, day: int, hour: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


ZONES = [
    ("Europe/Berlin", _at(2026, 3, 28, 12), _at(2026, 10, 24, 12)),
    ("America/New_York", _at(2026, 3, 7, 18), _at(2026, 10, 31, 18)),
    # Lord Howe Island moves its clock by 30 minutes: 02:00 -> 02:30, 02:00 -> 01:30.
    ("Australia/Lord_Howe", _at(2026, 10, 3, 4), _at(2026, 4, 4, 4)),
]
SCHEDULES = ["*/15 * * * *", "0 * * * *", "30 2 * * *", "0 2 * * *", "@daily", "45 1 * * *"]


def cronie_runs(schedule: str, zone: ZoneInfo, start: dt.datetime, hours: int) -> list[dt.datetime]:
    """The instants cronie runs `schedule` at, from `start` for `hours` real hours."""
    fields = cron_fields(schedule)
    expression, wildcard = " ".join(fields), is_wildcard(fields)

    def wall(moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(zone).replace(tzinfo=None)

    def matches(minute: dt.datetime) -> bool:
        return bool(croniter.match(expression, minute))

    runs = []
    now = start.replace(second=0, microsecond=0)
    virtual = wall(now)
    for _ in range(hours * 60):
        now += MINUTE
        running = wall(now)
        step = (running - virtual) // MINUTE
        if step == 1:
            if matches(running):
                runs.append(now)
            virtual = running
        elif 1 < step <= 180:  # the clock jumped forward: catch up the fixed-time jobs
            skipped = [virtual + k * MINUTE for k in range(1, step)]
            if (not wildcard and any(matches(m) for m in skipped)) or matches(running):
                runs.append(now)
            virtual = running
        elif -180 <= step <= 0:  # the clock went back: wildcard jobs only, until caught up
            if wildcard and matches(running):
                runs.append(now)
        else:  # pragma: no cover - a jump this size does not happen in these zones
            raise AssertionError(f"clock moved {step} minutes")
    return runs
