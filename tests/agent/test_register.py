"""Registration end to end: a wrapped crontab line is a job on the collector after one
agent pass, before it ever runs; its first report takes over the row; a plain line is
"not wrapped yet" on the hosts page; a line taken out is marked, its history kept."""

from __future__ import annotations

from typing import Any

from tests.agent.conftest import Agent, page_html
from tests.conftest import StateDir, Wrap, find_wrap
from tests.support.service import Service


def _jobs(service: Service) -> dict[str, dict[str, Any]]:
    answer = service.get("/api/v1/jobs")
    assert answer.status_code == 200, answer.text
    return {job["job"]: job for job in answer.json()["jobs"]}


def _hosts_page(service: Service) -> str:
    return page_html(service, "/hosts")


def test_a_wrapped_line_is_registered_before_its_first_run(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    (agent.cron / "cron.d").mkdir(parents=True)
    (agent.cron / "crontabs").mkdir()
    ops = agent.cron / "cron.d" / "ops"
    wrapped = (
        f"*/5 * * * *  root  {find_wrap()} --name stock-sync --schedule '*/5 * * * *'"
        " --priority 2 -- /bin/sh -c '/usr/local/bin/sync-stock --all'\n"
    )
    ops.write_text(wrapped + "0 3 * * *  root  /usr/local/bin/rotate-logs\n")
    agent.collector = sqlite_collector

    done = agent("once")
    assert done.returncode == 0, done.stderr
    jobs = _jobs(sqlite_collector)
    assert list(jobs) == ["stock-sync"]  # the plain line is no job: it never reports
    job = jobs["stock-sync"]
    assert (job["schedule"], job["priority"], job["command"]) == (
        "*/5 * * * *", 2, "/usr/local/bin/sync-stock --all",
    )  # fmt: skip
    assert job["state"] == "healthy" and job["reason"] == "no run reported yet"
    assert job["next_expected_at"] is not None and job["last_run_id"] is None
    page = _hosts_page(sqlite_collector)
    assert "1 wrapped" in page and "1 not wrapped yet</span>: rotate-logs" in page

    # Its first run reports: the report's fields take over the row.
    ran = wrap("--name", "stock-sync", "--schedule", "*/5 * * * *", "--", "true")
    assert ran.returncode == 0, ran.stderr
    assert agent("once").returncode == 0
    job = _jobs(sqlite_collector)["stock-sync"]
    assert (job["command"], job["priority"], job["last_status"]) == ("true", 5, "success")

    # The line is taken out of the crontab: marked, kept, no longer expected.
    ops.write_text("0 3 * * *  root  /usr/local/bin/rotate-logs\n")
    assert agent("once").returncode == 0
    job = _jobs(sqlite_collector)["stock-sync"]
    assert job["unlisted_at"] is not None and job["next_expected_at"] is None
    assert "not in the host's crontabs since" in job["reason"]
    runs = sqlite_collector.get("/api/v1/runs").json()["runs"]
    assert [run["job"] for run in runs] == ["stock-sync"]  # its history stays
    assert "0 wrapped" in _hosts_page(sqlite_collector)
