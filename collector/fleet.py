"""The fleet as /api/v1/jobs, /api/v1/status and the summary page show it: jobs filtered
and paged from the state stored on smartcron_jobs, worst first, and the counts per state.

What a page costs follows the jobs it shows, not the fleet: each state's jobs come in
the order shown from ix_jobs_state_order (ix_jobs_host_state for one host), a keyset
cursor resumes where the last page ended, and the runs are read for the jobs returned
only (queries.describe_jobs). The counts are one GROUP BY over the same index.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, desc, func, literal, or_, select

from . import queries, rollups
from .db import tables
from .ingest import now_utc

STATES = tuple(queries.HEALTH_ORDER)  # worst first
PROBLEMS = tuple(state for state in STATES if state != "healthy")
PAGE = 100  # jobs a page by default
MAX_PAGE = 1000


class FilterError(ValueError):
    """A filter or cursor the API cannot take; the message names it."""


@dataclass(frozen=True)
class JobFilter:
    """Which jobs to list: every filter given must hold (an empty `states`: any state)."""

    states: tuple[str, ...] = ()
    host: str | None = None
    name: str | None = None  # a part of the job's name
    tag: str | None = None  # one of the tags of the job's last run


@dataclass(frozen=True)
class Position:
    """Where a page ended, as the order sorts it: state, priority, job, host."""

    state: str
    priority: int
    job: str
    host: str


def parse_states(text: str | None) -> tuple[str, ...]:
    """`failing,late` as a tuple of states in the order shown; unknown names refused."""
    if not text:
        return ()
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(STATES))
    if unknown:
        raise FilterError(f"state: {unknown[0]!r} is not one of {', '.join(STATES)}")
    return tuple(state for state in STATES if state in names)


def encode_cursor(position: Position) -> str:
    raw = json.dumps([position.state, position.priority, position.job, position.host])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor of encode_cursor names; anything else is refused."""
    refused = FilterError(f"cursor: {cursor[:40]!r} is not one this API handed out")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state, priority, job, host = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise refused from None
    if (state not in STATES or type(priority) is not int or not isinstance(job, str)
            or not isinstance(host, str)):  # fmt: skip
        raise refused
    return Position(state, priority, job, host)


@dataclass
class JobPage:
    """A page of jobs and the cursors of the pages after and before it (None: no such page)."""

    jobs: list[dict[str, Any]]
    next_cursor: str | None
    prev_cursor: str | None


def list_jobs(
    engine: Engine,
    wanted: JobFilter,
    limit: int,
    cursor: str | None = None,
    *,
    before: str | None = None,
) -> JobPage:
    """A page of at most `limit` matching jobs, worst first: the first page, the one after
    `cursor`, or the one before `before` (the summary page's "previous")."""
    next_cursor: str | None
    prev_cursor: str | None
    if before is not None:
        rows = _select_rows(engine, wanted, limit + 1, decode_cursor(before), forward=False)
        more = len(rows) > limit
        rows = rows[:limit][::-1]
        # The page before a page always has a page after it: the one it came from.
        next_cursor = _cursor_of(rows[-1]) if rows else before
        prev_cursor = _cursor_of(rows[0]) if more else None
    else:
        after = decode_cursor(cursor) if cursor else None
        rows = _select_rows(engine, wanted, limit + 1, after, forward=True)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _cursor_of(rows[-1]) if more else None
        prev_cursor = _cursor_of(rows[0]) if after is not None and rows else None
    return JobPage(queries.describe_jobs(engine, rows), next_cursor, prev_cursor)


def _cursor_of(row: dict[str, Any]) -> str:
    return encode_cursor(Position(row["state"], row["priority"], row["job"], row["host"]))


def _select_rows(
    engine: Engine, wanted: JobFilter, limit: int, start: Position | None, *, forward: bool
) -> list[dict[str, Any]]:
    """Up to `limit` rows past `start` in the order shown (backwards: before it, nearest
    first). One ordered read per state until the page is full: each is a range of an
    index in the order shown, so no statement sorts or counts the fleet."""
    j = tables.jobs.c
    rank = STATES.index
    states = wanted.states or STATES
    if start is not None:
        states = tuple(s for s in states if (rank(s) >= rank(start.state)) == forward
                       or s == start.state)  # fmt: skip
    if not forward:
        states = states[::-1]
    # With the host fixed, (priority, job) orders the rows: naming host too would make
    # MariaDB sort them rather than read ix_jobs_host_state in its order.
    by_host = wanted.host is not None
    order = (j.priority, j.job) if by_host else (j.priority, j.job, j.host)
    rows: list[dict[str, Any]] = []
    with engine.connect() as connection:
        for state in states:
            conditions = [j.state == state]
            if wanted.host is not None:
                conditions.append(j.host == wanted.host)
            if wanted.name:
                conditions.append(j.job.contains(wanted.name, autoescape=True))
            if start is not None and state == start.state:
                conditions.append(_beyond(start, forward, by_host))
            source: Any = tables.jobs
            if wanted.tag:
                # A job's tags are those of its last run (the job page shows them so).
                runs = tables.runs.c
                source = source.join(tables.runs, runs.run_id == j.last_run_id)
                conditions.append(_has_tag(wanted.tag))
            query = (
                select(tables.jobs)
                .select_from(source)
                .where(and_(*conditions))
                .order_by(*(order if forward else [desc(column) for column in order]))
                .limit(limit - len(rows))
            )
            rows.extend(dict(row) for row in connection.execute(query).mappings())
            if len(rows) >= limit:
                break
    return rows


def _beyond(position: Position, forward: bool, by_host: bool) -> Any:
    # (priority, job, host) past the position's, spelled out: MariaDB reads a range of
    # the index for this form, not for a row comparison. One host's rows: (priority, job).
    j = tables.jobs.c

    def past(column: Any, value: Any) -> Any:
        return column > value if forward else column < value

    later_job = past(j.job, position.job)
    if not by_host:
        later_job = or_(later_job, and_(j.job == position.job, past(j.host, position.host)))
    return or_(
        past(j.priority, position.priority), and_(j.priority == position.priority, later_job)
    )


def _has_tag(tag: str) -> Any:
    # Tags are stored comma-joined; a tag holds no comma, so ",a,b," holds ",a," exactly.
    tags = literal(",") + tables.runs.c.tags + literal(",")
    return tags.contains(f",{tag},", autoescape=True)


def count_states(engine: Engine, host: str | None = None) -> dict[str, int]:
    """Jobs per state (every state named, 0 when none), for the fleet or one host."""
    j = tables.jobs.c
    query = select(j.state, func.count()).group_by(j.state)
    if host is not None:
        query = query.where(j.host == host)
    counts = dict.fromkeys(STATES, 0)
    with engine.connect() as connection:
        for state, count in connection.execute(query):
            counts[state] = counts.get(state, 0) + int(count)
    return counts


def status(engine: Engine) -> dict[str, Any]:
    """The fleet at a glance: jobs per state, runs and failures in 24 h, hosts, alerts."""
    with engine.connect() as connection:
        alerts = connection.execute(
            select(func.count()).where(tables.alerts.c.resolved_at.is_(None))
        ).scalar()
        hosts = connection.execute(
            select(func.count()).select_from(
                select(tables.jobs.c.host).union(select(tables.hosts.c.host)).subquery()
            )
        ).scalar()
    counts = count_states(engine)
    # From the hourly rollup per host (rollups.py): the cost follows the hosts, not the runs.
    runs_24h, failures_24h = rollups.fleet_day_counts(engine, now_utc())
    return {
        "generated_at": queries.iso(now_utc()),
        "jobs": sum(counts.values()),
        "jobs_by_state": counts,
        "hosts": int(hosts or 0),
        "runs_24h": int(runs_24h or 0),
        "failures_24h": int(failures_24h or 0),
        "active_alerts": alerts,
        "ok": counts["failing"] == 0 and counts["late"] == 0,
    }
