"""Control end to end: pause on the collector, one agent pass, the next run is skipped_paused."""

from __future__ import annotations

import json

import pytest

from tests.agent.conftest import Agent
from tests.conftest import StateDir, Wrap
from tests.support.service import Service


def _act(service: Service, job: str, action: str) -> None:
    answer = service.session.post(
        f"{service.url}/api/v1/jobs/{job}/{action}",
        headers=service.headers(service.admin_token),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def test_pause_reaches_the_host_and_resume_lets_the_job_run(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    agent.collector = sqlite_collector
    host = "ctl-host"
    assert wrap("--name", "nightly", "--", "true").returncode == 0
    assert agent("once", "--host", host).returncode == 0  # the job is known to the collector
    runs = sqlite_collector.get("/api/v1/runs").json()["runs"]
    real_host = runs[0]["host"]
    _act(sqlite_collector, "nightly", "pause")
    done = agent("once", "--host", real_host)
    assert done.returncode == 0, done.stderr
    control = json.loads((state.path / "control.json").read_text())
    assert control["paused"] == ["nightly"]
    assert wrap("--name", "nightly", "--", "true").returncode == 0
    assert [r["status"] for r in state.reports()][-1] == "skipped_paused"
    _act(sqlite_collector, "nightly", "resume")
    assert agent("once", "--host", real_host).returncode == 0
    assert json.loads((state.path / "control.json").read_text())["paused"] == []
    assert wrap("--name", "nightly", "--", "true").returncode == 0
    assert [r["status"] for r in state.reports()][-1] == "success"


def test_a_breaker_reset_reaches_control_json(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    agent.collector = sqlite_collector
    assert wrap("--name", "flaky", "--", "false").returncode == 1
    host = state.reports()[0]["host"]
    assert agent("once").returncode == 0
    _act(sqlite_collector, "flaky", "reset-breaker")
    assert agent("once", "--host", host).returncode == 0
    control = json.loads((state.path / "control.json").read_text())
    assert list(control["breaker_resets"]) == ["flaky"]


def test_control_stays_as_it_was_while_the_collector_is_down(
    agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    state.path.mkdir(parents=True, exist_ok=True)
    kept = {"paused": ["keep_me"], "breaker_resets": {}}
    (state.path / "control.json").write_text(json.dumps(kept))
    agent.collector = sqlite_collector
    sqlite_collector.url, real = "http://127.0.0.1:9", sqlite_collector.url
    try:
        assert agent("once").returncode == 0
    finally:
        sqlite_collector.url = real
    assert json.loads((state.path / "control.json").read_text()) == kept


@pytest.mark.timeout(600)  # a dozen real processes; slow on a loaded machine
def test_a_breaker_reset_on_the_page_lets_the_next_run_through(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    """Reset on the page (the admin's form, logged in), one agent pass writes
    control.json, and the wrapper's next run finds its breaker closed and runs."""
    from tests.support.collector_api import login, session_csrf

    agent.collector = sqlite_collector
    flaky = ("--name", "flaky", "--breaker-threshold", "2", "--breaker-cooldown", "1h")
    assert wrap(*flaky, "--", "false").returncode == 1
    assert wrap(*flaky, "--", "false").returncode == 1  # the second failure opens it
    assert wrap(*flaky, "--", "true").returncode == 0
    assert [r["status"] for r in state.reports()] == ["failed", "failed", "skipped_breaker"]
    host = state.reports()[0]["host"]
    assert agent("once").returncode == 0  # the collector knows the job, its breaker open
    job = sqlite_collector.get("/api/v1/jobs/flaky").json()
    [on_host] = job["hosts"]
    assert (on_host["breaker_state"], on_host["state"]) == ("open", "failing")

    browser = login(sqlite_collector)
    csrf = session_csrf(sqlite_collector, browser, "/jobs/flaky")
    page = browser.get(f"{sqlite_collector.url}/jobs/flaky", headers={"Accept": "text/html"},
                       timeout=30)  # fmt: skip
    assert f"Reset breaker on {host}" in page.text
    answer = browser.post(
        f"{sqlite_collector.url}/jobs/flaky/action",
        data={"action": "reset-breaker", "host": host, "csrf_token": csrf},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303, answer.text

    assert wrap(*flaky, "--", "true").returncode == 0  # no pass yet: still skipped
    assert state.reports()[-1]["status"] == "skipped_breaker"
    done = agent("once")
    assert done.returncode == 0, done.stderr
    assert list(json.loads((state.path / "control.json").read_text())["breaker_resets"]) == [
        "flaky"
    ]
    ran = wrap(*flaky, "--", "true")
    assert ran.returncode == 0, ran.stderr
    [last] = state.reports()
    assert (last["status"], last["breaker_state"]) == ("success", "closed")
    # The reset is applied once: the same control.json does not close a breaker that
    # opens again later.
    assert wrap(*flaky, "--", "false").returncode == 1
    assert wrap(*flaky, "--", "false").returncode == 1
    assert wrap(*flaky, "--", "true").returncode == 0
    assert state.reports()[-1]["status"] == "skipped_breaker"
    assert agent("once").returncode == 0
    job = sqlite_collector.get("/api/v1/jobs/flaky").json()
    statuses = [run["status"] for run in job["recent_runs"]]  # newest first
    assert statuses[:5] == ["skipped_breaker", "failed", "failed", "success", "skipped_breaker"]
