"""GET /metrics in the Prometheus text format, parsed with prometheus_client's own parser,
for a known data set on SQLite and MySQL."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.collector_api import assert_error
from tests.support.service import Service, make_report

BOUNDS = ("1.0", "5.0", "15.0", "30.0", "60.0", "300.0", "900.0", "1800.0", "3600.0",
          "10800.0", "43200.0", "+Inf")  # fmt: skip

# name: (job, host, status, minutes after base, duration_s, breaker state)
RUNS: dict[str, tuple[str, str, str, float, float, str]] = {
    "w1a": ("vend_sync", "web1", "success", 0, 1.0, "closed"),
    "w1b": ("vend_sync", "web1", "success", 5, 2.0, "closed"),
    "w1c": ("vend_sync", "web1", "failed", 10, 3.0, "closed"),
    "w1d": ("vend_sync", "web1", "success", 15, 4.0, "closed"),
    "w1e": ("vend_sync", "web1", "success", 20, 10.0, "closed"),
    "w2a": ("vend_sync", "web2", "success", 2, 0.5, "closed"),
    "w2b": ("vend_sync", "web2", "timeout", 12, 20.0, "half_open"),
    "b1": ("backup", "db1", "success", 1, 60.0, "closed"),
    "b2": ("backup", "db1", "success", 11, 90.0, "closed"),
    "b3": ("backup", "db1", "skipped_breaker", 21, 0.0, "open"),
    # A lost run counts as a run, but has no duration for the histogram.
    "b4": ("backup", "db1", "lost", 16, 0.0, "closed"),
    # A day old: counters and the histogram count every run stored, however old.
    "o1": ("old_job", "web1", "failed", -28 * 60, 5.0, "closed"),
}


@pytest.fixture
def reports(collector: Service) -> dict[str, dict[str, Any]]:
    base = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    sent = {
        name: make_report(
            job,
            host=host,
            status=status,
            duration_s=duration,
            started=base + dt.timedelta(minutes=minutes),
            breaker_state=breaker,
            schedule=None,
        )
        for name, (job, host, status, minutes, duration, breaker) in RUNS.items()
    }
    assert collector.post_runs(list(sent.values())).json()["accepted"] == len(sent)
    return sent


def scrape(service: Service) -> dict[str, Any]:
    """{family name: {(sample name, frozenset(labels)): value}}, from the real parser."""
    answer = service.get("/metrics")
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    families: dict[str, Any] = {}
    for family in text_string_to_metric_families(answer.text):
        samples = families.setdefault(family.name, {"type": family.type, "samples": {}})
        for sample in family.samples:
            samples["samples"][(sample.name, frozenset(sample.labels.items()))] = sample.value
    return families


def values(families: dict[str, Any], family: str, sample: str) -> dict[tuple[str, ...], float]:
    """Samples named `sample` in `family`, keyed by their label values in label-name order."""
    found = {}
    for (name, labels), value in families[family]["samples"].items():
        if name == sample:
            found[tuple(value for _, value in sorted(labels))] = value
    return found


def epoch(iso_time: str) -> float:
    return dt.datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()


def test_metrics_need_credentials(collector: Service) -> None:
    assert_error(requests.get(f"{collector.url}/metrics", timeout=30), 401)
    assert_error(collector.get("/metrics", token=collector.ingest_token), 403)


def test_an_empty_store_has_the_families_and_no_samples(collector: Service) -> None:
    families = scrape(collector)
    assert families["smartcron_runs"]["type"] == "counter"
    assert families["smartcron_run_duration_seconds"]["type"] == "histogram"
    assert families["smartcron_last_success_timestamp_seconds"]["type"] == "gauge"
    assert families["smartcron_breaker_state"]["type"] == "gauge"
    assert all(not family["samples"] for family in families.values())


def test_runs_total_by_job_and_status(collector: Service, reports: dict[str, Any]) -> None:
    runs = values(scrape(collector), "smartcron_runs", "smartcron_runs_total")
    # label order: job, status
    assert runs == {
        ("vend_sync", "success"): 5,
        ("vend_sync", "failed"): 1,
        ("vend_sync", "timeout"): 1,
        ("backup", "success"): 2,
        ("backup", "skipped_breaker"): 1,
        ("backup", "lost"): 1,
        ("old_job", "failed"): 1,
    }


def test_duration_histogram_buckets(collector: Service, reports: dict[str, Any]) -> None:
    families = scrape(collector)
    family = "smartcron_run_duration_seconds"
    buckets = values(families, family, f"{family}_bucket")  # label order: job, le
    vend = [buckets[("vend_sync", bound)] for bound in BOUNDS]
    # 0.5 1 | 2 3 4 | 10 | 20
    assert vend == [2, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7]
    # The skipped run and the lost one are not durations; 60 s is inside le=60.
    backup = [buckets[("backup", bound)] for bound in BOUNDS]
    assert backup == [0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2]
    old = [buckets[("old_job", bound)] for bound in BOUNDS]
    assert old == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    counts = values(families, family, f"{family}_count")
    assert counts == {("vend_sync",): 7, ("backup",): 2, ("old_job",): 1}
    sums = values(families, family, f"{family}_sum")
    assert math.isclose(sums[("vend_sync",)], 40.5)
    assert math.isclose(sums[("backup",)], 150.0)


def test_last_success_timestamp(collector: Service, reports: dict[str, Any]) -> None:
    family = "smartcron_last_success_timestamp_seconds"
    last = values(scrape(collector), family, family)  # label order: host, job
    assert set(last) == {("web1", "vend_sync"), ("web2", "vend_sync"), ("db1", "backup")}
    expected = {("web1", "vend_sync"): "w1e", ("web2", "vend_sync"): "w2a",
                ("db1", "backup"): "b2"}  # fmt: skip
    for key, name in expected.items():
        assert math.isclose(last[key], epoch(reports[name]["finished_at"]), abs_tol=1e-3), key


def test_breaker_state_and_pauses(collector: Service, reports: dict[str, Any]) -> None:
    families = scrape(collector)
    breaker = values(families, "smartcron_breaker_state", "smartcron_breaker_state")
    assert breaker == {
        ("web1", "vend_sync"): 0,  # closed
        ("web2", "vend_sync"): 1,  # half open
        ("db1", "backup"): 2,  # open, as the latest (skipped) report says
        ("web1", "old_job"): 0,
    }
    paused = values(families, "smartcron_job_paused", "smartcron_job_paused")
    assert set(paused.values()) == {0}

    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    answer = requests.post(f"{collector.url}/api/v1/jobs/backup/pause", headers=admin, timeout=30)
    assert answer.status_code == 200, answer.text
    paused = values(scrape(collector), "smartcron_job_paused", "smartcron_job_paused")
    assert paused[("db1", "backup")] == 1
    assert paused[("web1", "vend_sync")] == 0


def test_a_replayed_batch_does_not_inflate_the_counters(
    collector: Service, reports: dict[str, Any]
) -> None:
    before = scrape(collector)
    assert collector.post_runs(list(reports.values())).json()["accepted"] == 0
    after = scrape(collector)
    for family in ("smartcron_runs", "smartcron_run_duration_seconds"):
        assert after[family] == before[family], family


def test_counters_only_grow_as_runs_come_and_age(
    collector: Service, reports: dict[str, Any]
) -> None:
    family = "smartcron_run_duration_seconds"
    before = scrape(collector)
    # New runs of a job, one of them older than anything stored.
    newer = [make_report("backup", host="db1", duration_s=d, schedule=None) for d in (2.0, 70.0)]
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    older = make_report("backup", host="db1", duration_s=3.0, schedule=None, started=long_ago)
    assert collector.post_runs([*newer, older]).json()["accepted"] == 3
    after = scrape(collector)
    grown = values(after, "smartcron_runs", "smartcron_runs_total")
    for key, value in values(before, "smartcron_runs", "smartcron_runs_total").items():
        assert grown[key] >= value, key
    assert grown[("backup", "success")] == 5
    buckets = values(after, family, f"{family}_bucket")
    assert [buckets[("backup", bound)] for bound in BOUNDS] == [0, 2, 2, 2, 3, 5, 5, 5, 5, 5, 5, 5]
    for key, value in values(before, family, f"{family}_bucket").items():
        assert buckets[key] >= value, key
