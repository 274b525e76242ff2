"""The JSON read API against the real service on SQLite and MySQL, with a known data set:
/status, /jobs, /jobs/{job}, /runs (filters, cursor pages), /runs/{id}, /metrics, /logs,
/hosts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from tests.support.collector_api import answered, assert_error
from tests.support.service import Service, iso, make_report

MIB = 2**20
FAILED = ("failed", "timeout")


@dataclass
class DataSet:
    """What was sent: the base time and every report by a short name."""

    base: dt.datetime
    reports: dict[str, dict[str, Any]]

    def ids(self, *names: str) -> set[str]:
        return {self.reports[name]["run_id"] for name in names}

    def all_ids(self) -> set[str]:
        return {r["run_id"] for r in self.reports.values()}


# name: (job, host, status, minutes after base, duration_s, peak RSS in MiB)
RUNS: dict[str, tuple[str, str, str, float, float, int]] = {
    "w1a": ("vend_sync", "web1", "success", 0, 1.0, 10),
    "w2a": ("vend_sync", "web2", "success", 2, 0.5, 15),
    "w1b": ("vend_sync", "web1", "success", 5, 2.0, 20),
    "w1c": ("vend_sync", "web1", "failed", 10, 3.0, 30),
    "w2b": ("vend_sync", "web2", "timeout", 12, 20.0, 25),
    "w1d": ("vend_sync", "web1", "success", 15, 4.0, 40),
    "w1e": ("vend_sync", "web1", "success", 20, 10.0, 50),
    "b1": ("backup", "db1", "success", 1, 60.0, 100),
    "b2": ("backup", "db1", "success", 11, 90.0, 120),
    "b3": ("backup", "db1", "skipped_locked", 21, 0.0, 0),
    # A day before the rest: outside every 24 h figure.
    "r1": ("report", "web1", "failed", -24 * 60, 5.0, 60),
    "n1": ("nightly", "db1", "success", -24 * 60, 7.0, 70),
}


def seed(service: Service) -> DataSet:
    """Two hours ago, 20 minutes of runs, plus two runs of a day earlier. Only `nightly`
    has a schedule (hourly), so it alone is late; the others' states follow their runs."""
    base = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=2)
    reports = {}
    for name, (job, host, status, minutes, duration, rss) in RUNS.items():
        failed = status in FAILED
        reports[name] = make_report(
            job, host=host, status=status, started=base + dt.timedelta(minutes=minutes),
            duration_s=duration, peak_rss_bytes=rss * MIB, stdout=f"{host} {name} out\n",
            stderr=f"{host} {name} err\n" if failed else "",
            schedule="0 * * * *" if job == "nightly" else None,
        )  # fmt: skip
    answer = service.post_runs(list(reports.values()))
    assert answer.json() == {"accepted": len(RUNS), "duplicates": 0, "rejected": []}, answer.text
    return DataSet(base, reports)


def ok(service: Service, path: str, **params: Any) -> Any:
    answer = service.get(path, params=params)
    assert answer.status_code == 200, (path, params, answer.text[:500])
    assert answer.headers["content-type"].startswith("application/json")
    return answer.json()


@pytest.fixture
def data(collector: Service) -> DataSet:
    return seed(collector)


# ---------------------------------------------------------------- status, jobs, hosts


def test_an_empty_store_reads_as_empty(collector: Service) -> None:
    status = ok(collector, "/api/v1/status")
    assert status["jobs"] == 0 and status["runs_24h"] == 0 and status["ok"] is True
    assert ok(collector, "/api/v1/jobs") == {"jobs": [], "next_cursor": None}
    assert ok(collector, "/api/v1/runs") == {"runs": [], "next_cursor": None}
    assert ok(collector, "/api/v1/hosts") == {"hosts": []}
    assert ok(collector, "/api/v1/metrics")["series"] == []


def test_status_counts_jobs_hosts_and_runs(collector: Service, data: DataSet) -> None:
    status = ok(collector, "/api/v1/status")
    assert status["jobs"] == 5
    assert status["jobs_by_state"] == {
        "failing": 2, "late": 1, "running": 0, "degraded": 1, "paused": 0, "healthy": 1
    }  # fmt: skip
    assert status["hosts"] == 3
    assert status["runs_24h"] == 9  # 7 vend_sync + 2 backup; the skip is not a run
    assert status["failures_24h"] == 2
    assert status["ok"] is False


def test_jobs_lists_every_job_on_every_host_worst_first(collector: Service, data: DataSet) -> None:
    jobs = ok(collector, "/api/v1/jobs")["jobs"]
    order = [(j["job"], j["host"], j["state"]) for j in jobs]
    assert order == [
        ("report", "web1", "failing"),
        ("vend_sync", "web2", "failing"),
        ("nightly", "db1", "late"),
        ("vend_sync", "web1", "degraded"),
        ("backup", "db1", "healthy"),
    ]
    by_key = {(j["job"], j["host"]): j for j in jobs}

    web1 = by_key[("vend_sync", "web1")]
    last = data.reports["w1e"]
    assert web1["last_status"] == "success" and web1["last_run_id"] == last["run_id"]
    assert web1["last_started_at"] == last["started_at"]
    assert web1["last_success_at"] == last["finished_at"]
    assert web1["recent_runs"] == 5
    assert web1["success_rate_pct"] == 80.0
    assert web1["p95_duration_s"] == 10.0
    assert web1["max_peak_rss_bytes"] == 50 * MIB
    assert [p["duration_s"] for p in web1["sparkline"]] == [1.0, 2.0, 3.0, 4.0, 10.0]
    assert [p["status"] for p in web1["sparkline"]][2] == "failed"
    assert web1["paused"] is False

    web2 = by_key[("vend_sync", "web2")]
    assert (web2["success_rate_pct"], web2["p95_duration_s"]) == (50.0, 20.0)
    assert web2["last_status"] == "timeout" and "timeout" in web2["reason"]

    backup = by_key[("backup", "db1")]
    # The skip neither counts as a run nor hides the last real outcome.
    assert backup["last_run_id"] == data.reports["b2"]["run_id"]
    assert backup["last_status"] == "success"
    assert (backup["recent_runs"], backup["success_rate_pct"]) == (2, 100.0)
    assert backup["p95_duration_s"] == 90.0

    nightly = by_key[("nightly", "db1")]
    assert nightly["schedule"] == "0 * * * *" and nightly["next_expected_at"] is not None


def test_jobs_count_the_last_24_hours(
    collector: Service, data: DataSet, schema_engine: Engine, request: pytest.FixtureRequest
) -> None:
    counts = {
        (j["job"], j["host"]): (j["runs_24h"], j["failures_24h"])
        for j in ok(collector, "/api/v1/jobs")["jobs"]
    }
    assert counts == {
        ("vend_sync", "web1"): (5, 1),
        ("vend_sync", "web2"): (2, 1),
        ("backup", "db1"): (2, 0),
        ("report", "web1"): (0, 0),
        ("nightly", "db1"): (0, 0),
    }


def test_one_job_shows_its_hosts_and_recent_runs(collector: Service, data: DataSet) -> None:
    job = ok(collector, "/api/v1/jobs/vend_sync")
    assert job["job"] == "vend_sync"
    assert [h["host"] for h in job["hosts"]] == ["web2", "web1"]  # failing before degraded
    recent = job["recent_runs"]
    assert {r["run_id"] for r in recent} == data.ids("w1a", "w2a", "w1b", "w1c", "w2b", "w1d",
                                                     "w1e")  # fmt: skip
    assert all(r["job"] == "vend_sync" for r in recent)


def test_an_unknown_job_is_404(collector: Service, data: DataSet) -> None:
    assert_error(collector.get("/api/v1/jobs/no_such_job"), 404, "no_such_job")
    assert_error(collector.get("/api/v1/logs", params={"job": "no_such_job"}), 404)


def test_hosts_lists_each_host_with_its_jobs(collector: Service, data: DataSet) -> None:
    hosts = ok(collector, "/api/v1/hosts")["hosts"]
    assert [(h["host"], h["jobs"]) for h in hosts] == [("db1", 2), ("web1", 2), ("web2", 1)]
    web1 = next(h for h in hosts if h["host"] == "web1")
    assert web1["last_run_at"] == data.reports["w1e"]["started_at"]


# ---------------------------------------------------------------- runs


def run_ids(service: Service, **params: Any) -> set[str]:
    body = ok(service, "/api/v1/runs", **params)
    assert body["next_cursor"] is None, "expected a single page"
    ids = [r["run_id"] for r in body["runs"]]
    assert len(ids) == len(set(ids))
    return set(ids)


def test_runs_filter_by_job_host_and_status(collector: Service, data: DataSet) -> None:
    assert run_ids(collector) == data.all_ids()
    vend = data.ids("w1a", "w2a", "w1b", "w1c", "w2b", "w1d", "w1e")
    assert run_ids(collector, job="vend_sync") == vend
    assert run_ids(collector, host="web1") == data.ids("w1a", "w1b", "w1c", "w1d", "w1e", "r1")
    assert run_ids(collector, status="failed") == data.ids("w1c", "r1")
    assert run_ids(collector, status="skipped_locked") == data.ids("b3")
    assert run_ids(collector, job="vend_sync", host="web2", status="timeout") == data.ids("w2b")
    assert run_ids(collector, job="no_such_job") == set()


def test_runs_filter_by_time(collector: Service, data: DataSet) -> None:
    base = data.base
    day_ago = base - dt.timedelta(hours=23)
    assert run_ids(collector, since=iso(day_ago)) == data.all_ids() - data.ids("r1", "n1")
    # until is exclusive, since inclusive: [base, base + 11 min) holds b1 but not b2.
    window = run_ids(collector, since=iso(base), until=iso(base + dt.timedelta(minutes=11)))
    assert window == data.ids("w1a", "w2a", "w1b", "w1c", "b1")
    assert run_ids(collector, until=iso(base + dt.timedelta(seconds=30))) == data.ids(
        "w1a", "r1", "n1"
    )
    # Other spellings of the same moment: an offset, and no zone (taken as UTC).
    since = base + dt.timedelta(minutes=20)
    assert run_ids(collector, since=since.isoformat()) == data.ids("w1e", "b3")
    naive = since.replace(tzinfo=None).isoformat()
    assert run_ids(collector, since=naive) == data.ids("w1e", "b3")
    assert run_ids(collector, since=iso(base), job="backup") == data.ids("b1", "b2", "b3")


@pytest.mark.parametrize(
    ("params", "status", "word"),
    [
        ({"since": "yesterday"}, 400, "since"),
        ({"until": "2024-13-45"}, 400, "until"),
        ({"limit": 0}, 422, "limit"),
        ({"limit": 501}, 422, "limit"),
        ({"cursor": 0}, 422, "cursor"),
        ({"cursor": "abc"}, 422, "cursor"),
        ({"cursor": 10**30}, 422, "cursor"),
        ({"since": "0001-01-01T00:00:00+01:00"}, 400, "since"),
    ],
)
def test_bad_run_queries_name_the_parameter(
    collector: Service, params: dict[str, Any], status: int, word: str
) -> None:
    assert_error(collector.get("/api/v1/runs", params=params), status, word)


def walk(service: Service, limit: int, between: Callable[[], None] | None = None, **filters: Any):
    """Every page of /runs, following next_cursor: the run ids in order, and the pages."""
    ids: list[str] = []
    pages: list[int] = []
    cursor = None
    while True:
        params = {"limit": limit, **filters} | ({"cursor": cursor} if cursor else {})
        body = ok(service, "/api/v1/runs", **params)
        pages.append(len(body["runs"]))
        ids += [r["run_id"] for r in body["runs"]]
        order = [(r["started_at"], r["id"]) for r in body["runs"]]
        assert order == sorted(order, reverse=True), "newest first by start time"
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages
        assert len(pages) < 1000, "the cursor never ends"
        if between is not None:
            between()


@pytest.mark.parametrize("limit", [1, 5, 12, 13])
def test_cursor_pages_cover_every_run_once(collector: Service, data: DataSet, limit: int) -> None:
    ids, pages = walk(collector, limit)
    assert len(ids) == len(set(ids)) == 12
    assert set(ids) == data.all_ids()
    full, rest = divmod(12, limit)
    assert pages == [limit] * full + ([rest] if rest else [])


def test_cursor_pages_keep_the_filter(collector: Service, data: DataSet) -> None:
    ids, pages = walk(collector, 3, job="vend_sync", host="web1")
    assert pages == [3, 2]
    assert len(ids) == 5 and set(ids) == data.ids("w1a", "w1b", "w1c", "w1d", "w1e")


def test_runs_arriving_during_a_walk_neither_repeat_nor_shift_it(collector: Service) -> None:
    first = [make_report(f"job{i % 4}", host=f"h{i % 3}") for i in range(130)]
    assert collector.post_runs(first).json()["accepted"] == 130

    def more() -> None:
        assert collector.post_runs([make_report("job0")]).json()["accepted"] == 1

    ids, pages = walk(collector, 7, between=more)
    assert len(ids) == len(set(ids)) == 130
    assert set(ids) == {r["run_id"] for r in first}
    assert pages == [7] * 18 + [4]


def test_one_run_in_full(collector: Service, data: DataSet) -> None:
    sent = data.reports["w1c"]
    run = ok(collector, f"/api/v1/runs/{sent['run_id']}")
    assert run["run_id"] == sent["run_id"]
    assert (run["job"], run["host"], run["status"]) == ("vend_sync", "web1", "failed")
    assert run["exit_code"] == 1
    assert run["started_at"] == sent["started_at"] and run["finished_at"] == sent["finished_at"]
    assert run["duration_s"] == 3.0
    assert run["peak_rss_bytes"] == 30 * MIB
    assert run["command"] == sent["command"]
    assert run["stdout_tail"] == "web1 w1c out\n" and run["stderr_tail"] == "web1 w1c err\n"
    assert [parse_times(a) for a in run["attempts"]] == [parse_times(a) for a in sent["attempts"]]
    assert run["output_truncated"] in (False, 0)


def test_an_unknown_run_is_404(collector: Service, data: DataSet) -> None:
    assert_error(collector.get("/api/v1/runs/00000000-0000-4000-8000-000000000000"), 404)
    assert_error(collector.get("/api/v1/runs/not-a-run"), 404)


def parse_times(attempt: dict[str, Any]) -> dict[str, Any]:
    """An attempt with its times as datetimes: '...:26Z' and '...:26.000000Z' are one time."""
    return attempt | {
        key: dt.datetime.fromisoformat(attempt[key].replace("Z", "+00:00"))
        for key in ("started_at", "finished_at")
    }


# ---------------------------------------------------------------- metrics and logs


def totals(series: list[dict[str, Any]]) -> tuple[int, int]:
    hours = [point["hour"] for point in series]
    assert hours == sorted(hours) and len(hours) == len(set(hours))
    return sum(p["runs"] for p in series), sum(p["failures"] for p in series)


def test_hourly_metrics_count_runs_in_the_window(collector: Service, data: DataSet) -> None:
    assert ok(collector, "/api/v1/metrics", hours=1) == {"hours": 1, "series": []}
    assert totals(ok(collector, "/api/v1/metrics", hours=3)["series"]) == (9, 2)
    assert totals(ok(collector, "/api/v1/metrics", hours=48)["series"]) == (11, 3)
    vend = ok(collector, "/api/v1/metrics", hours=3, job="vend_sync")["series"]
    assert totals(vend) == (7, 2)
    assert max(p["max_duration_s"] for p in vend) == 20.0
    assert max(p["max_peak_rss_bytes"] for p in vend) == 50 * MIB
    assert ok(collector, "/api/v1/metrics")["hours"] == 24
    assert_error(collector.get("/api/v1/metrics", params={"hours": 0}), 422, "hours")
    assert_error(collector.get("/api/v1/metrics", params={"hours": "x"}), 422, "hours")


def test_logs_are_the_last_lines_oldest_first(collector: Service, data: DataSet) -> None:
    everything = [
        ("web1 w1a out", "stdout"),
        ("web2 w2a out", "stdout"),
        ("web1 w1b out", "stdout"),
        ("web1 w1c out", "stdout"),
        ("web1 w1c err", "stderr"),
        ("web2 w2b out", "stdout"),
        ("web2 w2b err", "stderr"),
        ("web1 w1d out", "stdout"),
        ("web1 w1e out", "stdout"),
    ]
    logs = ok(collector, "/api/v1/logs", job="vend_sync", lines=3)
    assert logs["job"] == "vend_sync"
    assert [(line["line"], line["stream"]) for line in logs["lines"]] == everything[-3:]
    last = logs["lines"][-1]
    assert last["run_id"] == data.reports["w1e"]["run_id"] and last["host"] == "web1"
    all_lines = ok(collector, "/api/v1/logs", job="vend_sync", lines=100)["lines"]
    assert [(line["line"], line["stream"]) for line in all_lines] == everything
    assert_error(collector.get("/api/v1/logs"), 422, "job")
    assert_error(collector.get("/api/v1/logs", params={"job": "vend_sync", "lines": 0}), 422)


def test_text_that_looks_a_little_like_a_time_is_left_alone(collector: Service) -> None:
    # A space at the 11th character, as a stored time text has: still a command.
    command = "/usr/bin/x --since 2030-01-01 12:00:00"
    report = make_report("odd_command") | {"command": command}
    assert collector.post_runs([report]).status_code == 200
    (job,) = ok(collector, "/api/v1/jobs/odd_command")["hosts"]
    assert job["command"] == command
    assert job["last_started_at"].endswith("Z") and "T" in job["last_started_at"]


# ---------------------------------------------------------------- the report's names


def test_a_run_reads_back_under_the_reports_field_names(collector: Service) -> None:
    sent = make_report("named", status="killed_memory") | {
        "user": "www-data", "trigger": "manual", "signal": 9, "exit_code": None,
        "tags": ["db", "nightly"],
    }  # fmt: skip
    untagged = make_report("named", started=dt.datetime.now(dt.timezone.utc) - dt.timedelta(1))
    assert collector.post_runs([sent, untagged]).json()["accepted"] == 2
    one = ok(collector, f"/api/v1/runs/{sent['run_id']}")
    listed = ok(collector, "/api/v1/runs", job="named")["runs"]
    recent = ok(collector, "/api/v1/jobs/named")["recent_runs"]
    assert [run["run_id"] for run in listed] == [run["run_id"] for run in recent]
    assert listed[0]["run_id"] == sent["run_id"]
    for run in (one, listed[0], recent[0]):
        for field in ("user", "trigger", "signal", "tags", "status", "exit_code", "command"):
            assert run[field] == sent[field], (field, run[field])
        # The columns' own names (SQL keywords avoided) stay inside the database.
        assert not {"run_user", "run_trigger", "signal_number"} & set(run), sorted(run)
    # Every field of the report but its envelope is there, under its own name.
    assert set(sent) - {"schema"} <= set(one), set(sent) - set(one)
    assert listed[1]["tags"] == [] and recent[1]["tags"] == []


# ---------------------------------------------------------------- lost runs


def test_a_lost_run_is_in_no_duration_figure(collector: Service) -> None:
    # A lost run's end is unknown: it counts as a run and a failure, with no duration in
    # p95, the sparkline or the hourly figures. A job with lost runs only reads as such.
    base = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=2)
    sent = [
        make_report("gone", status="success", started=base, duration_s=2.0, schedule=None),
        make_report(
            "gone",
            status="success",
            started=base + dt.timedelta(minutes=5),
            duration_s=4.0,
            schedule=None,
        ),
        make_report("gone", status="lost", started=base + dt.timedelta(minutes=10), schedule=None),
        make_report("vanished", status="lost", started=base, schedule=None),
    ]
    assert collector.post_runs(sent).json() == answered(4)

    [gone] = ok(collector, "/api/v1/jobs/gone")["hosts"]
    assert (gone["recent_runs"], gone["success_rate_pct"], gone["p95_duration_s"]) == (3, 66.7, 4.0)
    assert [point["duration_s"] for point in gone["sparkline"]] == [2.0, 4.0]
    lost = ok(collector, f"/api/v1/runs/{sent[2]['run_id']}")
    assert (lost["status"], lost["finished_at"], lost["duration_s"]) == ("lost", None, None)
    hourly = ok(collector, "/api/v1/metrics", hours=3, job="gone")["series"]
    assert totals(hourly) == (3, 1)
    # The runs may fall in two hours: one of the lost run alone has no duration at all.
    assert max(p["max_duration_s"] for p in hourly if p["max_duration_s"] is not None) == 4.0

    [vanished] = ok(collector, "/api/v1/jobs/vanished")["hosts"]
    assert (vanished["recent_runs"], vanished["p95_duration_s"], vanished["sparkline"]) == (
        1, None, [],
    )  # fmt: skip
    [hour] = ok(collector, "/api/v1/metrics", hours=3, job="vanished")["series"]
    assert (hour["runs"], hour["failures"], hour["avg_duration_s"], hour["max_duration_s"]) == (
        1, 1, None, None,
    )  # fmt: skip
    headers = {"Accept": "text/html", "Authorization": f"Bearer {collector.admin_token}"}
    for path in ("/", "/jobs/vanished", f"/runs/{sent[3]['run_id']}"):
        page = requests.get(f"{collector.url}{path}", headers=headers, timeout=30)
        assert page.status_code == 200, (path, page.text[:300])
        assert page.headers["content-type"].startswith("text/html")
