"""A realistic data set for the page: 12 jobs on 3 hosts, a few days of runs each.

Every run is built as the wrapper reports it (make_report) and goes in through the
real ingest API. Times are laid on each job's own schedule, ending just before
"now", so that the collector's next-expected and late logic see what a live
system would show. EXPECTED is what a person should read off the summary page.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from croniter import croniter

from tests.support.service import Service, iso, make_report

SCRIPT = "<script>alert(1)</script>"
GIB = 2**30
MIB = 2**20

Report = dict[str, Any]
# (index of the run, oldest first; how many runs; the report so far) -> the report
Shape = Callable[[int, int, Report], Report]


@dataclass(frozen=True)
class JobSeries:
    job: str
    host: str
    schedule: str | None
    runs: int
    durations: tuple[float, float]  # seconds, low and high
    memory: tuple[int, int]  # peak RSS bytes, low and high
    # The last run starts at least this long before now (then rounded down to a tick of
    # the schedule); by default just long enough for the longest run to have ended.
    ends_ago: dt.timedelta | None = None
    every: dt.timedelta = dt.timedelta(hours=1)  # spacing when there is no schedule
    shape: Shape | None = None

    @property
    def last_run_ago(self) -> dt.timedelta:
        """ends_ago, or the default: the longest run and five seconds."""
        return self.ends_ago or dt.timedelta(seconds=self.durations[1] + 5)


# state and a piece of the reason each job must show on the summary page
EXPECTED: dict[tuple[str, str], tuple[str, str]] = {
    ("payment_reconcile", "db1"): ("failing", "last run failed"),
    ("search_reindex", "db1"): ("failing", "last run timeout"),
    ("feed_import", "web1"): ("failing", "circuit breaker open"),
    ("queue_drain", "web2"): ("late", "no run since"),
    ("image_resize", "web2"): ("degraded", "a run failed in the last 24 h"),
    ("newsletter_send", "web1"): ("paused", "paused by"),
    ("vend_sync", "web1"): ("healthy", "last run succeeded"),
    ("invoice_export", "db1"): ("healthy", "last run succeeded"),
    ("sitemap_build", "web1"): ("healthy", "last run succeeded"),
    ("sitemap_build", "web2"): ("healthy", "last run succeeded"),
    ("thumbnail_render", "web2"): ("healthy", "last run succeeded"),
    ("html_digest", "web1"): ("healthy", "last run succeeded"),
    ("cache_warm", "web2"): ("healthy", "last run succeeded"),
}
PAUSED_BY_API = ("newsletter_send", "web1")


def _fail(report: Report, stderr: str, exit_code: int = 1) -> Report:
    report.update(status="failed", exit_code=exit_code, stderr_tail=stderr)
    for attempt in report["attempts"]:
        attempt.update(status="failed", exit_code=exit_code)
    report["output_bytes"] = len(report["stdout_tail"]) + len(stderr)
    return report


def _payment(i: int, n: int, report: Report) -> Report:
    if i in (10, 27):
        return _fail(report, "ERROR: deadlock detected\n")
    if i == n - 1:
        # Three attempts (two retries, 10 s then 20 s apart), all refused.
        start = dt.datetime.fromisoformat(report["started_at"].replace("Z", "+00:00"))
        attempts, at = [], start
        for delay in (0, 10, 20):
            at += dt.timedelta(seconds=delay)
            end = at + dt.timedelta(seconds=3)
            attempts.append({"started_at": iso(at), "finished_at": iso(end), "exit_code": 2,
                             "signal": None, "status": "failed"})  # fmt: skip
            at = end
        report["attempts"] = attempts
        report["finished_at"] = iso(at)
        report["duration_s"] = (at - start).total_seconds()
        return _fail(report, "psycopg.OperationalError: connection to 10.0.0.5:5432 refused\n", 2)
    return report


def _reindex(i: int, n: int, report: Report) -> Report:
    if i in (20, 33) or i == n - 1:
        start = dt.datetime.fromisoformat(report["started_at"].replace("Z", "+00:00"))
        end = start + dt.timedelta(seconds=600)
        report.update(status="timeout", exit_code=None, signal=15, duration_s=600.0,
                      finished_at=iso(end), stderr_tail="reindexing products… 61%\n")  # fmt: skip
        report["attempts"] = [{"started_at": iso(start), "finished_at": iso(end),
                               "exit_code": None, "signal": 15, "status": "timeout"}]  # fmt: skip
    return report


def _feed(i: int, n: int, report: Report) -> Report:
    if i >= n - 10:
        report = _fail(report, "HTTP 502 from supplier feed\n")
        report["breaker_state"] = "open" if i >= n - 6 else "closed"
    if i >= n - 5:  # the breaker is open: the wrapper skips and records the skip
        report.update(status="skipped_breaker", exit_code=0, attempts=[], peak_rss_bytes=None,
                      cpu_user_s=None, cpu_system_s=None, duration_s=0.0,
                      finished_at=report["started_at"], stdout_tail="", stderr_tail="",
                      output_bytes=0)  # fmt: skip
    return report


def _resize(i: int, n: int, report: Report) -> Report:
    if i in (n - 12, n - 5):
        return _fail(report, "convert: no decode delegate for this image format `HEIC'\n")
    return report


def _thumbnail(i: int, n: int, report: Report) -> Report:
    if i == 4:  # three days ago: no longer counts against the last 24 h
        report.update(status="killed_memory", exit_code=None, signal=9, peak_rss_bytes=4 * GIB,
                      stderr_tail="smartcron: 4.0 GiB over --max-memory 4G; killed\n")  # fmt: skip
        report["attempts"][0].update(status="killed_memory", exit_code=None, signal=9)
    return report


def _digest(i: int, n: int, report: Report) -> Report:
    report["stdout_tail"] = f"{SCRIPT}\n<b>digest</b> sent to {100 + i} users\n"
    report["command"] = "php /srv/digest.php --subject '<img src=x onerror=alert(2)>'"
    if i == n - 1:
        report["stderr_tail"] = f"warning: template had {SCRIPT}\n"
    report["output_bytes"] = len(report["stdout_tail"]) + len(report["stderr_tail"])
    return report


SERIES = (
    JobSeries("vend_sync", "web1", "*/5 * * * *", 60, (1, 4), (40 * MIB, 70 * MIB)),
    JobSeries("sitemap_build", "web1", "30 * * * *", 36, (12, 30), (200 * MIB, 260 * MIB)),
    JobSeries("sitemap_build", "web2", "30 * * * *", 36, (10, 28), (190 * MIB, 250 * MIB)),
    JobSeries("feed_import", "web1", "*/10 * * * *", 40, (5, 12), (90 * MIB, 120 * MIB),
              shape=_feed),
    JobSeries("newsletter_send", "web1", "0 * * * *", 35, (30, 80), (60 * MIB, 90 * MIB)),
    JobSeries("html_digest", "web1", "*/30 * * * *", 30, (2, 6), (30 * MIB, 45 * MIB),
              shape=_digest),
    JobSeries("image_resize", "web2", "*/10 * * * *", 50, (8, 20), (300 * MIB, 500 * MIB),
              shape=_resize),
    JobSeries("queue_drain", "web2", "*/5 * * * *", 30, (1, 3), (20 * MIB, 30 * MIB),
              ends_ago=dt.timedelta(hours=3)),
    JobSeries("thumbnail_render", "web2", "0 */2 * * *", 40, (30, 90),
              (int(1.2 * GIB), int(3.4 * GIB)), ends_ago=dt.timedelta(minutes=2), shape=_thumbnail),
    JobSeries("cache_warm", "web2", None, 48, (3, 9), (50 * MIB, 80 * MIB)),
    JobSeries("invoice_export", "db1", "15 */2 * * *", 30, (40, 120), (150 * MIB, 220 * MIB),
              ends_ago=dt.timedelta(minutes=3)),
    JobSeries("payment_reconcile", "db1", "*/30 * * * *", 45, (10, 25), (80 * MIB, 110 * MIB),
              ends_ago=dt.timedelta(minutes=2), shape=_payment),
    JobSeries("search_reindex", "db1", "*/20 * * * *", 45, (200, 400), (600 * MIB, 900 * MIB),
              ends_ago=dt.timedelta(minutes=11), shape=_reindex),
)  # fmt: skip


def starts(series: JobSeries, now: dt.datetime) -> list[dt.datetime]:
    """The schedule's last `runs` ticks before now - ends_ago, oldest first.

    A healthy job's next run may fall due a moment after seeding; the collector's grace
    (at least two minutes) keeps it healthy for longer than the tests take.
    """
    before = now - series.last_run_ago
    if series.schedule is None:
        return [before - series.every * k for k in range(series.runs)][::-1]
    ticks = croniter(series.schedule, before)
    return [ticks.get_prev(dt.datetime) for _ in range(series.runs)][::-1]


def build_reports(series: JobSeries, now: dt.datetime, rng: random.Random) -> list[Report]:
    reports = []
    moments = starts(series, now)
    for i, tick in enumerate(moments):
        report = make_report(
            series.job,
            host=series.host,
            started=tick + dt.timedelta(seconds=rng.uniform(0.1, 2.0)),
            duration_s=round(rng.uniform(*series.durations), 3),
            peak_rss_bytes=rng.randint(*series.memory),
            schedule=series.schedule,
            stdout=f"{series.job}: processed {rng.randint(10, 5000)} items\n",
        )
        if series.shape is not None:
            report = series.shape(i, len(moments), report)
        reports.append(report)
    return reports


def _steady_now() -> dt.datetime:
    """Now, or a little later: never while a tick of a job that should read healthy or
    degraded lies between its last seeded run and now. Seeded then, the job's last run
    would be the tick before, its next one already due, and the job would turn late in
    mid-test (invoice_export did, seeded two minutes after its 20:15 tick). The wait is
    at most the longest such job's ends_ago (3 minutes), and rarely needed."""
    steady = [
        (series.schedule, series.last_run_ago)
        for series in SERIES
        if series.schedule is not None
        and EXPECTED[(series.job, series.host)][0] in ("healthy", "degraded")
    ]
    while True:
        now = dt.datetime.now(dt.timezone.utc)
        waits = [
            croniter(schedule, now).get_prev(dt.datetime) + ends_ago + dt.timedelta(seconds=1) - now
            for schedule, ends_ago in steady
        ]
        wait = max(waits, default=dt.timedelta(0))
        if wait <= dt.timedelta(0):
            return now
        time.sleep(wait.total_seconds())


def seed(service: Service, now: dt.datetime | None = None) -> list[Report]:
    """Send every series through POST /api/v1/runs and pause one job via the admin API."""
    now = now or _steady_now()
    rng = random.Random(3)
    everything = [r for s in SERIES for r in build_reports(s, now, rng)]
    for first in range(0, len(everything), 250):
        batch = everything[first : first + 250]
        answer = service.post_runs(batch)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == len(batch), answer.text
    job, host = PAUSED_BY_API
    answer = service.session.post(
        f"{service.url}/api/v1/jobs/{job}/pause", params={"host": host},
        headers=service.headers(service.admin_token), timeout=30,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return everything
