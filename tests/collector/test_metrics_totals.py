"""metrics.RunTotals on both backends: the settled runs summed once and kept, the
newer ones read on every scrape, and the sum always that of every run stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from smartcron.collector import metrics
from smartcron.collector.db import tables
from smartcron.collector.ingest import ingest_reports, now_utc
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, func, select

from tests.support.service import make_report


def reports(job: str, durations: list[float], status: str = "success") -> list[RunReport]:
    return [
        RunReport.model_validate(make_report(job, status=status, duration_s=d, schedule=None))
        for d in durations
    ]


def store(engine: Engine, batch: list[RunReport], received_ago_s: float) -> None:
    received = now_utc() - dt.timedelta(seconds=received_ago_s)
    assert ingest_reports(engine, batch, received_at=received) == (len(batch), 0)


def read(engine: Engine, totals: metrics.RunTotals) -> dict[tuple[str, str], Any]:
    with engine.connect() as connection:
        return {
            key: (t.runs, t.duration_sum, t.within) for key, t in totals.read(connection).items()
        }


def everything(engine: Engine) -> dict[tuple[str, str], Any]:
    """The oracle: every run counted in one pass, no settled part."""
    with engine.connect() as connection:
        return {
            key: (t.runs, t.duration_sum, t.within)
            for key, t in metrics._count(connection, 0, None).items()
        }


def newest_id(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.max(tables.runs.c.id))).scalar_one())


SETTLED = metrics.SETTLE_S + 60  # stored long enough ago to be settled


def test_the_settled_runs_are_kept_and_the_total_is_every_run(engine: Engine) -> None:
    store(engine, reports("sync", [0.5, 2.0, 20.0]), SETTLED)
    store(engine, reports("sync", [4.0], status="failed"), SETTLED)
    settled_through = newest_id(engine)
    store(engine, reports("sync", [7.0]), 0)  # just stored: not settled yet
    store(engine, reports("sync", [0.0], status="skipped_locked"), 0)

    totals = metrics.RunTotals()
    first = read(engine, totals)
    assert totals._settled_through == settled_through
    assert first == everything(engine)
    within = [1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4]  # 0.5 | 2 | 7 | 20 against the bounds
    assert first[("sync", "success")] == (4, 29.5, within)
    assert first[("sync", "failed")] == (1, 4.0, [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    # A skip ran nothing: counted as a run, with no duration.
    assert first[("sync", "skipped_locked")] == (1, 0.0, [0] * len(metrics.BUCKETS))

    # More runs: some settle (the part moves on), some are new; nothing counted twice.
    store(engine, reports("sync", [100.0]), SETTLED)
    moved_to = newest_id(engine)
    store(engine, reports("backup", [3600.0]), 0)
    second = read(engine, totals)
    assert totals._settled_through == moved_to
    assert second == everything(engine)
    assert second[("sync", "success")][0] == 5
    assert second[("backup", "success")] == (1, 3600.0, [0] * 8 + [1] * 3)

    # Another replica, starting now, settles elsewhere and gives the same figures.
    assert read(engine, metrics.RunTotals()) == second


def test_an_empty_store_has_no_totals(engine: Engine) -> None:
    assert read(engine, metrics.RunTotals()) == {}


@pytest.mark.parametrize("ago", [0, SETTLED])
def test_a_scrape_sees_a_run_the_moment_it_is_stored(engine: Engine, ago: float) -> None:
    totals = metrics.RunTotals()
    assert read(engine, totals) == {}
    store(engine, reports("sync", [1.0]), ago)
    assert read(engine, totals)[("sync", "success")][0] == 1
