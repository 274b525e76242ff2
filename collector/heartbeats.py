"""The agent's side of the API: heartbeats in, control out.

A heartbeat is input from a host: one pydantic model bounds every field, and
unknown fields are ignored (a newer agent may send more). It is stored on the
host's row in smartcron_hosts, its health as JSON; `jobs` (the jobs found in the
host's crontabs) is sent only when it changed, so a heartbeat without it keeps
the jobs already stored.

Control is what the admin actions left on the jobs rows of the host: the jobs
paused there, and each breaker reset requested, as the wrapper's control.json
holds them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from . import clocks
from .db import tables

Text = Annotated[str, StringConstraints(max_length=255)]
Key = tuple[str, str]


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


Number = Annotated[float, Field(ge=0, le=1e18, allow_inf_nan=False)]


class InFlight(BaseModel):
    model_config = ConfigDict(extra="ignore")
    run_id: Annotated[str, StringConstraints(max_length=36)] | None = None
    job: Text
    pid: Annotated[int, Field(ge=1, le=2**22)]
    started_at: Text
    timeout_s: Number | None = None


class Spool(BaseModel):
    model_config = ConfigDict(extra="ignore")
    depth: Annotated[int, Field(ge=0, le=10**9)] = 0
    oldest_at: Text | None = None
    rejected: Annotated[int, Field(ge=0, le=10**9)] = 0


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    host: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    agent_version: Annotated[str, StringConstraints(max_length=32)] | None = None
    boot_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    uptime_s: Number | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    clock: Annotated[str, StringConstraints(max_length=64)] | None = None
    load: Annotated[list[Number], Field(max_length=3)] = Field(default_factory=list)
    memory: dict[Text, Number | None] = Field(default_factory=dict, max_length=8)
    disk_free: dict[Text, Number | None] = Field(default_factory=dict, max_length=8)
    # Percent free per place (host_disk_low); an older agent sends none.
    disk_free_pct: dict[Text, Annotated[float, Field(ge=0, le=100)] | None] = Field(
        default_factory=dict, max_length=8
    )
    spool: Spool = Field(default_factory=Spool)
    running: Annotated[list[InFlight], Field(max_length=100)] = Field(default_factory=list)
    running_total: Annotated[int, Field(ge=0, le=10**6)] | None = None
    jobs: Annotated[list[dict[str, Any]], Field(max_length=1000)] | None = None


# The health is kept in smartcron_hosts.health, a TEXT column: 64 KiB on MySQL.
MAX_HEALTH_BYTES = 60_000


class TooLarge(ValueError):
    pass


def store_heartbeat(engine: Engine, beat: Heartbeat, now: dt.datetime | None = None) -> None:
    """Upsert the host's row: last_seen_at now, the health as sent (jobs kept when absent);
    a jobs list that changed registers its wrapped lines as jobs (registry.py)."""
    from .registry import register_listed_jobs  # registry -> ingest -> state_store -> here

    now = now or now_utc()
    h = tables.hosts.c
    health = beat.model_dump(exclude={"host", "agent_version", "jobs"}, mode="json")
    health["received_at"] = now.isoformat() + "Z"
    for _attempt in range(2):  # two replicas inserting the same new host: one wins
        with engine.begin() as connection:
            found = connection.execute(select(h.health).where(h.host == beat.host)).one_or_none()
            old = found.health if found is not None else None
            stored_jobs = _stored(old, "jobs")
            jobs = beat.jobs if beat.jobs is not None else stored_jobs
            registered: set[Key] = set()
            if beat.jobs is not None and beat.jobs != stored_jobs:
                # Jobs rows before the host's row, in the order ingest writes them.
                registered = register_listed_jobs(
                    connection, beat.host, stored_jobs, beat.jobs, beat.timezone, now
                )
            kept = {"jobs": jobs}
            # Ingest's estimate of the host's clock (clocks.py) is the collector's, not
            # the agent's to replace: ingest writes it again only when it moves.
            reports_clock = _stored(old, clocks.CLOCK_KEY)
            if reports_clock is not None:
                kept[clocks.CLOCK_KEY] = reports_clock
            text = json.dumps(health | kept, separators=(",", ":"))
            if len(text.encode()) > MAX_HEALTH_BYTES:
                raise TooLarge(
                    f"heartbeat of {len(text.encode())} bytes as stored, over "
                    f"{MAX_HEALTH_BYTES}; send fewer jobs or shorter values"
                )
            values = {"last_seen_at": now, "agent_version": beat.agent_version, "health": text}
            if found is None:
                # A new host is inserted, not first looked for with an UPDATE: on InnoDB an
                # UPDATE that finds no row locks the gap where it would be, and two new
                # hosts' transactions each holding that gap and then inserting into it
                # deadlock (a fleet's agents starting together: most of 2,000 first
                # heartbeats answered 503). An INSERT locks only its own row.
                try:
                    connection.execute(
                        tables.hosts.insert().values(host=beat.host, first_seen_at=now, **values)
                    )
                except IntegrityError:
                    continue  # inserted meanwhile (another replica): update it, next try
            elif not connection.execute(
                update(tables.hosts).where(h.host == beat.host).values(values)
            ).rowcount:
                continue  # deleted meanwhile: insert it, next try
            _refresh_states(connection, beat, old, registered, now)
            return


def _refresh_states(
    connection: Connection,
    beat: Heartbeat,
    old: str | None,
    registered: set[Key],
    now: dt.datetime,
) -> None:
    """Decide again the state of the jobs the heartbeat may have changed: those just
    registered or unlisted, and those that started or stopped running (late <->
    running), which the last heartbeat or this one lists."""
    from .state_store import refresh_states

    # Every job the last heartbeat listed, however old: each may be stored as running.
    before = {job for job, _started in _listed_runs(_stored_document(old) or {}, now)}
    keys = {(job, beat.host) for job in before | {run.job for run in beat.running}}
    if keys | registered:
        refresh_states(connection, keys | registered, now)


def _stored(old: str | None, key: str) -> Any:
    """The stored health's `key`; None when there is none (or the health is not JSON)."""
    return (_stored_document(old) or {}).get(key)


def control_for(engine: Engine, host: str) -> dict[str, Any]:
    """{"paused": [...], "breaker_resets": {job: time}} for the host, as control.json."""
    j = tables.jobs.c
    with engine.connect() as connection:
        rows = connection.execute(
            select(j.job, j.paused, j.breaker_reset_at).where(j.host == host).order_by(j.job)
        ).all()
    return {
        "paused": [row.job for row in rows if row.paused],
        "breaker_resets": {
            row.job: row.breaker_reset_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            for row in rows
            if row.breaker_reset_at is not None
        },
    }


# A heartbeat older than this no longer says what runs now (the agent beats every 30s).
FRESH_FOR = dt.timedelta(minutes=5)


def running_now(engine: Engine, now: dt.datetime | None = None) -> dict[Key, str]:
    """(job, host) -> started_at of each run in flight, from fresh heartbeats."""
    with engine.connect() as connection:
        found = in_flight_of(connection, None, now or now_utc())
    return {key: seen.since.isoformat() + "Z" for key, seen in found.items()}


@dataclasses.dataclass(frozen=True)
class InFlightSeen:
    """A job's run in flight as the host's heartbeat lists it (naive UTC): since when,
    and until when that heartbeat says so (it goes stale then, if no other follows)."""

    since: dt.datetime
    until: dt.datetime


def in_flight_of(
    connection: Connection, hosts: Iterable[str] | None, now: dt.datetime
) -> dict[Key, InFlightSeen]:
    """(job, host) -> its longest run in flight, from the fresh heartbeats of `hosts`
    (None: every host)."""
    h = tables.hosts.c
    query = select(h.host, h.health).where(h.last_seen_at >= now - FRESH_FOR)
    if hosts is not None:
        query = query.where(h.host.in_(sorted(set(hosts))))
    found: dict[Key, InFlightSeen] = {}
    for row in connection.execute(query):
        stored = _stored_document(row.health) or {}
        # Fresh by the heartbeat's own time: last_seen_at moves with every report too
        # (ingest notes the host's clock), which would keep a dead agent's runs in
        # flight for good.
        received = parse_time(stored.get("received_at"))
        # Stale from the moment it says so (`until`), when its review comes.
        if received is None or received + FRESH_FOR <= now:
            continue
        for job, started in _listed_runs(stored, now):
            key = (job, row.host)
            since = min(found[key].since, started) if key in found else started
            found[key] = InFlightSeen(since, received + FRESH_FOR)
    return found


def _stored_document(health: str | None) -> dict[str, Any] | None:
    try:
        stored = json.loads(health or "{}")
    except ValueError:
        return None
    return stored if isinstance(stored, dict) else None


def _listed_runs(stored: dict[str, Any], now: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """(job, started) of each run in flight a stored heartbeat lists, however old."""
    running = stored.get("running")
    found = []
    for run in running if isinstance(running, list) else []:
        if isinstance(run, dict) and isinstance(run.get("job"), str):
            found.append((run["job"], parse_time(run.get("started_at")) or now))
    return found


def parse_time(value: object) -> dt.datetime | None:
    """An ISO 8601 time from a heartbeat, as naive UTC; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment
