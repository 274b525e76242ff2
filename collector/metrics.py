"""GET /metrics in the Prometheus text format, computed from the store at scrape
time (replicas are stateless, so in-process counters would disagree).

The run counter and the duration histogram count every run stored, so they only
ever grow, as Prometheus expects of a counter (rate(), increase() and
histogram_quantile() over a window): a histogram of "the last 24 hours" would
lose counts as runs age out, which Prometheus reads as a reset.

Counting a million runs on every scrape would cost the database seconds, so each
process keeps the totals of the settled runs and reads only the newer ones on each
scrape. Settled means no run with an id up to there can still appear: ids are taken
at insert and committed later, so a process notes the newest id at each scrape
and, SETTLE_S later on its own clock, takes everything up to it as settled. Its
first scrape settles the runs received more than FIRST_SETTLE_S ago (the margin
covers other replicas' clocks). The figures are the sum of all runs whatever the
settled point, so every replica gives the same ones; durations are summed in whole
microseconds so that no order of addition changes the sum.

Runs deleted by hand below the settled point stay counted (a counter does not go
down) until the process restarts; a database restored from an older backup, whose
newest id is below the settled point, is counted again from scratch.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
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
from sqlalchemy import BigInteger, Connection, Engine, case, cast, func, select

from .db import tables
from .ingest import now_utc
from .state import STATES

BUCKETS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600)
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
# A run id noted this long ago is settled: every transaction that held a smaller id
# then (ids are taken at insert, before the commit) has committed or rolled back.
SETTLE_S = 300.0
FIRST_SETTLE_S = 3600.0
# Ids per statement when counting settled runs: about 3 s a statement on MariaDB, well
# inside the connection's 30 s read timeout however many runs a database holds.
CHUNK_IDS = 1_000_000


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


class RunTotals:
    """All-time run totals by job and status, read incrementally (see the module)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # scrapes in parallel threads share the settled part
        self._reset()

    def _reset(self) -> None:
        self._settled: Totals = {}
        self._settled_through = 0  # runs with ids up to this are in _settled
        self._marks: deque[tuple[float, int]] = deque()  # (clock, newest id), oldest first
        self._started = False

    def read(self, connection: Connection) -> Totals:
        r = tables.runs.c
        with self._lock:
            newest = int(connection.execute(select(func.max(r.id))).scalar() or 0)
            if newest < self._settled_through:  # runs deleted, or a backup restored
                self._reset()
            now = self._clock()
            if not self._started:
                self._settle(connection, _received_before(connection, FIRST_SETTLE_S))
                self._started = True
            if not self._marks or self._marks[-1][1] != newest:
                self._marks.append((now, newest))
            settled = None
            while self._marks and self._marks[0][0] <= now - SETTLE_S:
                settled = self._marks.popleft()[1]
            if settled is not None:
                self._settle(connection, settled)
            totals = {key: _copy(total) for key, total in self._settled.items()}
            through = self._settled_through
        _merge(totals, _count(connection, through, None))
        return totals

    def _settle(self, connection: Connection, through_id: int) -> None:
        """Add the runs up to `through_id` to the settled part, a chunk at a time (an
        error midway keeps the chunks done)."""
        while self._settled_through < through_id:
            upto = min(through_id, self._settled_through + CHUNK_IDS)
            _merge(self._settled, _count(connection, self._settled_through, upto))
            self._settled_through = upto


def _received_before(connection: Connection, seconds: float) -> int:
    """The id of the newest run received more than `seconds` ago, or 0: a backward walk
    of the primary key that stops at the first run old enough."""
    r = tables.runs.c
    found = connection.execute(
        select(r.id)
        .where(r.received_at < now_utc() - dt.timedelta(seconds=seconds))
        .order_by(r.id.desc())
        .limit(1)
    ).scalar()
    return int(found or 0)


def _copy(total: Total) -> Total:
    return Total(total.runs, total.duration_us, list(total.within), total.timed)


def _merge(into: Totals, more: Totals) -> None:
    for key, total in more.items():
        into.setdefault(key, Total()).add(total)


def _count(connection: Connection, after_id: int, through_id: int | None) -> Totals:
    """The totals of the runs with after_id < id <= through_id (no upper end: None)."""
    r = tables.runs.c
    query = select(
        r.job,
        r.status,
        func.count(),
        func.count(r.duration_s),  # the runs with a duration: a lost run has none
        func.sum(cast(func.round(r.duration_s * 1_000_000), BigInteger)),
        *(func.sum(case((r.duration_s <= bound, 1), else_=0)) for bound in BUCKETS),
    ).where(r.id > after_id)
    if through_id is not None:
        query = query.where(r.id <= through_id)
    totals: Totals = {}
    for job, status, runs, timed, duration_us, *within in connection.execute(
        query.group_by(r.job, r.status)
    ):
        if status in SKIPPED_STATUSES:  # a skip ran nothing: no duration to count
            totals[(job, status)] = Total(int(runs))
        else:
            totals[(job, status)] = Total(
                int(runs), int(duration_us or 0), [int(n or 0) for n in within], int(timed)
            )
    return totals


class StoreCollector(Collector):
    def __init__(self, engine: Engine, run_totals: RunTotals) -> None:
        self.engine = engine
        self.run_totals = run_totals

    def collect(self) -> Iterator[Metric]:
        j = tables.jobs.c
        with self.engine.connect() as connection:
            totals = self.run_totals.read(connection)
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


def render(engine: Engine, run_totals: RunTotals) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine, run_totals))
    return generate_latest(registry)
