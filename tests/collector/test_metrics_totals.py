"""The run totals of /metrics (metrics.read_totals over smartcron_run_totals) on both
backends: the figures of every run stored, summed over hosts, a run in the next scrape
once its batch is stored, and a counter that runs deleted or aggregates pruned do not
take down. (Two processes giving the same figures: test_replicas.py.)"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from smartcron.collector import metrics
from smartcron.collector.db import tables
from smartcron.collector.ingest import ingest_reports, now_utc
from smartcron.collector.rollups import prune_hourly
from smartcron.wrapper.schema import SKIPPED_STATUSES, RunReport
from sqlalchemy import Engine, delete

from tests.support.collector_api import stored_runs
from tests.support.service import make_report

Figures = dict[tuple[str, str], tuple[int, int, list[int], int]]


def reports(
    job: str, durations: list[float], status: str = "success", host: str = "web1"
) -> list[RunReport]:
    return [
        RunReport.model_validate(
            make_report(job, host=host, status=status, duration_s=d, schedule=None)
        )
        for d in durations
    ]


def store(engine: Engine, batch: list[RunReport]) -> None:
    stored = ingest_reports(engine, batch)
    assert (stored.accepted, stored.duplicates, stored.refused) == (len(batch), 0, {})


def scrape(engine: Engine) -> Figures:
    """(runs, duration_us, within, timed) by (job, status), as a scrape reads them."""
    with engine.connect() as connection:
        found = metrics.read_totals(connection)
    return {key: (t.runs, t.duration_us, t.within, t.timed) for key, t in found.items()}


def from_the_runs(engine: Engine) -> Figures:
    """The oracle: the same figures counted in Python from every stored run."""
    figures: dict[tuple[str, str], Any] = {}
    for run in stored_runs(engine):
        runs, duration_us, within, timed = figures.get(
            (run["job"], run["status"]), (0, 0, [0] * len(metrics.BUCKETS), 0)
        )
        duration = run["duration_s"]
        if run["status"] not in SKIPPED_STATUSES and duration is not None:
            duration_us += math.floor(duration * 1_000_000 + 0.5)
            within = [
                n + (duration <= bound) for n, bound in zip(within, metrics.BUCKETS, strict=True)
            ]
            timed += 1
        figures[(run["job"], run["status"])] = (runs + 1, duration_us, within, timed)
    return figures


def test_the_figures_are_every_run_summed_over_hosts(engine: Engine) -> None:
    store(engine, reports("sync", [0.5, 2.0]) + reports("sync", [20.0], host="web2"))
    store(engine, reports("sync", [7.0], host="web3") + reports("sync", [4.0], status="failed"))
    store(engine, reports("sync", [3.0], status="skipped_locked"))
    store(engine, reports("sync", [0.0], status="lost"))
    store(engine, reports("backup", [3600.0, 43200.0 + 1e-6]))

    figures = scrape(engine)
    assert figures == from_the_runs(engine)
    within = [1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4]  # 0.5 | 2 | 7 | 20 against the bounds
    assert figures[("sync", "success")] == (4, 29_500_000, within, 4)
    assert figures[("sync", "failed")] == (1, 4_000_000, [0] + [1] * 10, 1)
    # A skip ran nothing, a lost run has no end: counted as runs, with no duration.
    assert figures[("sync", "skipped_locked")] == (1, 0, [0] * 11, 0)
    assert figures[("sync", "lost")] == (1, 0, [0] * 11, 0)
    # 3600 s is inside le=3600; 12 h and a microsecond is past the last bound (+Inf only).
    assert figures[("backup", "success")] == (2, 46_800_000_001, [0] * 8 + [1] * 3, 2)


def test_a_run_stored_is_in_the_next_scrape(engine: Engine) -> None:
    assert scrape(engine) == {}
    store(engine, reports("sync", [1.25]))
    assert scrape(engine) == {("sync", "success"): (1, 1_250_000, [0] + [1] * 10, 1)}
    store(engine, reports("sync", [0.75], host="web2"))
    assert scrape(engine)[("sync", "success")] == (2, 2_000_000, [1] + [2] * 10, 2)
    assert scrape(engine) == from_the_runs(engine)


def test_runs_deleted_or_aggregates_pruned_take_no_count_away(engine: Engine) -> None:
    # A counter does not go down: retention deletes aggregate rows, never the totals,
    # and runs deleted by hand stay counted.
    store(engine, reports("sync", [1.0, 2.0]))
    before = scrape(engine)
    assert prune_hourly(engine, now_utc() + dt.timedelta(days=400)) > 0
    with engine.begin() as connection:
        connection.execute(delete(tables.runs))
        connection.execute(delete(tables.run_output))
    assert scrape(engine) == before
    assert before[("sync", "success")][:2] == (2, 3_000_000)
