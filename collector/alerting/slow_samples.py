"""too_slow's samples for one pass: the successful runs before each new success, read
for all the pass's jobs in a few statements instead of one statement per run.

A pass reads up to RUNS_PER_PASS runs; asking the database for each success's sample
separately was 5,000 statements a pass at 10,000 jobs (30 s of a pass on two cores
while the first pass worked through the last 24 hours, and GET / waited behind it).
Here each job's part of one UNION ALL reads, backwards along ix_runs_job_started, the
`limit + k` successful runs before the newest of its k new runs: every new run's own
last `limit` are among them, unless runs stored earlier started after it (a report
shipped late), and then that run alone is asked for as before."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Float, Integer, bindparam, select, text

from ..db import tables
from ..db.engine import is_mysql
from ..db.keys import KEYS_PER_QUERY
from .store import naive

Key = tuple[str, str]
_r = tables.runs.c


@functools.lru_cache(maxsize=64)
def _statement(count: int, mysql: bool) -> Any:
    """A UNION ALL of `count` parts, as text built once per size: SQLAlchemy took 3 s of
    a pass's CPU assembling 2,800 parts as constructs, the database 0.4 s running them.
    The index is named on MySQL: choosing among the indexes that could serve each part
    costs the server more than reading it (collector/queries.py does the same)."""
    hint = " FORCE INDEX (ix_runs_job_started)" if mysql else ""
    # A subquery each: SQLite takes no LIMIT on a bare part of a UNION.
    parts = [
        f"SELECT {n} AS part, started_at, duration_s FROM (SELECT started_at, duration_s"
        f" FROM smartcron_runs{hint} WHERE job = :j{n} AND host = :h{n} AND started_at < :t{n}"
        f" AND status = 'success' AND duration_s IS NOT NULL"
        f" ORDER BY started_at DESC LIMIT :l{n}) AS p{n}"
        for n in range(count)
    ]
    started = tables.runs.c.started_at.type
    return (
        text(" UNION ALL ".join(parts))
        .bindparams(*(bindparam(f"t{n}", type_=started) for n in range(count)))
        .columns(part=Integer, started_at=started, duration_s=Float)
    )


def one_sample(connection: Connection, job: str, host: str, before: dt.datetime,
               limit: int) -> list[float]:  # fmt: skip
    """The durations of the last `limit` successful runs of (job, host) before `before`."""
    query = (
        select(_r.duration_s)
        .where(_r.job == job, _r.host == host, _r.started_at < before,
               _r.status == "success", _r.duration_s.is_not(None))
        .order_by(_r.started_at.desc()).limit(limit)
    )  # fmt: skip
    return [float(duration) for (duration,) in connection.execute(query)]


class SuccessSamples:
    """The durations of the last `limit` successful runs before each of `rows`, for the
    jobs `wanted` says need them."""

    def __init__(self, connection: Connection, rows: Sequence[Any], limit: int,
                 wanted: Callable[[Key], bool]) -> None:  # fmt: skip
        self.connection = connection
        self.limit = limit
        newest: dict[Key, dt.datetime] = {}
        count: dict[Key, int] = defaultdict(int)
        for row in rows:
            key = (row.job, row.host)
            if row.status == "success" and wanted(key):
                count[key] += 1
                started = naive(row.started_at)
                newest[key] = max(newest.get(key, started), started)
        # key -> (started, duration) newest first, and whether the read stopped at its limit
        self.read: dict[Key, tuple[list[tuple[dt.datetime, float]], bool]] = {}
        keys = sorted(newest)
        for start in range(0, len(keys), KEYS_PER_QUERY):
            self._read(keys[start : start + KEYS_PER_QUERY], newest, count)

    def _read(self, keys: Sequence[Key], newest: dict[Key, dt.datetime],
              count: dict[Key, int]) -> None:  # fmt: skip
        params: dict[str, Any] = {}
        for number, key in enumerate(keys):
            params[f"j{number}"], params[f"h{number}"] = key
            params[f"t{number}"], params[f"l{number}"] = newest[key], self.limit + count[key]
        mysql = is_mysql(self.connection)
        found: dict[int, list[tuple[dt.datetime, float]]] = defaultdict(list)
        for number, started, duration in self.connection.execute(
            _statement(len(keys), mysql), params
        ):
            found[number].append((naive(started), float(duration)))
        for number, key in enumerate(keys):
            runs = sorted(found[number], key=lambda run: run[0], reverse=True)
            self.read[key] = (runs, len(runs) >= self.limit + count[key])

    def before(self, row: Any) -> list[float]:
        """The durations of the last `limit` successful runs of row's job before it."""
        key = (row.job, row.host)
        started = naive(row.started_at)
        runs, full = self.read.get(key, ([], True))
        sample = [duration for when, duration in runs if when < started][: self.limit]
        if len(sample) < self.limit and full:
            # Runs the read stopped at started after this one: it needs a read of its own.
            return one_sample(self.connection, row.job, row.host, started, self.limit)
        return sample
