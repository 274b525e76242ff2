"""A job's state kept on its row: decided by state.py whenever something changes it.

Three things do: a batch of reports (ingest calls refresh_states() for the jobs it
touched, inside its own transaction), an admin's pause or resume, and time, which
evaluate_due() handles for the jobs whose `review_at` has come (an indexed moment,
so a pass costs what changed, not the number of jobs). Every reader (the page, the
API, /metrics, the SQL views) reads the stored columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select, update

from .db import tables
from .db.engine import is_mysql
from .db.keys import KEYS_PER_QUERY, Key, rows_by_job_key
from .heartbeats import InFlightSeen, in_flight_of
from .state import JobFacts, JobState, decide_state

# Jobs one evaluation pass recomputes at most; the rest wait for the next pass.
PASS_LIMIT = 2000
STATE_COLUMNS = ("state", "state_reason", "next_expected_at", "late_after_at", "missed_at",
                 "review_at")  # fmt: skip


def refresh_states(
    connection: Connection,
    keys: Iterable[Key],
    now: dt.datetime,
    in_flight: Mapping[str, InFlightSeen] | None = None,
) -> int:
    """Decide the state of the (job, host) rows in `keys` at `now` (naive UTC) and store
    what changed. Returns the rows updated. `in_flight`: host -> its runs in flight, for
    the keys' hosts, when the caller has them (a heartbeat, before it writes its host's
    row); otherwise they are read from the hosts' stored heartbeats."""
    ordered = sorted(set(keys))  # the lock order ingest uses for the same rows
    changed = 0
    for start in range(0, len(ordered), KEYS_PER_QUERY):
        rows = _job_rows(connection, ordered[start : start + KEYS_PER_QUERY])
        changed += _decide_rows(connection, rows, now, in_flight)
    return changed


def _decide_rows(
    connection: Connection,
    rows: Sequence[Any],
    now: dt.datetime,
    in_flight: Mapping[str, InFlightSeen] | None = None,
) -> int:
    """Decide the state of these jobs rows (at most KEYS_PER_QUERY, in key order) and
    store what changed; the rows updated. `in_flight` as refresh_states takes it."""
    chunk = [(row["job"], row["host"]) for row in rows]
    if not chunk:
        return 0  # no such jobs (a run in flight of a job that never reported)
    if in_flight is None:
        in_flight = in_flight_of(connection, {host for _job, host in chunk}, now)
    updates = []
    for row in rows:
        facts = facts_of(row, in_flight.get(row["host"]))
        decided = decide_state(facts, now)
        if _stored(row) != decided:
            updates.append(_update_values(row, decided))
    return store_decisions(connection, updates) if updates else 0


def store_decisions(connection: Connection, updates: list[dict[str, Any]]) -> int:
    """Write decisions (_update_values rows), each only if its row is still the one it
    was decided from. Returns the rows written."""
    if not is_mysql(connection):
        return int(connection.execute(_UPDATE, updates).rowcount)
    # One statement per DECISIONS_PER_UPDATE: executemany sends MySQL an UPDATE per row,
    # a round trip each, which for a batch of many jobs would cost more than the rest of
    # ingest. A single-table UPDATE by primary key, its values bound: a derived table
    # (UPDATE ... JOIN (SELECT ... UNION ALL ...)) had MariaDB build a temporary table
    # per batch, and MariaDB 10.11 once crashed cleaning one up.
    written = 0
    for start in range(0, len(updates), DECISIONS_PER_UPDATE):
        sql, values = _mysql_update(updates[start : start + DECISIONS_PER_UPDATE])
        written += int(connection.exec_driver_sql(sql, values).rowcount)
    return written


# Decisions per UPDATE on MySQL: each row updated looks for its key among the
# statement's, so a statement costs the server the square of this.
DECISIONS_PER_UPDATE = 100
# The row a decision was made from: the same key, run, pause, breaker and latest failure
# (an older failure delivered late, or a lost run found later, moves that one alone).
_MYSQL_STILL = (
    "(job = %s AND host = %s AND last_run_id <=> %s AND paused = %s AND breaker_state = %s"
    " AND last_failure_at <=> %s)"
)
_B_SET = ("b_state", "b_reason", "b_next", "b_late", "b_missed", "b_review")
_B_STILL = ("b_job", "b_host", "b_run", "b_paused", "b_breaker", "b_failure")


def _mysql_update(updates: Sequence[dict[str, Any]]) -> tuple[str, tuple[Any, ...]]:
    """UPDATE smartcron_jobs SET state = CASE WHEN job = %s AND host = %s THEN %s ...
    END, ... WHERE (the first row it was decided from) OR (the second) ...; its values."""
    values: list[Any] = []
    assignments = []
    for column, name in zip(STATE_COLUMNS, _B_SET, strict=True):
        whens = " ".join(["WHEN job = %s AND host = %s THEN %s"] * len(updates))
        assignments.append(f"{column} = CASE {whens} ELSE {column} END")
        for decision in updates:
            values += (decision["b_job"], decision["b_host"], decision[name])
    for decision in updates:
        values += (decision[name] for name in _B_STILL)
    where = " OR ".join([_MYSQL_STILL] * len(updates))
    # FORCE INDEX: by cost, MariaDB reads the whole primary key instead of the keys' ranges
    # once the keys are a fair part of the table (60 of 212 rows do it), and at REPEATABLE
    # READ an UPDATE keeps every row it read locked until commit: the whole table, which
    # every other ingest and the evaluation pass then waited for.
    sql = f"UPDATE smartcron_jobs FORCE INDEX (PRIMARY) SET {', '.join(assignments)} WHERE {where}"
    return sql, tuple(values)


def evaluate_due(engine: Engine, now: dt.datetime, limit: int = PASS_LIMIT) -> int:
    """The evaluation pass: recompute the jobs whose review moment has passed (late
    now, a failure aged out of the last 24 h, a late job's next run due). Safe on every
    replica at once: a row a report changed meanwhile is left to that report's own
    refresh (the update is conditional on the run it was decided from)."""
    j = tables.jobs.c
    # The due rows whole, in one read of ix_jobs_review: reading their keys first and
    # then the rows by key cost a second round trip per KEYS_PER_QUERY (a fifth of a
    # storm's evaluation on MariaDB, bench/alerts.py).
    query = select(tables.jobs).where(j.review_at <= now).order_by(j.review_at).limit(limit)
    with engine.begin() as connection:
        rows = list(connection.execute(query).mappings())
        rows.sort(key=lambda row: (row["job"], row["host"]))  # ingest's lock order
        changed = 0
        for start in range(0, len(rows), KEYS_PER_QUERY):
            changed += _decide_rows(connection, rows[start : start + KEYS_PER_QUERY], now)
        return changed


def facts_of(row: Any, host_in_flight: InFlightSeen | None = None) -> JobFacts:
    """The job's facts from its row and what the fresh heartbeat of its host (if any)
    lists in flight there."""
    seen = host_in_flight
    since = seen.runs.get(row["job"]) if seen is not None else None
    until = seen.until if seen is not None and since is not None else None
    every_run = seen is not None and seen.every_run
    return JobFacts(
        schedule=row["schedule"],
        timezone=row["timezone"],
        first_seen_at=_naive(row["first_seen_at"]),
        last_status=row["last_status"],
        last_started_at=_naive(row["last_started_at"]),
        last_duration_s=row["last_duration_s"],
        breaker_state=row["breaker_state"],
        paused=bool(row["paused"]),
        paused_by=row["paused_by"],
        paused_at=_naive(row["paused_at"]),
        last_failure_at=_naive(row["last_failure_at"]),
        running_since=since,
        running_seen_until=until,
        unlisted_at=_naive(row["unlisted_at"]),
        grace_s=row["grace_s"],
        # The agent lists this job's runs: it has before, and lists all of them now.
        runs_seen=every_run and row["in_flight_seen_at"] is not None,
    )


def _naive(value: Any) -> Any:
    """SQLite hands times back as datetime through Core; an aware one loses its zone."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _stored(row: Any) -> JobState:
    return JobState(
        row["state"], row["state_reason"], _naive(row["next_expected_at"]),
        _naive(row["late_after_at"]), _naive(row["missed_at"]), _naive(row["review_at"]),
    )  # fmt: skip


# What deciding a job's state reads of its row: facts_of, _stored and _update_values.
READ_COLUMNS = ("job", "host", "schedule", "timezone", "first_seen_at", "last_run_id",
                "last_status", "last_started_at", "last_duration_s", "last_failure_at",
                "breaker_state", "paused", "paused_by", "paused_at", "unlisted_at", "grace_s",
                "in_flight_seen_at", *STATE_COLUMNS)  # fmt: skip
_READ = tuple(tables.jobs.c[name] for name in READ_COLUMNS)


def _job_rows(connection: Connection, keys: Sequence[Key]) -> list[Any]:
    return rows_by_job_key(connection, _READ, keys)


def _update_values(row: Any, decided: JobState) -> dict[str, Any]:
    return {
        "b_job": row["job"], "b_host": row["host"], "b_run": row["last_run_id"],
        "b_paused": row["paused"], "b_breaker": row["breaker_state"],
        "b_failure": row["last_failure_at"], "b_state": decided.state,
        "b_reason": decided.reason[:STATE_REASON_LENGTH],
        "b_next": decided.next_expected_at, "b_late": decided.late_after_at,
        "b_missed": decided.missed_at, "b_review": decided.review_at,
    }  # fmt: skip


STATE_REASON_LENGTH = 512
_j = tables.jobs.c
# Conditional on the run, the pause, the breaker and the latest failure the decision was
# made from: a report or an admin that changed the row since then has its own refresh,
# which must win.
_UPDATE = (
    update(tables.jobs)
    .where(
        _j.job == bindparam("b_job"), _j.host == bindparam("b_host"),
        or_(_j.last_run_id == bindparam("b_run"),
            and_(_j.last_run_id.is_(None), bindparam("b_run").is_(None))),
        _j.paused == bindparam("b_paused"), _j.breaker_state == bindparam("b_breaker"),
        # As instants: SQLite keeps times as text, and a time the migrations wrote
        # ('... 02:00:00') is not spelled as SQLAlchemy binds one ('... 02:00:00.000000').
        func.julianday(_j.last_failure_at).is_not_distinct_from(
            func.julianday(bindparam("b_failure", type_=_j.last_failure_at.type))),
    )
    .values(state=bindparam("b_state"), state_reason=bindparam("b_reason"),
            next_expected_at=bindparam("b_next"), late_after_at=bindparam("b_late"),
            missed_at=bindparam("b_missed"), review_at=bindparam("b_review"))
)  # fmt: skip
