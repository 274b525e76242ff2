"""The page and the evaluation pass, through the real service on SQLite and MySQL: a
job's times in its own zone and in UTC, a "next expected" never in the past, and a
job that time alone makes late (the pass's interval is a setting: no real wait)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from smartcron.collector.db import tables
from sqlalchemy import Engine, select, update

from tests.collector.test_pages import summary_row
from tests.support.service import Service, make_report, start_collector

UTC = dt.timezone.utc


def page(service: Service, path: str) -> str:
    headers = {"Accept": "text/html", "Authorization": f"Bearer {service.admin_token}"}
    answer = requests.get(f"{service.url}{path}", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.text


def zoned_report(job: str, started: dt.datetime, schedule: str, zone: str) -> dict[str, Any]:
    document = make_report(job, started=started, schedule=schedule)
    document["timezone"] = zone
    return document


def test_the_job_page_reads_the_schedule_in_the_jobs_zone(collector: Service) -> None:
    started = dt.datetime.now(UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    answer = collector.post_runs([zoned_report("berlin", started, "0 2 * * *", "Europe/Berlin")])
    assert answer.status_code == 200, answer.text

    html = page(collector, "/jobs/berlin")
    assert '<dd class="zone">Europe/Berlin' in html
    # The next run at 02:00 Berlin time, in that zone and in UTC.
    assert re.search(r"\d{4}-\d\d-\d\d 02:00 CES?T \((00|01):00 UTC\)", html), html
    [job] = collector.get("/api/v1/jobs/berlin").json()["hosts"]
    assert job["timezone"] == "Europe/Berlin"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT02:00:00\+0[12]:00", job["next_expected_at_local"])


def test_a_late_job_says_overdue_and_when_it_is_next_expected(collector: Service) -> None:
    now = dt.datetime.now(UTC)
    # An hourly job whose last run was three hours ago: late since the run two hours ago.
    started = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=3)
    answer = collector.post_runs([zoned_report("hourly", started, "0 * * * *", "Asia/Tokyo")])
    assert answer.status_code == 200, answer.text

    row = summary_row(page(collector, "/"), "hourly", "web1")
    assert re.fullmatch(r"overdue \d+ h; next in \d+ (s|min|h)", row["Next expected"]), row
    assert "ago" not in row["Next expected"]
    [job] = collector.get("/api/v1/jobs/hourly").json()["hosts"]
    assert job["state"] == "late"
    assert job["next_expected_at"] > now.strftime("%Y-%m-%dT%H:%M:%S")
    assert job["missed_at"] < now.strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture
def evaluating(schema_engine: Engine, tmp_path: Path) -> Iterator[Service]:
    """A second `serve` on the store, passing every 0.2 s (its job names are its own)."""
    url = schema_engine.url.render_as_string(hide_password=False)
    with start_collector(url, tmp_path, extra=("--evaluate-every", "0.2")) as service:
        yield service


def test_serve_marks_a_job_late_when_time_alone_makes_it_so(
    evaluating: Service, schema_engine: Engine, wait_for: Callable[..., None]
) -> None:
    now = dt.datetime.now(UTC)
    started = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    answer = evaluating.post_runs([zoned_report("quarterly", started, "*/15 * * * *", "UTC")])
    assert answer.status_code == 200, answer.text
    [job] = evaluating.get("/api/v1/jobs/quarterly").json()["hosts"]
    assert job["state"] == "healthy"

    # As if an hour had passed with no report: the row as ingest left it an hour ago.
    hour = dt.timedelta(hours=1)
    j = tables.jobs.c
    with schema_engine.begin() as connection:
        where = j.job == "quarterly"
        last, review = connection.execute(select(j.last_started_at, j.review_at).where(where)).one()
        connection.execute(
            update(tables.jobs).where(where).values(last_started_at=last - hour,
                                                     review_at=review - hour)
        )  # fmt: skip

    def is_late() -> bool:
        [job] = evaluating.get("/api/v1/jobs/quarterly").json()["hosts"]
        return bool(job["state"] == "late")

    wait_for(is_late, timeout=10, what="the evaluation pass to mark the job late")
    metrics = evaluating.get("/metrics").text
    assert 'smartcron_job_state{host="web1",job="quarterly",state="late"} 1.0' in metrics
    assert 'smartcron_job_state{host="web1",job="quarterly",state="healthy"} 0.0' in metrics
    assert "smartcron_job_next_expected_timestamp_seconds{" in metrics
