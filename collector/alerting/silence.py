"""What silences a job's alerts: a pause, or a maintenance window in force
(smartcron_maintenance). The one reading of both, for the engine (which decides
whether an alert it opens is announced) and for the page and the API (which say what
silences a job or an alert now), so that what the page says is what the engine does.

A window covers a job on a host when every one of its job, host and tag that is set
matches (its tag: one of the tags of the job's last run, as the fleet page reads
them); a job or tag window never covers a host-level alert (job ''). A one-off window
is in force from starts_at until ends_at (none: until it is cancelled); a cron-shaped
one for duration_s after each time its schedule fires in its zone, from starts_at
until ends_at (none: for good). A cancelled window is over.

A silenced alert is still recorded (the page shows it, with why), but no 'opened'
event is written, so nothing is sent, and none when it resolves. Alerts already open
when a window starts are left as they are: they resolve as usual, and their resolved
notice is sent (good news is never held back).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from smartcron.wrapper.slots import ScheduleError, load_zone, slots_between
from sqlalchemy import Connection, Engine, and_, or_, select

from ..db import tables
from .store import naive

UTC = dt.timezone.utc
_m = tables.maintenance.c


@dataclasses.dataclass(frozen=True)
class Window:
    """A maintenance window in force, and until when this time."""

    id: int
    job: str | None
    host: str | None
    tag: str | None
    reason: str
    created_by: str
    until: dt.datetime | None  # naive UTC; None: no end

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
        """The reason an alert row records (its `silenced` column)."""
        return f"maintenance window #{self.id} by {self.created_by}: {self.reason}"

    def sentence(self) -> str:
        """What the page says of it now."""
        end = f"until {_shown(self.until)}" if self.until else "with no end set"
        return f"silenced by maintenance window #{self.id} ({self.reason}) {end}"


def active_windows(connection: Connection, now: dt.datetime) -> list[Window]:
    """Every window in force at `now` (naive UTC). Windows that have ended are left in
    the database by their index on ends_at; the rest are few."""
    query = select(tables.maintenance).where(
        _m.cancelled_at.is_(None), _m.starts_at <= now,
        or_(_m.ends_at.is_(None), _m.ends_at > now),
    ).order_by(_m.id)  # fmt: skip
    found = []
    for row in connection.execute(query).mappings():
        in_force, until = _in_force_until(row, now)
        if in_force:
            found.append(Window(int(row["id"]), row["job"], row["host"], row["tag"],
                                str(row["reason"]), str(row["created_by"]), until))  # fmt: skip
    return found


def _in_force_until(row: Any, now: dt.datetime) -> tuple[bool, dt.datetime | None]:
    """Whether the window is in force at `now`, and until when (None: no end)."""
    ends_at = naive(row["ends_at"])
    if not row["schedule"]:
        return True, ends_at
    duration = dt.timedelta(seconds=int(row["duration_s"] or 0))
    if duration <= dt.timedelta(0):
        return False, None
    # Fired in (now - duration, now], not before the window's own start: a firing at
    # exactly now - duration has just ended.
    since = max(now - duration, naive(row["starts_at"]) - dt.timedelta(microseconds=1))
    try:
        fired = slots_between(row["schedule"], load_zone(row["timezone"]),
                              since.replace(tzinfo=UTC), now.replace(tzinfo=UTC))  # fmt: skip
    except (ScheduleError, ValueError, OverflowError):
        return False, None  # a schedule this collector cannot read silences nothing
    if not fired:
        return False, None
    until = fired[-1].replace(tzinfo=None) + duration
    return True, min(until, ends_at) if ends_at is not None else until


class Silencer:
    """The engine's: why an alert of (job, host) must not be announced now, or None."""

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
        if not job:
            return frozenset()
        key = (job, host)
        if key not in self._tags:
            self._tags[key] = tags_of(self.connection, [key]).get(key, frozenset())
        return self._tags[key]


def tags_of(
    connection: Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], frozenset[str]]:
    """The tags of each (job, host)'s last run (as the fleet page reads a job's tags)."""
    if not keys:
        return {}
    j, r = tables.jobs.c, tables.runs.c
    query = (
        select(j.job, j.host, r.tags)
        .select_from(tables.jobs.join(tables.runs, r.run_id == j.last_run_id))
        .where(or_(*(and_(j.job == job, j.host == host) for job, host in set(keys))))
    )
    return {
        (job, host): frozenset(t for t in (tags or "").split(",") if t)
        for job, host, tags in connection.execute(query)
    }


def pauses_of(
    connection: Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, dt.datetime | None]]:
    """(who, when) for each of these (job, host) that is paused."""
    if not keys:
        return {}
    j = tables.jobs.c
    query = select(j.job, j.host, j.paused_by, j.paused_at).where(
        j.paused.is_(True), or_(*(and_(j.job == job, j.host == host) for job, host in set(keys)))
    )
    return {(job, host): (by or "?", naive(at)) for job, host, by, at in connection.execute(query)}


@dataclasses.dataclass(frozen=True)
class Silence:
    """Why a job's alerts on a host are silent now, as the page and the API say it."""

    kind: str  # "maintenance" or "paused"
    text: str  # the sentence the page shows
    until: dt.datetime | None


def silences_for(
    engine: Engine, keys: list[tuple[str, str]], now: dt.datetime
) -> dict[tuple[str, str], list[Silence]]:
    """What silences each of these (job, host) at `now`: its windows in force, then its
    pause. A host-level key (job '') is covered as the engine covers a host alert."""
    with engine.connect() as connection:
        windows = active_windows(connection, now)
        job_keys = [key for key in keys if key[0]]
        tags = tags_of(connection, job_keys) if any(w.tag for w in windows) else {}
        pauses = pauses_of(connection, job_keys)
    found: dict[tuple[str, str], list[Silence]] = {}
    for key in dict.fromkeys(keys):
        job, host = key
        said = [Silence("maintenance", window.sentence(), window.until) for window in windows
                if window.covers(job, host, tags.get(key, frozenset()))]  # fmt: skip
        if key in pauses:
            by, at = pauses[key]
            said.append(Silence("paused", f"silenced: paused by {by} at {_shown(at)}", None))
        if said:
            found[key] = said
    return found


def _shown(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "?"
