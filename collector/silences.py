"""What silences a job's alerts right now, as the job and alert pages say it: the
maintenance windows in force (smartcron_maintenance) and a pause.

A window matches a job on a host when every one of its job, host and tag that is set
matches (its tag: one of the tags of the job's last run, as the fleet page reads them).
A one-off window is in force from starts_at until ends_at; a cron-shaped one for
duration_s after each time its schedule fires in its zone, from starts_at until
ends_at (null: for good). A cancelled window is over. This module only reads: the
alert engine decides what it silences when it opens an alert.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from smartcron.wrapper.slots import ScheduleError, load_zone, slots_between
from sqlalchemy import Engine, and_, or_, select

from .db import tables

UTC = dt.timezone.utc


@dataclass(frozen=True)
class Window:
    """A maintenance window in force, and until when this time."""

    id: int
    job: str | None
    host: str | None
    tag: str | None
    reason: str
    until: dt.datetime | None  # naive UTC; None: no end
    created_by: str

    def covers(self, job: str, host: str, tags: list[str]) -> bool:
        return (
            (self.job is None or self.job == job)
            and (self.host is None or self.host == host)
            and (self.tag is None or self.tag in tags)
        )


def windows_in_force(engine: Engine, now: dt.datetime) -> list[Window]:
    """Every maintenance window in force at `now` (naive UTC). Windows that have ended
    are left in the database by their index on ends_at; the rest are few."""
    m = tables.maintenance.c
    query = select(tables.maintenance).where(
        m.cancelled_at.is_(None), m.starts_at <= now, or_(m.ends_at.is_(None), m.ends_at > now)
    )
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query.order_by(m.id)).mappings()]
    found = []
    for row in rows:
        in_force, until = _in_force_until(row, now)
        if in_force:
            found.append(Window(int(row["id"]), row["job"], row["host"], row["tag"],
                                str(row["reason"]), until, str(row["created_by"])))  # fmt: skip
    return found


def _in_force_until(row: dict[str, Any], now: dt.datetime) -> tuple[bool, dt.datetime | None]:
    """Whether the window is in force at `now`, and until when (None: no end)."""
    ends_at = _naive(row["ends_at"])
    if not row["schedule"]:
        return True, ends_at
    duration = dt.timedelta(seconds=int(row["duration_s"] or 0))
    if duration <= dt.timedelta(0):
        return False, None
    starts_at = _naive(row["starts_at"]) or now
    since = max(now - duration, starts_at - dt.timedelta(microseconds=1))
    try:
        fired = slots_between(row["schedule"], load_zone(row["timezone"]),
                              since.replace(tzinfo=UTC), now.replace(tzinfo=UTC))  # fmt: skip
    except (ScheduleError, ValueError, OverflowError):
        return False, None  # a schedule this collector cannot read silences nothing
    if not fired:
        return False, None
    until = fired[-1].replace(tzinfo=None) + duration
    return True, min(until, ends_at) if ends_at is not None else until


def _naive(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def tags_of(engine: Engine, keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """The tags of each (job, host)'s last run."""
    if not keys:
        return {}
    j, r = tables.jobs.c, tables.runs.c
    query = (
        select(j.job, j.host, r.tags)
        .select_from(tables.jobs.join(tables.runs, r.run_id == j.last_run_id))
        .where(or_(*(and_(j.job == job, j.host == host) for job, host in set(keys))))
    )
    with engine.connect() as connection:
        return {
            (job, host): (tags.split(",") if tags else [])
            for job, host, tags in connection.execute(query)
        }


def pauses_of(
    engine: Engine, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, dt.datetime | None]]:
    """(who, when) for each of these (job, host) that is paused."""
    if not keys:
        return {}
    j = tables.jobs.c
    query = select(j.job, j.host, j.paused_by, j.paused_at).where(
        j.paused.is_(True), or_(*(and_(j.job == job, j.host == host) for job, host in set(keys)))
    )
    with engine.connect() as connection:
        return {
            (job, host): (by or "?", _naive(at)) for job, host, by, at in connection.execute(query)
        }


@dataclass(frozen=True)
class Silence:
    """Why a job's alerts on a host are silent now."""

    kind: str  # "maintenance" or "paused"
    text: str  # the sentence the page shows
    until: dt.datetime | None


def silences_for(
    engine: Engine, keys: list[tuple[str, str]], now: dt.datetime
) -> dict[tuple[str, str], list[Silence]]:
    """What silences each of these (job, host) at `now`: its windows in force, then its
    pause. A host-level key (job '') matches windows without a job or tag."""
    windows = windows_in_force(engine, now)
    tags = tags_of(engine, [k for k in keys if k[0]]) if windows else {}
    pauses = pauses_of(engine, [k for k in keys if k[0]])
    found: dict[tuple[str, str], list[Silence]] = {}
    for key in dict.fromkeys(keys):
        job, host = key
        said = []
        for window in windows:
            host_level = (not job and window.job is None and window.tag is None
                          and window.host in (None, host))  # fmt: skip
            if host_level or (job and window.covers(job, host, tags.get(key, []))):
                end = f"until {_shown(window.until)}" if window.until else "with no end set"
                text = f"silenced by maintenance window #{window.id} ({window.reason}) {end}"
                said.append(Silence("maintenance", text, window.until))
        if key in pauses:
            by, at = pauses[key]
            said.append(Silence("paused", f"silenced: paused by {by} at {_shown(at)}", None))
        if said:
            found[key] = said
    return found


def _shown(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "?"
