"""One pass of the alert engine: run_pass(engine, now), with `now` injected.

`serve` runs it on one replica at a time (loop.py, by lease), `smartcron-collector
alerts` alone; tests and bench/alerts.py call it with a clock of their own. A pass
costs what changed: the states due for review (state_store.evaluate_due, an indexed
moment), the runs stored since the last pass (a cursor on their id), the jobs that
became late since then (ix_jobs_late_after), the open alerts of the rules it may
resolve (uq_alerts_open) and the hosts' rows (few). Every change of one pass is one
transaction, events included: a pass that fails leaves nothing half done, and the
next one does it all again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, func, select

from ..db import tables
from ..db.engine import is_mysql
from ..state_store import evaluate_due
from . import cursors
from .from_runs import STALE_AFTER, RunRules, read_new_runs
from .hosts import apply_host_rules
from .missed import all_late, newly_late, open_missed, resolve_missed
from .silence import Silencer
from .store import Transitions

# No pass for this long: the collector (or this engine) was down; what fell due then
# waits CATCH_UP after it is back, for the agents to send what their spools kept
# (their backoff is at most 5 minutes), then opens one alert per job that says so.
DOWN_AFTER = dt.timedelta(minutes=5)
CATCH_UP = dt.timedelta(minutes=10)
SWEEP_EVERY = dt.timedelta(minutes=10)
EVALUATION_ROUNDS = 100  # of state_store.PASS_LIMIT jobs each: a storm of 200,000

# What runs after detection: delivery's pass (the collector's tick, loop.py, runs it
# after run_pass under the same lease; run_pass(..., after=deliver) still takes one).
AfterDetection = Callable[[Engine, dt.datetime], object]


@dataclasses.dataclass
class PassResult:
    opened: int = 0
    repeated: int = 0
    resolved: int = 0
    silenced: int = 0  # opened without an 'opened' event (paused, maintenance)
    runs_examined: int = 0
    held: bool = False  # just back from an outage: missed and host rules wait
    outage: tuple[dt.datetime, dt.datetime] | None = None
    seconds: float = 0.0
    # Seconds per step (states, runs, missed, hosts, commit, after): where a pass went.
    steps: dict[str, float] = dataclasses.field(default_factory=dict)

    def step(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.steps[name] = self.steps.get(name, 0.0) + now - since
        return now


def run_pass(
    engine: Engine,
    now: dt.datetime,
    after: AfterDetection | None = None,
    down_after: dt.timedelta | None = None,
) -> PassResult:
    """Detect at `now` (naive UTC): open, repeat and resolve alerts, with their events.
    `down_after`: a longer gap since the last pass is an outage (default DOWN_AFTER; a
    loop with a longer interval gives three of its intervals)."""
    started = time.perf_counter()
    result = PassResult()
    evaluated = evaluate_states(engine, now)
    mark = result.step("states", started)
    with _pass_connection(engine) as connection, connection.begin():
        marks = cursors.read_cursors(connection)
        changes = Transitions(connection, now)
        silencer = Silencer(connection, now)
        outage = _outage(connection, marks, now, down_after or DOWN_AFTER)
        hold = outage is not None and now < outage[1] + CATCH_UP
        result.held, result.outage = hold, outage

        position = marks.get(cursors.RUNS, (None, None))[0]
        if position is None:
            position = _first_position(connection, now)
        read = read_new_runs(connection, position, now)
        RunRules(changes, silencer).apply(read.rows)
        result.runs_examined = len(read.rows)
        cursors.write_cursor(connection, cursors.RUNS, now, position=read.position)
        mark = result.step("runs", mark)

        still_missed = resolve_missed(changes)
        if not hold and evaluated:
            late_since = marks.get(cursors.LATE, (None, None))[1] or now - DOWN_AFTER
            note = (outage[0], outage[1] + CATCH_UP) if outage else None
            open_missed(changes, silencer, newly_late(late_since, now), still_missed, note)
            cursors.write_cursor(connection, cursors.LATE, now, at=now)
            swept = marks.get(cursors.SWEEP, (None, None))[1]
            if swept is None or now - swept >= SWEEP_EVERY:
                open_missed(changes, silencer, all_late(), still_missed, note)
                cursors.write_cursor(connection, cursors.SWEEP, now, at=now)
        mark = result.step("missed", mark)
        apply_host_rules(changes, silencer, hold)
        cursors.write_cursor(connection, cursors.PASS, now, at=now)
        changes.flush()
        mark = result.step("hosts", mark)
    mark = result.step("commit", mark)
    for name in ("opened", "repeated", "resolved", "silenced"):
        setattr(result, name, changes.counts[name])
    if after is not None:
        after(engine, now)
        result.step("after", mark)
    result.seconds = time.perf_counter() - started
    return result


def _pass_connection(engine: Engine) -> Connection:
    """A pass's connection; on MySQL at REPEATABLE READ whatever the server's default,
    which Transitions.open_many relies on (SQLite has one writer at a time)."""
    connection = engine.connect()
    if is_mysql(connection):
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    return connection


def evaluate_states(engine: Engine, now: dt.datetime) -> bool:
    """Bring every job's stored state to `now` (the state module decides; the engine
    only reads). False if a storm left some for the next pass: lateness then waits."""
    j = tables.jobs.c
    due = select(j.job).where(j.review_at <= now).limit(1)
    for _round in range(EVALUATION_ROUNDS):
        evaluate_due(engine, now)
        with engine.connect() as connection:
            if connection.execute(due).first() is None:
                return True
    return False


def _outage(
    connection: Connection, marks: dict[str, tuple[int | None, dt.datetime | None]],
    now: dt.datetime, down_after: dt.timedelta,
) -> tuple[dt.datetime, dt.datetime] | None:  # fmt: skip
    """(from, to) of the collector's latest outage, when it was recent enough to matter."""
    last = marks.get(cursors.PASS, (None, None))[1]
    if last is not None and now - last > down_after:
        cursors.write_cursor(connection, cursors.OUTAGE_FROM, now, at=last)
        cursors.write_cursor(connection, cursors.OUTAGE_TO, now, at=now)
        return (last, now)
    since, until = (marks.get(name, (None, None))[1] for name in (cursors.OUTAGE_FROM,
                                                                 cursors.OUTAGE_TO))  # fmt: skip
    if since is not None and until is not None and now < until + CATCH_UP + SWEEP_EVERY:
        return (since, until)
    return None


def _first_position(connection: Connection, now: dt.datetime) -> int:
    """The engine's first pass examines the last STALE_AFTER of runs, not all history."""
    r = tables.runs.c
    old = select(func.max(r.id)).where(r.started_at < now - STALE_AFTER)
    return int(connection.execute(old).scalar() or 0)
