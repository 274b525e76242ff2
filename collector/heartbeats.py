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

import datetime as dt
import json
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Connection, Engine, or_, select, update
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
    spool: Spool = Field(default_factory=Spool)
    running: Annotated[list[InFlight], Field(max_length=100)] = Field(default_factory=list)
    running_total: Annotated[int, Field(ge=0, le=10**6)] | None = None
    jobs: Annotated[list[dict[str, Any]], Field(max_length=1000)] | None = None


# The health is kept in smartcron_hosts.health, a TEXT column: 64 KiB on MySQL.
MAX_HEALTH_BYTES = 60_000


class TooLarge(ValueError):
    pass


def store_heartbeat(engine: Engine, beat: Heartbeat, now: dt.datetime | None = None) -> None:
    """Upsert the host's row: last_seen_at now, the health as sent (jobs kept when absent)."""
    now = now or now_utc()
    h = tables.hosts.c
    health = beat.model_dump(exclude={"host", "agent_version", "jobs"}, mode="json")
    health["received_at"] = now.isoformat() + "Z"
    for _attempt in range(2):  # two replicas inserting the same new host: one wins
        with engine.begin() as connection:
            old = connection.execute(
                select(h.health).where(h.host == beat.host)
            ).scalar_one_or_none()
            jobs = beat.jobs if beat.jobs is not None else _stored(old, "jobs")
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
            changed = connection.execute(
                update(tables.hosts).where(h.host == beat.host).values(values)
            ).rowcount
            if not changed:
                try:
                    connection.execute(
                        tables.hosts.insert().values(host=beat.host, first_seen_at=now, **values)
                    )
                except IntegrityError:
                    continue
            _note_runs_seen(connection, beat, now)
            _refresh_running_jobs(connection, beat, old, now)
            return


# How often a job's in_flight_seen_at moves on while its runs keep being listed: it
# only needs to say the agent sees them, not to take a write every heartbeat.
SEEN_EVERY = dt.timedelta(days=1)


def _note_runs_seen(connection: Connection, beat: Heartbeat, now: dt.datetime) -> None:
    """The jobs listed in flight are ones this host's agent sees running: from now on
    a run of theirs that it does not list has not started (state.report_allowance)."""
    listed = sorted({run.job for run in beat.running})
    if not listed:
        return
    j = tables.jobs.c
    connection.execute(
        update(tables.jobs)
        .where(j.host == beat.host, j.job.in_(listed),
               or_(j.in_flight_seen_at.is_(None), j.in_flight_seen_at < now - SEEN_EVERY))
        .values(in_flight_seen_at=now)
    )  # fmt: skip


def _refresh_running_jobs(
    connection: Connection, beat: Heartbeat, old: str | None, now: dt.datetime
) -> None:
    """A job that started or stopped running may change state (late <-> running):
    decide again for those the last heartbeat or this one lists."""
    from .state_store import refresh_states

    # Every job the last heartbeat listed, however old: each may be stored as running.
    listed = _running_of(beat.host, old, now, fresh_only=False)
    before = {job for (job, _host), _started in listed}
    keys = {(job, beat.host) for job in before | {run.job for run in beat.running}}
    if _starts_listing_every_run(beat, old, now):
        # From now on a run not listed has not started: the jobs whose runs the agent
        # sees are late at their grace alone, which may be sooner than decided.
        j = tables.jobs.c
        seen = select(j.job).where(j.host == beat.host, j.in_flight_seen_at.is_not(None))
        keys |= {(job, beat.host) for job in connection.execute(seen).scalars()}
    if keys:
        refresh_states(connection, keys, now)


def _starts_listing_every_run(beat: Heartbeat, old: str | None, now: dt.datetime) -> bool:
    """This heartbeat lists every run in flight on its host, and the one before it did
    not, or is too old to count (the agent was away)."""
    if beat.running_total is not None and beat.running_total > len(beat.running):
        return False
    before = _read_in_flight(beat.host, old, now, fresh_only=True)
    return before is None or not before[1]


def _stored(old: str | None, key: str) -> Any:
    """The stored health's `key`; None when there is none (or the health is not JSON)."""
    if not old:
        return None
    try:
        return json.loads(old).get(key)
    except (ValueError, AttributeError):
        return None


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
        found = running_since_of(connection, None, now or now_utc())
    return {key: started.isoformat() + "Z" for key, started in found.items()}


def running_since_of(
    connection: Connection, hosts: Iterable[str] | None, now: dt.datetime
) -> dict[Key, dt.datetime]:
    """(job, host) -> the start (naive UTC) of its longest run in flight, from the
    fresh heartbeats of `hosts` (None: every host)."""
    return in_flight_of(connection, hosts, now)[0]


def in_flight_of(
    connection: Connection, hosts: Iterable[str] | None, now: dt.datetime
) -> tuple[dict[Key, dt.datetime], set[str]]:
    """running_since_of's runs, and the hosts among `hosts` whose fresh heartbeat lists
    every run in flight there (not cut at the heartbeat's limit): on those, a job whose
    runs the agent sees and that is not listed is not running."""
    h = tables.hosts.c
    query = select(h.host, h.health).where(h.last_seen_at >= now - FRESH_FOR)
    if hosts is not None:
        query = query.where(h.host.in_(sorted(set(hosts))))
    found: dict[Key, dt.datetime] = {}
    complete: set[str] = set()
    for row in connection.execute(query):
        read = _read_in_flight(row.host, row.health, now, fresh_only=True)
        if read is None:
            continue
        runs, every_run = read
        for key, started in runs:
            found[key] = min(found.get(key, started), started)
        if every_run:
            complete.add(row.host)
    return found, complete


def _running_of(
    host: str, health: str | None, now: dt.datetime, fresh_only: bool = True
) -> list[tuple[Key, dt.datetime]]:
    read = _read_in_flight(host, health, now, fresh_only)
    return [] if read is None else read[0]


def _read_in_flight(
    host: str, health: str | None, now: dt.datetime, fresh_only: bool
) -> tuple[list[tuple[Key, dt.datetime]], bool] | None:
    """The runs in flight a stored health lists, and whether it lists them all (the
    agent sends at most 100, and their total); None for no fresh heartbeat."""
    try:
        stored = json.loads(health or "{}")
        running = stored.get("running") or []
        received = _time(stored.get("received_at"))
        total = stored.get("running_total")
    except (ValueError, AttributeError):
        return None
    # Fresh by the heartbeat's own time: last_seen_at moves with every report too (ingest
    # notes the host's clock), which would keep a dead agent's runs in flight for good.
    if fresh_only and (received is None or received < now - FRESH_FOR):
        return None
    found = []
    for run in running if isinstance(running, list) else []:
        if not isinstance(run, dict) or not isinstance(run.get("job"), str):
            continue
        started = _time(run.get("started_at"))
        found.append(((run["job"], host), started or now))
    every_run = (
        isinstance(running, list)
        and len(found) == len(running)
        and (total is None or (type(total) is int and total <= len(found)))
    )
    return found, every_run


def _time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment
