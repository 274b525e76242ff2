"""The proof against MariaDB: nothing lost, nothing doubled, with real processes."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.agent.conftest import Agent, spool_names, stored_runs
from tests.conftest import StateDir, Wrap
from tests.support.service import Service, make_report, start_collector


@pytest.fixture
def mariadb_collector(mysql_url: URL, tmp_path: Path) -> Iterator[Service]:
    url = mysql_url.render_as_string(hide_password=False)
    with start_collector(url, tmp_path) as service:
        yield service


@pytest.mark.slow
def test_fifty_runs_while_the_collector_is_stopped_arrive_exactly_once(
    wrap: Wrap, agent: Agent, state: StateDir, mysql_url: URL, tmp_path: Path
) -> None:
    # Collector stopped: the wrappers spool, each run on time with its own exit code.
    for start in range(0, 50, 10):
        procs = [
            wrap.popen("--name", f"batch{n % 3}", "--", "true") for n in range(start, start + 10)
        ]
        assert [p.wait(timeout=30) for p in procs] == [0] * 10
    ids = {r["run_id"] for r in state.reports()}
    assert len(ids) == 50
    with start_collector(mysql_url.render_as_string(hide_password=False), tmp_path) as service:
        agent.collector = service
        done = agent("once", "--batch-size", "7")
        assert done.returncode == 0, done.stderr
        runs = stored_runs(service)
    assert sorted(r["run_id"] for r in runs) == sorted(ids)
    assert spool_names(state) == set()


@pytest.mark.slow
def test_an_agent_killed_mid_batch_and_restarted_loses_and_doubles_nothing(
    agent: Agent, state: StateDir, mariadb_collector: Service
) -> None:
    spool = state.path / "spool"
    spool.mkdir(parents=True)
    state.path.chmod(0o750)
    reports = [make_report(f"bulk{n % 4}", host="proof") for n in range(300)]
    for report in reports:
        (spool / f"{report['run_id']}.json").write_text(json.dumps(report))
    agent.collector = mariadb_collector
    daemon = agent.popen("run", "--batch-size", "5", "--interval", "1h")
    deadline = time.monotonic() + 60
    while len(spool_names(state)) > 200:
        assert time.monotonic() < deadline, "the agent shipped nothing"
        time.sleep(0.01)
    daemon.send_signal(signal.SIGKILL)
    daemon.communicate(timeout=10)
    assert spool_names(state), "killed too late to prove anything"
    done = agent("once")
    assert done.returncode == 0, done.stderr
    assert spool_names(state) == set()
    runs = stored_runs(mariadb_collector, host="proof")
    assert sorted(r["run_id"] for r in runs) == sorted(r["run_id"] for r in reports)
    state.checked.update(f"{r['run_id']}.json" for r in reports)


@pytest.mark.slow
def test_mariadb_restarted_while_shipping_loses_nothing(
    agent: Agent, state: StateDir, mysql_private, tmp_path: Path
) -> None:
    spool = state.path / "spool"
    spool.mkdir(parents=True)
    state.path.chmod(0o750)
    reports = [make_report(f"restart{n % 4}", host="restart") for n in range(300)]
    for report in reports:
        (spool / f"{report['run_id']}.json").write_text(json.dumps(report))
    with start_collector(mysql_private.url, tmp_path) as service:
        agent.collector = service
        daemon = agent.popen("run", "--batch-size", "5", "--interval", "0.1s")
        try:
            deadline = time.monotonic() + 60
            while len(spool_names(state)) > 250:
                assert time.monotonic() < deadline, "the agent shipped nothing"
                time.sleep(0.01)
            mysql_private.restart()
            while spool_names(state):
                assert time.monotonic() < deadline + 60, "the spool did not drain"
                time.sleep(0.1)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.communicate(timeout=20)
        assert daemon.returncode == 0
        runs = stored_runs(service, host="restart")
    assert sorted(r["run_id"] for r in runs) == sorted(r["run_id"] for r in reports)
    assert not list((spool / "rejected").glob("*.json"))
    state.checked.update(f"{r['run_id']}.json" for r in reports)
