"""Control end to end: pause on the collector, one agent pass, the next run is skipped_paused."""

from __future__ import annotations

import json

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
