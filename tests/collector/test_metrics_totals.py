"""metrics.RunTotals on both backends: the settled runs summed once and kept, the
newer ones read on every scrape, and the figures always those of every run stored,
whatever the settled point: late commits, deleted runs and other replicas included."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from smartcron.collector import metrics
from smartcron.collector.db import tables
from smartcron.collector.ingest import ingest_reports, now_utc, output_row, run_row
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, delete, func, select

from tests.support.collector_api import insert_run_rows
from tests.support.service import make_report

LONG_AGO = metrics.FIRST_SETTLE_S + 600  # received before a process's first scrape settles


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def pass_settle_time(self) -> None:
        self.now += metrics.SETTLE_S + 1


def reports(
    job: str, durations: list[float], status: str = "success", host: str = "web1"
) -> list[RunReport]:
    return [
        RunReport.model_validate(
            make_report(job, host=host, status=status, duration_s=d, schedule=None)
        )
        for d in durations
    ]


def dated_back(report: RunReport, by: dt.timedelta) -> RunReport:
    attempts = [
        a.model_copy(update={"started_at": a.started_at - by, "finished_at": a.finished_at - by})
        for a in report.attempts
    ]
    # A lost run has no end (finished_at null).
    finished = None if report.finished_at is None else report.finished_at - by
    return report.model_copy(update={"started_at": report.started_at - by,
                                      "finished_at": finished,
                                      "attempts": attempts})  # fmt: skip


def store(engine: Engine, batch: list[RunReport], received_ago_s: float = 0) -> None:
    # Received that long ago, and run just before: no report is ahead of that clock.
    ago = dt.timedelta(seconds=received_ago_s)
    batch = [dated_back(report, ago) for report in batch]
    stored = ingest_reports(engine, batch, received_at=now_utc() - ago)
    assert (stored.accepted, stored.duplicates, stored.refused) == (len(batch), 0, {})


def read(engine: Engine, totals: metrics.RunTotals) -> dict[tuple[str, str], Any]:
    with engine.connect() as connection:
        found = totals.read(connection)
    return {key: (t.runs, t.duration_us, t.within) for key, t in found.items()}


def everything(engine: Engine) -> dict[tuple[str, str], Any]:
    """The oracle: every run counted in one pass, nothing settled."""
    with engine.connect() as connection:
        found = metrics._count(connection, 0, None)
    return {key: (t.runs, t.duration_us, t.within) for key, t in found.items()}


def newest_id(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.max(tables.runs.c.id))).scalar_one())


def test_settled_runs_are_kept_and_the_figures_are_every_run(engine: Engine) -> None:
    store(engine, reports("sync", [0.5, 2.0, 20.0]), LONG_AGO)
    store(engine, reports("sync", [4.0], status="failed"), LONG_AGO)
    received_long_ago = newest_id(engine)
    store(engine, reports("sync", [7.0]))
    store(engine, reports("sync", [0.0], status="skipped_locked"))

    clock = Clock()
    totals = metrics.RunTotals(clock)
    first = read(engine, totals)
    assert totals._settled_through == received_long_ago  # the first scrape's settling
    assert first == everything(engine)
    within = [1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4]  # 0.5 | 2 | 7 | 20 against the bounds
    assert first[("sync", "success")] == (4, 29_500_000, within)
    assert first[("sync", "failed")] == (1, 4_000_000, [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    # A skip ran nothing: counted as a run, with no duration.
    assert first[("sync", "skipped_locked")] == (1, 0, [0] * len(metrics.BUCKETS))

    # A newer run is read, not settled, until SETTLE_S after a scrape saw it.
    noted = newest_id(engine)
    store(engine, reports("backup", [3600.0]))
    assert read(engine, totals) == everything(engine)
    assert totals._settled_through == received_long_ago
    clock.pass_settle_time()
    second = read(engine, totals)
    assert totals._settled_through == newest_id(engine) > noted  # the second scrape's id
    assert second == everything(engine)
    assert second[("backup", "success")] == (1, 3_600_000_000, [0] * 8 + [1] * 3)

    # Another replica, starting now, settles elsewhere and gives the same figures,
    # to the microsecond (durations are summed as integers).
    assert read(engine, metrics.RunTotals(Clock())) == second


def test_a_run_committed_after_a_later_one_is_counted(
    mysql_engine: Engine, clear_tables: Callable[[Engine], None]
) -> None:
    # InnoDB takes an id at insert: a transaction still open holds a smaller id than
    # one that commits after it. Settling through the newer id at once would skip the
    # older forever; the settled point waits SETTLE_S after a scrape noted the id.
    engine = mysql_engine
    clear_tables(engine)
    metrics_clock = Clock()
    totals = metrics.RunTotals(metrics_clock)
    assert read(engine, totals) == {}
    [slow] = reports("slow", [1.0])
    with engine.connect() as open_transaction:
        transaction = open_transaction.begin()
        insert_run_rows(open_transaction, [run_row(slow, now_utc())], [output_row(slow)])
        # A larger id, committed first; from another host: a run of the same host and
        # hour would wait for the open transaction, which holds that host's row of the
        # hourly rollup (smartcron_host_hourly) until it commits.
        store(engine, reports("fast", [2.0], host="web2"))
        assert read(engine, totals) == everything(engine)  # "fast" only, for now
        transaction.commit()
    metrics_clock.pass_settle_time()
    figures = read(engine, totals)
    assert totals._settled_through == newest_id(engine)
    assert figures == everything(engine)
    assert figures[("slow", "success")][0] == figures[("fast", "success")][0] == 1


def test_a_database_restored_from_an_older_backup_is_counted_again(engine: Engine) -> None:
    store(engine, reports("sync", [1.0]), LONG_AGO)
    kept = newest_id(engine)
    store(engine, reports("sync", [2.0, 3.0]), LONG_AGO)
    totals = metrics.RunTotals(Clock())
    read(engine, totals)
    assert totals._settled_through == newest_id(engine) > kept
    # The backup was taken before the last two runs: the newest id is below the
    # settled point, and what was settled is no longer in the database.
    with engine.begin() as connection:
        connection.execute(delete(tables.run_output))
        connection.execute(delete(tables.runs).where(tables.runs.c.id > kept))
    assert read(engine, totals) == everything(engine)
    assert everything(engine)[("sync", "success")][:2] == (1, 1_000_000)


def test_settling_goes_a_chunk_of_ids_at_a_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "CHUNK_IDS", 2)
    store(engine, reports("sync", [0.1 * n for n in range(1, 8)]), LONG_AGO)
    totals = metrics.RunTotals(Clock())
    assert read(engine, totals) == everything(engine)
    assert totals._settled_through == newest_id(engine)
    assert everything(engine)[("sync", "success")][:2] == (7, 2_800_000)


def test_an_empty_store_has_no_totals(engine: Engine) -> None:
    assert read(engine, metrics.RunTotals(Clock())) == {}


@pytest.mark.parametrize("ago", [0, LONG_AGO])
def test_a_scrape_sees_a_run_the_moment_it_is_stored(engine: Engine, ago: float) -> None:
    totals = metrics.RunTotals(Clock())
    assert read(engine, totals) == {}
    store(engine, reports("sync", [1.0]), ago)
    assert read(engine, totals)[("sync", "success")][0] == 1
