"""The summary page's figures as a person reads them, through the real service on SQLite
and MySQL: a job's success rate, p95 duration and peak memory over its last 30 real runs
(skips and older runs left out), formatted as the page formats them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import requests
from smartcron.collector.charts import SPARK_SLOTS

from tests.support.service import Service, make_report

MIB = 2**20
GIB = 2**30
WINDOW = 30  # the runs behind the figures: the sparkline's
FAILED_AT = {4: "failed", 9: "failed", 16: "failed", 25: "failed", 20: "timeout"}


def known_runs(base: dt.datetime) -> list[dict[str, Any]]:
    """known_job on web1: 30 real runs in the window, minute i lasting 10*i s, 5 of them
    not successes; one of 1.5 GiB and one of unknown memory. Older runs and a newer
    skip that would change every figure if they were counted."""
    reports = []
    for i in range(1, WINDOW + 1):
        peak = {12: int(1.5 * GIB), 13: None}.get(i, (100 + i) * MIB)
        reports.append(make_report("known_job", host="web1", status=FAILED_AT.get(i, "success"),
                                   started=base + dt.timedelta(minutes=i), duration_s=10.0 * i,
                                   peak_rss_bytes=peak))  # fmt: skip
    for hours in range(1, 6):  # older than the window: failed, long and big
        reports.append(make_report("known_job", host="web1", status="failed",
                                   started=base - dt.timedelta(hours=hours), duration_s=9999.0,
                                   peak_rss_bytes=4 * GIB))  # fmt: skip
    reports.append(make_report("known_job", host="web1", status="skipped_locked",
                               started=base + dt.timedelta(minutes=WINDOW + 1),
                               duration_s=5000.0))  # fmt: skip
    reports.append(make_report("other_job", host="web2", started=base, duration_s=0.25,
                               peak_rss_bytes=512))  # fmt: skip
    return reports


def summary_row(html: str, job: str, host: str) -> dict[str, str]:
    """The summary table's row of (job, host): each cell's text by its data-label."""
    rows = re.findall(r'<tr class="state-[a-z]+">.*?</tr>', html, re.S)
    mine = [row for row in rows if f'href="/jobs/{job}"' in row and f">{host}</td>" in row]
    assert len(mine) == 1, f"{len(mine)} rows of {job} on {host}"
    cells = re.findall(r'<td class="[a-z]+" data-label="([^"]+)">(.*?)</td>', mine[0], re.S)
    return {label: re.sub(r"<[^>]+>", "", text).strip() for label, text in cells}


def test_the_summary_shows_a_jobs_figures(collector: Service) -> None:
    assert SPARK_SLOTS == WINDOW
    base = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=3)
    reports = known_runs(base)
    answer = collector.post_runs(reports)
    assert answer.json() == {"accepted": len(reports), "duplicates": 0, "rejected": []}, answer.text

    headers = {"Accept": "text/html", "Authorization": f"Bearer {collector.admin_token}"}
    page = requests.get(f"{collector.url}/", headers=headers, timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    row = summary_row(page.text, "known_job", "web1")
    # 25 of 30 succeeded; p95 is the 29th of 30 durations (290 s; the longest is 300 s).
    assert row["Success"] == "83.3%", row
    assert row["p95"] == "4.8 min", row
    assert row["Peak mem"] == "1.5 GiB", row
    other = summary_row(page.text, "other_job", "web2")
    assert (other["Success"], other["p95"], other["Peak mem"]) == ("100.0%", "250 ms", "512 B")

    # The numbers behind them, as the API gives them.
    [job] = collector.get("/api/v1/jobs/known_job").json()["hosts"]
    assert (job["success_rate_pct"], job["p95_duration_s"], job["max_peak_rss_bytes"]) == (
        83.3,
        290.0,
        int(1.5 * GIB),
    )


def page_text(collector: Service, path: str) -> str:
    """The page as a person reads it: its text, tags dropped and spaces collapsed."""
    headers = {"Accept": "text/html", "Authorization": f"Bearer {collector.admin_token}"}
    page = requests.get(f"{collector.url}{path}", headers=headers, timeout=30)
    assert page.status_code == 200, page.text[:500]
    return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


def test_counts_read_as_words_one_and_many(collector: Service) -> None:
    assert collector.post_runs([make_report("lonely", host="web1")]).status_code == 200
    summary = page_text(collector, "/")
    assert "1 host" in summary and "1 hosts" not in summary
    assert "1 run / 24 h" in summary and "1 runs" not in summary
    job = page_text(collector, "/jobs/lonely")
    assert "Success (last run)" in job and "1 runs" not in job  # the chart's captions too

    more = [make_report("lonely", host="web2"), make_report("lonely", host="web1")]
    assert collector.post_runs(more).status_code == 200
    summary = page_text(collector, "/")
    assert "2 hosts" in summary and "3 runs / 24 h" in summary
    job = page_text(collector, "/jobs/lonely")
    assert "Success (last 2 runs)" in job and "Success (last run)" in job  # web1, web2


def test_tags_are_shown_on_the_run_and_the_job(collector: Service) -> None:
    tagged = make_report("tagged", host="web1") | {"tags": ["db", "nightly"]}
    plain = make_report("tagged", host="web2")
    assert collector.post_runs([tagged, plain]).status_code == 200
    run = page_text(collector, f"/runs/{tagged['run_id']}")
    assert "Tags db nightly" in run
    assert "Tags none" in page_text(collector, f"/runs/{plain['run_id']}")
    job = page_text(collector, "/jobs/tagged")
    # Each host's card (from its latest run), and each run of the history.
    assert "Priority 5 Tags db nightly" in job and "Priority 5 Tags none" in job
    assert re.search(r"web1 success 0 \S+ \S+ 1 \S+ MiB db nightly", job), job
