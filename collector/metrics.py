"""GET /metrics in the Prometheus text format, computed from the store at scrape
time (replicas are stateless, so in-process counters would disagree)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Engine, case, func, select

from .db import tables
from .ingest import now_utc

BUCKETS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600)
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
HISTOGRAM_HOURS = 24


class StoreCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        r, j = tables.runs.c, tables.jobs.c
        with self.engine.connect() as connection:
            by_status = connection.execute(
                select(r.job, r.status, func.count()).group_by(r.job, r.status)
            ).all()
            bucket_columns = [
                func.sum(case((r.duration_s <= bound, 1), else_=0)) for bound in BUCKETS
            ]
            since = now_utc() - dt.timedelta(hours=HISTOGRAM_HOURS)
            histogram = connection.execute(
                select(r.job, func.count(), func.sum(r.duration_s), *bucket_columns)
                .where(r.started_at >= since, r.status.not_like("skipped%"))
                .group_by(r.job)
            ).all()
            job_rows = connection.execute(
                select(j.job, j.host, j.last_success_at, j.breaker_state, j.paused)
            ).all()

        runs = CounterMetricFamily(
            "smartcron_runs", "Runs recorded, by job and status.", labels=["job", "status"]
        )
        for job, status, count in by_status:
            runs.add_metric([job, status], count)
        yield runs

        durations = HistogramMetricFamily(
            "smartcron_run_duration_seconds",
            f"Run durations over the last {HISTOGRAM_HOURS} hours.",
            labels=["job"],
        )
        for job, count, total, *cumulative in histogram:
            buckets = [
                (str(float(b)), float(c or 0)) for b, c in zip(BUCKETS, cumulative, strict=True)
            ]
            buckets.append(("+Inf", float(count)))
            durations.add_metric([job], buckets, sum_value=float(total or 0))
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
        for job, host, success_at, state, is_paused in job_rows:
            if success_at is not None:
                moment = success_at.replace(tzinfo=dt.timezone.utc)
                last_success.add_metric([job, host], moment.timestamp())
            breaker.add_metric([job, host], BREAKER_VALUES.get(state, 0))
            paused.add_metric([job, host], 1 if is_paused else 0)
        yield last_success
        yield breaker
        yield paused


def render(engine: Engine) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine))
    return generate_latest(registry)
