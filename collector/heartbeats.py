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
import functools
import json
import math
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Connection, Engine, bindparam, or_, select, update

from . import clocks
from .db import tables
from .db.engine import is_mysql
from .db.retry import run_transaction
from .db.upsert import upsert

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


# A job of the crontab list as the agent's discovery sends it (agent/discover.py CronJob:
# strings, numbers, its tags and its `expect` table) nests two levels. The stored health
# is read by the database's JSON functions as well as by Python's (the host rules,
# ingest's merge of the host's clock), and they read less: neither NaN nor Infinity,
# which json.dumps writes as pydantic gave them (1e400 is Infinity), and no document
# nested past 32 levels on MariaDB before 12.2 (past 100, MySQL fails the statement).
MAX_JOB_DEPTH = 8


def _plain_json(job: dict[str, Any]) -> dict[str, Any]:
    """A listed job whose JSON every backend reads, or a ValueError saying why not."""
    pending: list[tuple[Any, int]] = [(job, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("NaN or Infinity, which JSON has not")
        if isinstance(value, (dict, list)):
            if depth > MAX_JOB_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JOB_DEPTH} levels")
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return job


ListedJob = Annotated[dict[str, Any], AfterValidator(_plain_json)]


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
    jobs: Annotated[list[ListedJob], Field(max_length=1000)] | None = None


# The health is kept in smartcron_hosts.health, a TEXT column: 64 KiB on MySQL.
MAX_HEALTH_BYTES = 60_000


class TooLarge(ValueError):
    pass


def store_heartbeat(engine: Engine, beat: Heartbeat, now: dt.datetime | None = None) -> None:
    """Upsert the host's row: last_seen_at now, the health as sent (jobs kept when absent);
    a jobs list that changed registers its wrapped lines as jobs (registry.py), and the
    jobs whose runs in flight changed have their state decided again, all in one
    transaction.

    Lock order, shared with ingest (ingest.write_plan): jobs rows first, in key order,
    then the host's row. A heartbeat that took the host's row first and then waited for
    a job's row that a batch of that host held, while the batch waited for the host's
    row (its clock), deadlocked or waited out the batch.

    Round trips for a heartbeat that changed nothing but the health: one read of the
    stored health (no lock), the note that its runs in flight are seen (an UPDATE that
    writes a job's row at most daily; none without runs), and one upsert. The jobs'
    states are decided again only when the jobs sent differ from those stored, or a
    run in flight started or stopped.

    A transaction picked as a deadlock's victim is done again, RETRIES times at most
    (db/retry.py); then, as any other database error, it is the caller's (503)."""
    now = now or now_utc()
    health = beat.model_dump(exclude={"host", "agent_version", "jobs"}, mode="json")
    health["received_at"] = now.isoformat() + "Z"
    # A deadlock's victim is done again (db/retry.py), which is safe: the first try left
    # nothing, every try reads what it needs (the stored health, the jobs rows) anew
    # inside its transaction and writes what follows from that, and it is otherwise the
    # same beat at the same `now`.
    run_transaction(engine, lambda connection: _write_heartbeat(connection, beat, health, now))


def _write_heartbeat(
    connection: Connection, beat: Heartbeat, health: dict[str, Any], now: dt.datetime
) -> None:
    """store_heartbeat's transaction: `health` is the beat's, as stored but for `jobs`
    and the clock of the reports, which come from the stored one when it has them."""
    from .registry import register_listed_jobs  # registry -> ingest -> state_store -> here

    h = tables.hosts.c
    old_text = connection.execute(select(h.health).where(h.host == beat.host)).scalar()
    # Parsed once: with the crontab jobs it lists, the stored health is several KB.
    old = _stored_document(old_text) or {}
    stored_jobs = old.get("jobs")
    kept = {"jobs": beat.jobs if beat.jobs is not None else stored_jobs}
    # Ingest's estimate of the host's clock (clocks.py) is the collector's, not
    # the agent's to replace: ingest writes it again only when it moves.
    reports_clock = old.get(clocks.CLOCK_KEY)
    if reports_clock is not None:
        kept[clocks.CLOCK_KEY] = reports_clock
    text = json.dumps(health | kept, separators=(",", ":"))
    if len(text.encode()) > MAX_HEALTH_BYTES:
        raise TooLarge(
            f"heartbeat of {len(text.encode())} bytes as stored, over "
            f"{MAX_HEALTH_BYTES}; send fewer jobs or shorter values"
        )
    registered: set[Key] = set()
    if beat.jobs is not None and beat.jobs != stored_jobs:
        registered = register_listed_jobs(
            connection, beat.host, stored_jobs, beat.jobs, beat.timezone, now
        )
    _note_runs_seen(connection, beat, now)
    _refresh_states(connection, beat, old, health, registered, now)
    # The host's row last (see the lock order above). One upsert, new host or not:
    # on InnoDB an UPDATE that finds no row would lock the gap where it would be,
    # and two new hosts' transactions each holding that gap and then inserting into
    # it deadlock (a fleet's agents starting together); an upsert of the primary key
    # locks only its own row, and a host inserted meanwhile by another replica is
    # updated instead of failing the transaction (whose registration would go too).
    row = {"host": beat.host, "first_seen_at": now, "last_seen_at": now,
           "agent_version": beat.agent_version, "health": text}  # fmt: skip
    connection.execute(_upsert_host(is_mysql(connection)), row)


@functools.cache
def _upsert_host(mysql_dialect: bool) -> Any:
    """INSERT the host's row, or update all but first_seen_at of the one there."""
    return upsert(tables.hosts, ["host"], mysql_dialect, lambda new: [
        (name, new[name]) for name in ("last_seen_at", "agent_version", "health")
    ])  # fmt: skip


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
    # Read first, without a lock: an UPDATE locks every row it looks at (and the gap
    # where a job not registered would be) until the commit, even when it changes
    # nothing, so each heartbeat waited for the ingest transactions holding its jobs'
    # rows. Only a row due for the note is written, by its key.
    stale = or_(j.in_flight_seen_at.is_(None), j.in_flight_seen_at < now - SEEN_EVERY)
    query = select(j.job).where(j.host == beat.host, j.job.in_(listed), stale).order_by(j.job)
    due = connection.execute(query).scalars().all()
    if due:
        connection.execute(
            update(tables.jobs)
            .where(j.host == beat.host, j.job.in_(due), stale)
            .values(in_flight_seen_at=now)
        )


def _refresh_states(
    connection: Connection,
    beat: Heartbeat,
    old: dict[str, Any],
    health: dict[str, Any],
    registered: set[Key],
    now: dt.datetime,
) -> None:
    """Decide again the state of the jobs the heartbeat may have changed: those just
    registered or unlisted; those whose run in flight started or stopped (late <->
    running) since the last heartbeat, as long as that one was fresh; and, when this one
    starts listing every run on the host, the jobs whose runs the agent sees (late at
    their grace alone). A run still in flight needs nothing: its state's review_at is
    when the last heartbeat goes stale, and the evaluation pass (state_store.evaluate_due)
    reads the newest one then."""
    from .state_store import refresh_states

    before = listed_in_flight(old)
    # This heartbeat's runs, read as they will be stored (its row is written after;
    # `health` holds JSON's types already, as model_dump(mode="json") gave them).
    after = listed_in_flight(health)  # never None: it has its received_at
    runs_before = before.runs if before is not None and before.fresh(now) else {}
    runs_after = after.runs if after is not None else {}
    moved = {job for job in runs_before.keys() | runs_after.keys()
             if runs_before.get(job) != runs_after.get(job)}  # fmt: skip
    keys = {(job, beat.host) for job in moved}
    lists_all = beat.running_total is None or beat.running_total <= len(beat.running)
    if lists_all and (before is None or not before.every_run or before.until <= now):
        # From now on a run not listed has not started: the jobs whose runs the agent
        # sees are late at their grace alone, which may be sooner than decided.
        j = tables.jobs.c
        seen = select(j.job).where(j.host == beat.host, j.in_flight_seen_at.is_not(None))
        keys |= {(job, beat.host) for job in connection.execute(seen).scalars()}
    if keys | registered:
        refresh_states(connection, keys | registered, now,
                       {beat.host: after} if after is not None else {})  # fmt: skip


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
    return {
        (job, host): since.isoformat() + "Z"
        for host, seen in found.items()
        for job, since in seen.runs.items()
    }


@dataclasses.dataclass(frozen=True)
class ListedRun:
    """One run in flight as a heartbeat lists it: its start (naive UTC; None when the
    agent's is not a time), its timeout and its run_id, when the wrapper gave them."""

    job: str
    started: dt.datetime | None
    timeout_s: float | None
    run_id: str | None


@dataclasses.dataclass(frozen=True)
class InFlightSeen:
    """What a host's heartbeat says of its runs in flight (times naive UTC): each run
    listed, the start of each job's longest run, whether it lists every run in flight
    there (the agent sends at most 100, and their total), and until when it says so
    (it goes stale then, if no other follows). On a host whose heartbeat lists every
    run, a job whose runs the agent has seen and that it does not list is not running.
    The one reading of a heartbeat's runs: the state (state_store) and still_running
    (alerting/hosts.py) both take it from here."""

    listed: tuple[ListedRun, ...]
    runs: dict[str, dt.datetime]
    every_run: bool
    until: dt.datetime

    def fresh(self, now: dt.datetime) -> bool:
        return now < self.until


def in_flight_of(
    connection: Connection, hosts: Iterable[str] | None, now: dt.datetime
) -> dict[str, InFlightSeen]:
    """host -> its runs in flight, from the fresh heartbeats of `hosts` (None: every
    host); a host without one is not in the answer."""
    since = {"since": now - FRESH_FOR}
    if hosts is None:
        rows = connection.execute(_FRESH_HOSTS, since)
    else:
        rows = connection.execute(_FRESH_OF_HOSTS, {**since, "hosts": sorted(set(hosts))})
    found: dict[str, InFlightSeen] = {}
    for row in rows:
        seen = read_in_flight(row.health)
        # Fresh by the heartbeat's own time: last_seen_at moves with every report too
        # (ingest notes the host's clock), which would keep a dead agent's runs in
        # flight for good. Stale from the moment it says so (`until`), when its
        # review comes.
        if seen is not None and seen.fresh(now):
            found[row.host] = seen
    return found


# Built once: a query built per call (ingest asks in every transaction) cost more CPU in
# its construction and cache key than in its execution.
_FRESH_HOSTS = select(tables.hosts.c.host, tables.hosts.c.health).where(
    tables.hosts.c.last_seen_at >= bindparam("since")
)
_FRESH_OF_HOSTS = _FRESH_HOSTS.where(tables.hosts.c.host.in_(bindparam("hosts", expanding=True)))


def read_in_flight(health: str | None) -> InFlightSeen | None:
    """The runs in flight a stored health lists, however old; None when it is not a
    heartbeat's (not JSON, or no time received)."""
    return listed_in_flight(_stored_document(health))


def listed_in_flight(stored: dict[str, Any] | None) -> InFlightSeen | None:
    """read_in_flight of a health parsed already (None: not a JSON object)."""
    received = parse_time(stored.get("received_at")) if stored is not None else None
    if stored is None or received is None:
        return None
    running = stored.get("running")
    entries = running if isinstance(running, list) else []
    listed = tuple(_listed_run(entry) for entry in entries if _is_run(entry))
    runs: dict[str, dt.datetime] = {}
    for run in listed:
        # A run without a readable start has run since at least the heartbeat.
        started = run.started or received
        runs[run.job] = min(runs.get(run.job, started), started)
    total = stored.get("running_total")
    every_run = (
        isinstance(running, list)
        and len(listed) == len(entries)
        and (total is None or (type(total) is int and total <= len(listed)))
    )
    return InFlightSeen(listed, runs, every_run, received + FRESH_FOR)


def _is_run(entry: object) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("job"), str)


def _listed_run(entry: dict[str, Any]) -> ListedRun:
    timeout = entry.get("timeout_s")
    run_id = entry.get("run_id")
    return ListedRun(
        job=entry["job"],
        started=parse_time(entry.get("started_at")),
        timeout_s=float(timeout)
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
        else None,
        run_id=run_id[:36] if isinstance(run_id, str) else None,
    )


def _stored_document(health: str | None) -> dict[str, Any] | None:
    try:
        stored = json.loads(health or "{}")
    except ValueError:
        return None
    return stored if isinstance(stored, dict) else None


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
