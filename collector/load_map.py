"""The schedule load map: how many jobs start in each minute of the next 24 hours, for
the fleet and per host, so that an operator sees the top-of-the-hour pile-up.

The cost follows the distinct schedules, not the jobs: one GROUP BY reads the jobs
as (schedule, zone, host) with a count each; each distinct (schedule, zone) is
walked once for its slots in the window (smartcron.wrapper.slots, cron's rules at
clock changes), and every host that runs it adds its count to those minutes. Ten
thousand jobs on a few hundred distinct schedules cost a few hundred walks and one
small read (bench/load_map.py measures it against working job by job).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from smartcron.wrapper.slots import ScheduleError, load_zone, slots_between
from sqlalchemy import Engine, func, select

from .db import tables

UTC = dt.timezone.utc
HOURS = 24
MINUTE = dt.timedelta(minutes=1)
BUSIEST = 10  # the busiest minutes the map lists


@dataclass
class LoadMap:
    """Starts per minute from `start` (a whole minute, naive UTC): `minutes[i]` is the
    number of jobs that start in the minute `start + i`."""

    start: dt.datetime
    minutes: list[int]
    jobs: int  # jobs counted (scheduled, not paused, on the hosts asked for)
    schedules: int  # distinct (schedule, zone) pairs walked
    unreadable: int  # jobs whose schedule or zone cannot be read here, left out
    # per host, the minutes (as indices into `minutes`) its jobs start in and how many
    hosts: dict[str, dict[int, int]] = field(default_factory=dict)

    def busiest(self, count: int = BUSIEST) -> list[tuple[dt.datetime, int]]:
        """The `count` minutes with the most starts, most first (earlier first on a tie)."""
        ranked = sorted(range(len(self.minutes)), key=lambda i: (-self.minutes[i], i))
        return [(self.start + i * MINUTE, self.minutes[i]) for i in ranked[:count]
                if self.minutes[i]]  # fmt: skip

    def host_peaks(self) -> list[tuple[str, int, dt.datetime | None, int]]:
        """(host, starts in the window, its busiest minute, starts in it) per host, the
        busiest hosts first."""
        peaks: list[tuple[str, int, dt.datetime | None, int]] = []
        for host, line in self.hosts.items():
            if not line:
                peaks.append((host, 0, None, 0))
                continue
            index = min(line, key=lambda i: (-line[i], i))
            peaks.append((host, sum(line.values()), self.start + index * MINUTE, line[index]))
        return sorted(peaks, key=lambda p: (-p[3], p[0]))

    def hours(self) -> list[list[int | None]]:
        """The minutes as rows of a clock hour each (UTC), the page's grid: the first row
        starts at the hour of `start`, and minutes outside the window are None."""
        lead = self.start.minute
        padded: list[int | None] = [None] * lead + list(self.minutes)
        padded += [None] * (-len(padded) % 60)
        return [padded[h : h + 60] for h in range(0, len(padded), 60)]


def schedule_groups(engine: Engine, host: str | None = None) -> list[tuple[str, str, str, int]]:
    """(schedule, zone, host, jobs) for the scheduled jobs that are not paused."""
    j = tables.jobs.c
    query = (
        select(j.schedule, j.timezone, j.host, func.count())
        .where(j.schedule.is_not(None), j.schedule != "", j.paused.is_(False))
        .group_by(j.schedule, j.timezone, j.host)
    )
    if host is not None:
        query = query.where(j.host == host)
    with engine.connect() as connection:
        return [(s, z or "UTC", h, int(n)) for s, z, h, n in connection.execute(query)]


def build(groups: list[tuple[str, str, str, int]], now: dt.datetime, hours: int = HOURS) -> LoadMap:
    """The map of the `hours` hours after `now` (naive UTC) for these groups."""
    start = now.replace(second=0, microsecond=0) + MINUTE  # the first whole minute ahead
    size = hours * 60
    total = [0] * size
    per_host: dict[str, dict[int, int]] = {}
    by_schedule: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for schedule, zone, host, count in groups:
        by_schedule[(schedule, zone)].append((host, count))
    # The slots of the minutes [start, start + size); a slot at 02:00:37 (cron runs a
    # fixed-time job just after a spring-forward jump) starts in minute 02:00.
    low = (start - MINUTE).replace(tzinfo=UTC)
    high = (start + size * MINUTE).replace(tzinfo=UTC)
    counted = unreadable = 0
    for (schedule, zone), hosts in by_schedule.items():
        jobs = sum(count for _host, count in hosts)
        try:
            slots = slots_between(schedule, load_zone(zone), low, high, limit=size + 2)
        except (ScheduleError, ValueError, OverflowError):
            unreadable += jobs
            continue
        counted += jobs
        wall = start.replace(tzinfo=UTC)
        indices = [i for i in ((slot.replace(second=0) - wall) // MINUTE for slot in slots)
                   if 0 <= i < size]  # fmt: skip
        for index in indices:
            total[index] += jobs
        for host, count in hosts:
            line = per_host.setdefault(host, {})
            for index in indices:
                line[index] = line.get(index, 0) + count
    return LoadMap(start, total, counted, len(by_schedule), unreadable, per_host)


def load_map(
    engine: Engine, now: dt.datetime, host: str | None = None, hours: int = HOURS
) -> LoadMap:
    return build(schedule_groups(engine, host), now, hours)
