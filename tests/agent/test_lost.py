"""Lost runs: a wrapper SIGKILLed mid-run is reported `lost`, once, and its job runs again."""

from __future__ import annotations

import os
import signal
import time

import psutil

from tests.agent.conftest import Agent, spool_names, stored_runs
from tests.conftest import StateDir, Wrap
from tests.support.service import Service


def _wait(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_wrapper_is_reported_lost_once_and_the_next_run_takes_the_lock(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    proc = wrap.popen("--name", "victim", "--", "sleep", "300")
    _wait(lambda: any(m.get("child_pid") for m in state.running()))
    [marker] = state.running()
    child = psutil.Process(marker["child_pid"])
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    agent.collector = sqlite_collector
    first = agent("once")
    second = agent("once")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    runs = stored_runs(sqlite_collector)
    assert [(r["run_id"], r["status"]) for r in runs] == [(marker["run_id"], "lost")]
    assert state.running() == []
    _wait(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE)
    done = wrap("--name", "victim", "--", "true")
    assert done.returncode == 0
    assert [r["status"] for r in state.reports()] == ["success"]


def test_a_running_job_is_not_reported_lost(wrap: Wrap, agent: Agent, state: StateDir) -> None:
    proc = wrap.popen("--name", "alive", "--", "sleep", "300")
    _wait(lambda: any(m.get("child_pid") for m in state.running()))
    assert agent("once").returncode == 0
    assert spool_names(state) == set()
    assert len(state.running()) == 1
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)


def test_a_lost_marker_whose_job_lock_is_held_waits_for_that_run(
    wrap: Wrap, agent: Agent, state: StateDir
) -> None:
    """The job's lock is held (a run of it is in progress): that run's wrapper reports
    the lost marker itself, so the agent leaves it, and only one report is made."""
    import fcntl

    proc = wrap.popen("--name", "held", "--", "sleep", "300")
    _wait(lambda: any(m.get("child_pid") for m in state.running()))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    os.makedirs(state.path / "locks", exist_ok=True)
    with open(state.lock_path("held"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert agent("once").returncode == 0
        assert spool_names(state) == set()
    assert agent("once").returncode == 0
    assert [r["status"] for r in state.reports()] == ["lost"]
