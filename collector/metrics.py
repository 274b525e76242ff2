"""GET /metrics in the Prometheus text format, computed from the store at scrape
time (replicas are stateless, so in-process counters would disagree).

The run counter and the duration histogram count every run stored, so they only
ever grow, as Prometheus expects of a counter (rate(), increase() and
histogram_quantile() over a window): a histogram of "the last 24 hours" would
lose counts as runs age out, which Prometheus reads as a reset.

They are read from smartcron_run_totals (revision 0020), all-time sums per job, host
and status that ingest adds each batch's runs to in the runs' own transaction
(aggregates.py): a scrape sums its rows by job and status in one query, whatever the
number of runs, and sees a run as soon as its batch commits. Every process and every
replica reads the same rows, so they give the same figures; durations are summed in
whole microseconds so that no order of addition changes the sum. Skips, which ran
nothing, and lost runs, whose end is unknown, are counted as runs but left out of the
histogram.

Nothing in the collector deletes runs (collector/rollups.py prunes the hourly rows, the
performance days and the recent failures past keeping, never the runs nor the totals):
the totals are a counter and never go down. Runs deleted by hand stay counted; a
database restored from an older backup brings its own, smaller totals, which Prometheus
reads as a counter reset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from smartcron.wrapper.schema import SKIPPED_STATUSES
from sqlalchemy import Connection, Engine, func, select

from .db import tables
from .state import STATES

BUCKETS = tables.TOTAL_BUCKETS  # seconds: smartcron_run_totals.le_N for each N
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


@dataclass
class Total:
    """The runs of one job with one status: how many, and for real runs (not skips)
    how many have a duration (a lost run has none), the sum of their durations in
    microseconds and how many fit each of BUCKETS."""

    runs: int = 0
    duration_us: int = 0
    within: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    timed: int = 0

    def add(self, other: Total) -> None:
        self.runs += other.runs
        self.duration_us += other.duration_us
        self.within = [a + b for a, b in zip(self.within, other.within, strict=True)]
        self.timed += other.timed


Totals = dict[tuple[str, str], Total]  # by (job, status)


def read_totals(connection: Connection) -> Totals:
    """Every stored run's totals by job and status: smartcron_run_totals summed over
    hosts (on MySQL a SUM is a DECIMAL: read as int)."""
    t = tables.run_totals.c
    query = select(
        t.job,
        t.status,
        func.sum(t.runs),
        func.sum(t.duration_us),
        *(func.sum(t[name]) for name in tables.TOTAL_BUCKET_COLUMNS),
        func.sum(t.timed),
    ).group_by(t.job, t.status)
    return {
        (job, status): Total(int(runs), int(duration_us), [int(n) for n in within], int(timed))
        for job, status, runs, duration_us, *within, timed in connection.execute(query)
    }


class StoreCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        j = tables.jobs.c
        with self.engine.connect() as connection:
            totals = read_totals(connection)
            columns = (j.job, j.host, j.last_success_at, j.breaker_state, j.paused, j.state,
                       j.next_expected_at)  # fmt: skip
            job_rows = connection.execute(select(*columns)).all()

        runs = CounterMetricFamily(
            "smartcron_runs", "Runs recorded, by job and status.", labels=["job", "status"]
        )
        histograms: dict[str, Total] = {}
        for (job, status), total in sorted(totals.items()):
            runs.add_metric([job, status], total.runs)
            if status not in SKIPPED_STATUSES:
                histograms.setdefault(job, Total()).add(total)
        yield runs

        durations = HistogramMetricFamily(
            "smartcron_run_duration_seconds",
            "Durations of the runs recorded (skips, which run nothing, and lost runs, "
            "whose end is unknown, are left out).",
            labels=["job"],
        )
        for job, total in histograms.items():
            within = zip(BUCKETS, total.within, strict=True)
            buckets = [(str(float(bound)), float(n)) for bound, n in within]
            buckets.append(("+Inf", float(total.timed)))
            durations.add_metric([job], buckets, sum_value=total.duration_us / 1e6)
        yield durations

        last_success = GaugeMetricFamily(
            "smartcron_last_success_timestamp_seconds",
            "Unix time of the job's last successful run on the host.",
            labels=["job", "host"],
        )
        breaker = GaugeMetricFamily(
            "smartcron_breaker_state",
            "Circuit breaker: 0 closed, 1 half open, 2 open.",
            labels=["job", "host"],
        )
        paused = GaugeMetricFamily(
            "smartcron_job_paused", "1 when the job is paused on the host.", labels=["job", "host"]
        )
        # The state collector/state.py stored on the row, one series per state (1 for the
        # job's own), as Prometheus spells an enum.
        job_state = GaugeMetricFamily(
            "smartcron_job_state",
            "1 for the job's state on the host (healthy, degraded, failing, late, running, "
            "paused), 0 for the others.",
            labels=["job", "host", "state"],
        )
        next_expected = GaugeMetricFamily(
            "smartcron_job_next_expected_timestamp_seconds",
            "Unix time of the next run the job's schedule expects, read in the job's zone.",
            labels=["job", "host"],
        )
        for job, host, success_at, state, is_paused, current, next_at in job_rows:
            if success_at is not None:
                moment = success_at.replace(tzinfo=dt.timezone.utc)
                last_success.add_metric([job, host], moment.timestamp())
            breaker.add_metric([job, host], BREAKER_VALUES.get(state, 0))
            paused.add_metric([job, host], 1 if is_paused else 0)
            for name in STATES:
                job_state.add_metric([job, host, name], 1 if name == current else 0)
            if next_at is not None:
                next_expected.add_metric(
                    [job, host], next_at.replace(tzinfo=dt.timezone.utc).timestamp()
                )
        yield last_success
        yield breaker
        yield paused
        yield job_state
        yield next_expected


def render(engine: Engine) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine))
    return generate_latest(registry)
