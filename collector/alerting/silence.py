"""What silences the opening of an alert: a paused job, or a maintenance window.

A silenced alert is still recorded (the page shows it, with why), but no 'opened'
event is written, so nothing is sent, and none when it resolves. Alerts already open
when a window starts are left as they are: they resolve as usual, and their resolved
notice is sent (good news is never held back).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import Connection, or_, select

from ..db import tables
from ..state import slot_after
from .store import naive

_m = tables.maintenance.c


@dataclasses.dataclass(frozen=True)
class Window:
    id: int
    job: str | None
    host: str | None
    tag: str | None
    reason: str
    created_by: str

    def covers(self, job: str, host: str, tags: frozenset[str]) -> bool:
        """Every scope the window names must match; a tag or job window never covers a
        host-level alert (job '')."""
        if self.job is not None and self.job != job:
            return False
        if self.host is not None and self.host != host:
            return False
        if self.tag is not None and (not job or self.tag not in tags):
            return False
        return not (job == "" and (self.job is not None or self.tag is not None))

    def why(self) -> str:
        return f"maintenance window #{self.id} by {self.created_by}: {self.reason}"


def active_windows(connection: Connection, now: dt.datetime) -> list[Window]:
    """The windows in force at `now` (naive UTC): one-off ones by their span, cron-shaped
    ones when the schedule fired within duration_s before now (in the window's zone)."""
    query = select(tables.maintenance).where(
        _m.cancelled_at.is_(None), _m.starts_at <= now,
        or_(_m.ends_at.is_(None), _m.ends_at > now),
    )  # fmt: skip
    found = []
    for row in connection.execute(query):
        if row.schedule:
            if not _fired_within(row.schedule, row.timezone, row.duration_s or 0,
                                 naive(row.starts_at), now):  # fmt: skip
                continue
        elif row.ends_at is None:
            continue  # a one-off window without an end is refused where it is made
        found.append(Window(row.id, row.job, row.host, row.tag, row.reason, row.created_by))
    return found


def _fired_within(
    schedule: str, zone: str | None, duration_s: int, starts_at: dt.datetime, now: dt.datetime
) -> bool:
    opened = now - dt.timedelta(seconds=max(duration_s, 0))
    # The first firing after `opened` (minus a minute: slot_after is strictly after,
    # and a firing exactly at `opened` counts), not before the window's own start.
    fired = slot_after(schedule, zone, max(opened, starts_at) - dt.timedelta(minutes=1))
    return fired is not None and max(opened, starts_at) <= fired <= now


class Silencer:
    """Why an alert of (job, host) must not be announced now, or None."""

    def __init__(self, connection: Connection, now: dt.datetime) -> None:
        self.connection = connection
        self.windows = active_windows(connection, now)
        self._tags: dict[tuple[str, str], frozenset[str]] = {}

    def why(self, job: str, host: str, paused_by: str | None = None,
            paused: bool = False) -> str | None:  # fmt: skip
        if paused:
            return f"job paused by {paused_by or '?'}"
        if not self.windows:
            return None
        tags = self._tags_of(job, host) if any(w.tag for w in self.windows) else frozenset()
        for window in self.windows:
            if window.covers(job, host, tags):
                return window.why()
        return None

    def _tags_of(self, job: str, host: str) -> frozenset[str]:
        """A job's tags are those of its last run (as the fleet page reads them)."""
        if not job:
            return frozenset()
        key = (job, host)
        if key not in self._tags:
            j, r = tables.jobs.c, tables.runs.c
            text = self.connection.execute(
                select(r.tags).select_from(tables.jobs.join(tables.runs, r.run_id == j.last_run_id))
                .where(j.job == job, j.host == host)
            ).scalar_one_or_none()  # fmt: skip
            self._tags[key] = frozenset(t for t in (text or "").split(",") if t)
        return self._tags[key]
