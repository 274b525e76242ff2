"""too_slow's samples, read for a whole pass at once (collector/alerting/slow_samples.py),
on SQLite and MySQL: each new success gets the same last 30 successful runs that a
read of its own gives, a report shipped late included, and the statements a pass needs
for them do not grow with its runs."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from smartcron.collector.alerting.from_runs import RUN_COLUMNS, SLOW_SAMPLE
from smartcron.collector.alerting.slow_samples import SuccessSamples, one_sample
from smartcron.collector.db import tables
from sqlalchemy import Engine, event, select

from tests.support.alerts import store_run

T0 = dt.datetime(2030, 6, 10, 8, 0, 0)
MINUTE = dt.timedelta(minutes=1)


def store_history(engine: Engine, jobs: int, runs: int, seed: int) -> None:
    rng = random.Random(seed)
    for minute in range(runs):
        status = rng.choice(["success"] * 5 + ["failed", "lost"])
        store_run(engine, f"job{minute % jobs}", T0 + minute * MINUTE, status=status,
                  duration_s=round(rng.uniform(0.5, 90), 3), schedule=None)  # fmt: skip


def new_runs(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(*RUN_COLUMNS).order_by(tables.runs.c.id)))


def samples_and_statements(engine: Engine, rows: list[Any]) -> tuple[list[list[float]], int]:
    """Each success's sample as read for the whole pass, and the statements it took."""
    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    with engine.connect() as connection:
        event.listen(engine, "before_cursor_execute", count)
        try:
            samples = SuccessSamples(connection, rows, SLOW_SAMPLE, lambda _key: True)
            found = [samples.before(row) for row in rows if row.status == "success"]
        finally:
            event.remove(engine, "before_cursor_execute", count)
    return found, statements


def one_by_one(engine: Engine, rows: list[Any]) -> list[list[float]]:
    with engine.connect() as connection:
        return [
            one_sample(connection, row.job, row.host, row.started_at, SLOW_SAMPLE)
            for row in rows
            if row.status == "success"
        ]


def test_a_pass_reads_the_samples_a_read_per_run_gives(engine: Engine) -> None:
    store_history(engine, jobs=3, runs=150, seed=4)
    # A spool shipped late: stored after the others, started before most of them.
    store_run(engine, "job1", T0 + 7 * MINUTE + dt.timedelta(seconds=20), duration_s=3.0,
              received=T0 + 200 * MINUTE, schedule=None)  # fmt: skip
    rows = new_runs(engine)[-12:]  # a pass: the newest runs by id, the late one with them
    found, statements = samples_and_statements(engine, rows)
    assert found == one_by_one(engine, rows)
    assert statements > 1, "the late run, older than the others read, is read on its own"
    lengths = [len(sample) for sample in found]
    assert SLOW_SAMPLE in lengths and min(lengths) <= 3, "the late run has its own few"


def test_the_statements_follow_the_jobs_not_the_runs(engine: Engine) -> None:
    store_history(engine, jobs=4, runs=40, seed=5)
    _found, few = samples_and_statements(engine, new_runs(engine))
    store_history(engine, jobs=4, runs=200, seed=6)
    found, many = samples_and_statements(engine, new_runs(engine))
    assert few == many == 1, "one UNION ALL for four jobs, however many runs"
    assert len(found) > 100
