"""smartcron_run_rollup, on SQLite and MySQL, up to revision 0016 (0017 drops it with the
triggers, since nothing reads it): migrate fills it from the stored runs once when it
upgrades a database of v0.1.0's version 1, also while runs keep coming, skipped runs
not at all, lost runs without a duration; and revision 0017 leaves no trigger.

What the rollup should hold is worked out here in Python from the runs themselves."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from smartcron.collector.db import tables
from smartcron.collector.db.engine import is_mysql
from smartcron.collector.db.migrate import head_revision, migrate
from smartcron.collector.ingest import ingest_reports
from smartcron.wrapper.schema import SKIPPED_STATUSES, RunReport
from sqlalchemy import Engine, inspect, select

from tests.support import v0_1_0
from tests.support.service import make_report

GAMMA = 1.01 / 0.99
UNTIMED = -32768  # the bucket of runs without a duration: lost runs
MIB = 2**20
Key = tuple[str, str, str, int]  # day, job, host, bucket


@dataclass(frozen=True)
class Run:
    day: str  # UTC, YYYY-MM-DD
    job: str
    host: str
    status: str
    duration_s: float | None
    peak_rss_bytes: int | None


def bucket(duration_s: float | None) -> int:
    if duration_s is None:
        return UNTIMED
    return math.ceil(math.log(max(duration_s, 0.001)) / math.log(GAMMA))


def expected_rollup(runs: Iterable[Run]) -> dict[Key, tuple[Any, ...]]:
    """(runs, successes, duration sum, min, max, rss sum, rss count, rss max) per key."""
    cells: dict[Key, list[Run]] = {}
    for run in runs:
        if run.status not in SKIPPED_STATUSES:
            key = (run.day, run.job, run.host, bucket(run.duration_s))
            cells.setdefault(key, []).append(run)
    rollup = {}
    for key, cell in cells.items():
        durations = [0.0 if run.duration_s is None else run.duration_s for run in cell]
        memory = [run.peak_rss_bytes for run in cell if run.peak_rss_bytes is not None]
        rollup[key] = (
            len(cell), sum(run.status == "success" for run in cell), pytest.approx(sum(durations)),
            min(durations), max(durations), sum(memory), len(memory), max(memory, default=None),
        )  # fmt: skip
    return rollup


def runs_of(reports: Iterable[dict[str, Any]]) -> list[Run]:
    return [
        Run(r["started_at"][:10], r["job"], r["host"], r["status"], r["duration_s"],
            r["peak_rss_bytes"])
        for r in reports
    ]  # fmt: skip


def stored_runs(engine: Engine) -> list[Run]:
    r = tables.runs.c
    query = select(r.started_at, r.job, r.host, r.status, r.duration_s, r.peak_rss_bytes)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [Run(row[0].date().isoformat(), *row[1:]) for row in rows]


# The last revision with the rollup, and with the triggers that 0017 drops.
LAST_WITH_ROLLUP = "0016"


def stored_rollup(engine: Engine) -> dict[Key, tuple[Any, ...]]:
    query = (
        "SELECT day, job, host, bucket, runs, successes, duration_sum, duration_min,"
        " duration_max, rss_sum, rss_count, rss_max FROM smartcron_run_rollup"
    )
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(query).all()
    return {(str(row[0])[:10], row[1], row[2], row[3]): tuple(row[4:]) for row in rows}


def assert_counted_once(engine: Engine, runs: Iterable[Run]) -> None:
    assert stored_rollup(engine) == expected_rollup(runs)


def mixed_reports(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Runs of a few jobs and hosts with every status, sharing rollup rows: durations
    from a short list, some under the 1 ms floor, memory missing now and then."""
    rng = random.Random(seed)
    statuses = ["success"] * 6 + ["failed", "timeout", "lost", "skipped_locked", "skipped_paused"]
    now = dt.datetime.now(dt.timezone.utc)
    return [
        make_report(
            f"job{rng.randrange(4)}",
            host=f"web{rng.randrange(2)}",
            status=rng.choice(statuses),
            # An hour and a half back at least: even the longest run has ended by now.
            started=now - dt.timedelta(hours=rng.randrange(0, 72) + 1, seconds=90),
            duration_s=rng.choice([0.0, 0.0004, 1.0, 1.005, 2.5, 2.5, 60.0, 3600.25]),
            peak_rss_bytes=rng.choice([None, 10 * MIB, 80 * MIB, 2**40]),
        )
        for _ in range(count)
    ]


# ---------------------------------------------------------------- upgrading from version 1


def version_1_database(engine: Engine) -> None:
    """What v0.1.0's init-db left before the rollup: no table, no trigger, version 1."""
    v0_1_0.create_schema(engine, version=1)


def timed_reports(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """mixed_reports without lost runs: v0.1.0's tables take no run without a duration,
    and today's ingest stores none for a lost run (test_migrations.py has those)."""
    return [report for report in mixed_reports(count * 2, seed) if report["status"] != "lost"][
        :count
    ]


def store_as_v0_1_0(engine: Engine, reports: list[dict[str, Any]]) -> None:
    """The runs of these reports, inserted in v0.1.0's columns (today's ingest writes
    columns a v0.1.0 database does not have); the trigger, where there is one, counts them."""
    rows = [
        v0_1_0.run_row(r["run_id"], r["job"], r["status"],
                       dt.datetime.fromisoformat(r["started_at"].replace("Z", "+00:00"))
                       .replace(tzinfo=None),
                       r["duration_s"], host=r["host"], peak_rss_bytes=r["peak_rss_bytes"])
        for r in reports
    ]  # fmt: skip
    v0_1_0.load_rows(engine, {"smartcron_runs": rows})


def ingest(engine: Engine, reports: list[dict[str, Any]]) -> None:
    ingest_reports(engine, [RunReport.model_validate(report) for report in reports])


def revision(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        query = "SELECT version_num FROM smartcron_alembic_version"
        return list(connection.exec_driver_sql(query).scalars())


def triggers(engine: Engine) -> int:
    query = (
        "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
        if is_mysql(engine)
        else "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'"
    )
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(query).scalar_one())


def test_upgrade_fills_the_rollup_from_the_runs_once(empty_engine: Engine) -> None:
    version_1_database(empty_engine)
    old = timed_reports(300)
    store_as_v0_1_0(empty_engine, old)  # version 1: nothing counts them yet

    assert migrate(empty_engine, to=LAST_WITH_ROLLUP) == LAST_WITH_ROLLUP

    assert_counted_once(empty_engine, runs_of(old))
    filled = stored_rollup(empty_engine)
    assert migrate(empty_engine, to=LAST_WITH_ROLLUP) == LAST_WITH_ROLLUP
    assert stored_rollup(empty_engine) == filled, "a second migrate rebuilt or re-counted"
    # The run rollup's, the hourly, host-hourly and daily rollups' (0009), the
    # performance days' (0014) and the recent failures' (0016).
    assert triggers(empty_engine) == 6
    new = mixed_reports(50, seed=3)
    store_as_v0_1_0(empty_engine, [r for r in new if r["status"] != "lost"])
    assert_counted_once(empty_engine, stored_runs(empty_engine))

    # 0017: ingest writes the aggregates; no trigger is left, nor the rollup no one read.
    assert migrate(empty_engine) == head_revision()
    assert (revision(empty_engine), triggers(empty_engine)) == ([head_revision()], 0)
    assert not inspect(empty_engine).has_table("smartcron_run_rollup")
    ingest(empty_engine, new)  # the lost ones: the others are stored already
    assert len(stored_runs(empty_engine)) == len(old) + len(new)


class Sender:
    """Batches of 5 runs inserted in v0.1.0's columns, back to back, on a thread of its own;
    `spans` holds the (start, end) time of each batch sent."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.spans: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(1)

    def send(self) -> None:
        for seed in itertools.count(100):
            if self.stop.is_set():
                return
            began = time.monotonic()
            store_as_v0_1_0(self.engine, timed_reports(5, seed))
            self.spans.append((began, time.monotonic()))

    @contextlib.contextmanager
    def running(self) -> Iterator[Callable[[int], None]]:
        """Sending until the block ends; yields wait_for(n): until n batches are sent."""
        sending = self.pool.submit(self.send)

        def wait_for(batches: int) -> None:
            while len(self.spans) < batches:
                if sending.done():
                    sending.result()  # raises what stopped it
                    raise AssertionError("the sender stopped")
                time.sleep(0.01)

        try:
            yield wait_for
        finally:
            self.stop.set()
            self.pool.shutdown()
        sending.result()


def test_upgrade_counts_runs_that_arrive_meanwhile_once(empty_engine: Engine) -> None:
    # The sender inserts as v0.1.0 did, which only the triggers of 0016 count.
    # Without the rebuilds' LOCK TABLES this fails on MySQL: the sender deadlocks with
    # a rebuild beyond its retries, or runs are counted twice.
    version_1_database(empty_engine)
    store_as_v0_1_0(empty_engine, timed_reports(20_000))

    sender = Sender(empty_engine)
    with sender.running() as wait_for:
        wait_for(3)
        began = time.monotonic()
        migrate(empty_engine, to=LAST_WITH_ROLLUP)
        ended = time.monotonic()
        wait_for(len(sender.spans) + 3)

    during = [span for span in sender.spans if span[0] < ended and span[1] > began]
    assert during, "no batch was ingested while migrate ran: the test proved nothing"
    assert_counted_once(empty_engine, stored_runs(empty_engine))
