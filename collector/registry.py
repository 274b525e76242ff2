"""Wrapped crontab lines become job rows before their first run reports.

The agent's heartbeat carries `jobs`, the lines of the host's crontabs (the agent
sends it only when it changed; store_heartbeat calls register_listed_jobs only
when it differs from the list stored). A wrapped line is a job that will report:

- without a row yet, it gets one (name, host, schedule, zone, command, priority,
  the alert options of its `expect`, first seen now), and state.py decides its state
  at once, so the page shows its next expected run and it becomes late if that run
  never comes (after the line's --grace, if it sets one);
- a row no report has reached yet follows the crontab (its schedule, zone, command,
  priority and alert options as the line has them now);
- a row a report has reached is left as the reports made it: the wrapper says what
  it actually ran, with what options, so a report's fields win;
- a job the previous list held and this one does not is marked `unlisted_at`
  (the row and its runs stay: history is never deleted, and the line may come
  back); from then on it owes no run, until it is listed again or runs again.

Plain lines are not registered: they never report, and would only ever be late.
The hosts page lists them as "not wrapped yet" from the stored list.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from smartcron.wrapper import limits
from smartcron.wrapper.schema import Expect
from sqlalchemy import Connection, bindparam, select, update

from .db import tables
from .db.engine import is_mysql
from .ingest import EXPECT_COLUMNS, expect_values, insert_first_rows

log = logging.getLogger("smartcron.collector")
Key = tuple[str, str]
DEFAULT_PRIORITY = 5  # the wrapper's own default for --priority
# Schedules that name no moment: nothing can be owed on them.
NO_EXPECTATION = frozenset({"@reboot"})


Zone = Annotated[str, Field(pattern=limits.ZONE_REGEX, max_length=limits.ZONE_MAX)]


class ListedJob(BaseModel):
    """One entry of a heartbeat's `jobs`, as agent/discover.py's CronJob writes it.
    Only what registration needs is read; the rest is kept in the host's health."""

    model_config = ConfigDict(extra="ignore")
    name: Annotated[str, Field(pattern=limits.NAME_REGEX, max_length=limits.NAME_MAX)]
    wrapped: bool = False
    schedule: Annotated[str, Field(max_length=limits.SCHEDULE_MAX)] | None = None
    timezone: Zone | None = None
    command: Annotated[str, Field(max_length=limits.COMMAND_MAX)] = ""
    priority: Annotated[int, Field(ge=limits.PRIORITY_MIN, le=limits.PRIORITY_MAX)] | None = None
    # The line's --grace, --min-duration, --max-duration and --alert-after, under the
    # report's keys; read apart (listed_expect) so that a bad value costs only itself.
    expect: Any = None


def listed_expect(expect: Any) -> dict[str, Any]:
    """The row's alert-option columns for a listed line's `expect`: the defaults where
    it sets none, and for all of them if it sets one a report could not carry (the
    wrapper refuses such a line; its --dry-run says why)."""
    try:
        read = Expect.model_validate(expect or {})
    except ValidationError:
        read = Expect()
    return dict(zip(EXPECT_COLUMNS, expect_values(read), strict=True))


def wrapped_jobs(entries: Iterable[Any] | None, host_zone: str | None) -> dict[str, dict[str, Any]]:
    """Job name -> its row's values, for the wrapped lines among `entries`. An entry
    that is not a job line is skipped (logged once per list); a name listed twice
    keeps its first line, as the wrapper's lock and reports would merge them anyway.
    A line without a zone is read in the host's (as the wrapper defaults to it)."""
    found: dict[str, dict[str, Any]] = {}
    bad = 0
    for entry in entries or ():
        try:
            job = ListedJob.model_validate(entry)
        except ValidationError:
            bad += 1
            continue
        if not job.wrapped or job.name in found:
            continue
        schedule = None if job.schedule in NO_EXPECTATION else job.schedule
        found[job.name] = {
            "schedule": schedule,
            "timezone": job.timezone or _zone(host_zone),
            "command": job.command,
            "priority": job.priority or DEFAULT_PRIORITY,
            **listed_expect(job.expect),
        }
    if bad:
        log.warning("heartbeat: %d listed job(s) not readable as job lines; not registered", bad)
    return found


def crontab_listing(health: Any) -> dict[str, Any] | None:
    """What the hosts page says of the host's crontabs, from its stored health: how
    many lines are wrapped, and the names of those not wrapped yet. None without a
    list (no agent, or one that never sent it)."""
    entries = health.get("jobs") if isinstance(health, dict) else None
    if not isinstance(entries, list):
        return None
    lines = [entry for entry in entries if isinstance(entry, dict)]
    plain = [str(entry.get("name") or "?") for entry in lines if entry.get("wrapped") is not True]
    return {"wrapped": len(lines) - len(plain), "not_wrapped": plain}


def register_listed_jobs(
    connection: Connection,
    host: str,
    before: Iterable[Any] | None,
    now_listed: Iterable[Any],
    host_zone: str | None,
    now: dt.datetime,
) -> set[Key]:
    """Bring the host's job rows in line with its crontabs' new list (`before`: the
    list stored until now). Returns the (job, host) keys whose rows changed, for the
    caller to decide their state again in the same transaction."""
    listed = wrapped_jobs(now_listed, host_zone)
    gone = set(wrapped_jobs(before, host_zone)) - set(listed)
    j = tables.jobs.c
    existing = {
        row.job: row
        for row in connection.execute(
            select(j.job, j.last_run_id, j.unlisted_at).where(j.host == host)
        )
    }
    changed: set[Key] = set()
    new_rows = [
        {"job": name, "host": host, **values, "first_seen_at": now, "breaker_state": "closed",
         "paused": False}
        for name, values in sorted(listed.items())
        if name not in existing
    ]  # fmt: skip
    if new_rows:
        # Another replica may register the same job at the same moment: one row wins.
        mysql_dialect = is_mysql(connection)
        connection.execute(insert_first_rows(mysql_dialect), new_rows)
        changed.update((row["job"], host) for row in new_rows)
    unreported = [
        {"b_job": name, "b_host": host, **{f"b_{k}": v for k, v in values.items()}}
        for name, values in sorted(listed.items())
        if name in existing and existing[name].last_run_id is None
    ]
    if unreported:
        connection.execute(_FOLLOW_CRONTAB, unreported)
        changed.update((row["b_job"], host) for row in unreported)
    relisted = sorted(n for n in listed if n in existing and existing[n].unlisted_at is not None)
    if relisted:
        connection.execute(
            update(tables.jobs).where(j.host == host, j.job.in_(relisted)).values(unlisted_at=None)
        )
        changed.update((name, host) for name in relisted)
    unlisted = sorted(n for n in gone if n in existing and existing[n].unlisted_at is None)
    if unlisted:
        connection.execute(
            update(tables.jobs).where(j.host == host, j.job.in_(unlisted)).values(unlisted_at=now)
        )
        changed.update((name, host) for name in unlisted)
    return changed


def _zone(host_zone: str | None) -> str | None:
    """The heartbeat's zone of the host, if it is a zone name a report could carry."""
    if host_zone and limits.ZONE_PATTERN.match(host_zone) and len(host_zone) <= limits.ZONE_MAX:
        return host_zone
    return None


_j = tables.jobs.c
# Only while no report has reached the row: a report's fields win from then on.
_FOLLOW_CRONTAB = (
    update(tables.jobs)
    .where(_j.job == bindparam("b_job"), _j.host == bindparam("b_host"), _j.last_run_id.is_(None))
    .values(schedule=bindparam("b_schedule"), timezone=bindparam("b_timezone"),
            command=bindparam("b_command"), priority=bindparam("b_priority"),
            **{name: bindparam(f"b_{name}") for name in EXPECT_COLUMNS})
)  # fmt: skip
