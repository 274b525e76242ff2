"""`smartcron-agent run` and the command line, as a real process."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.agent.conftest import Agent, spool_names, stored_runs
from tests.conftest import StateDir, Wrap
from tests.support.service import Service


def test_the_daemon_ships_new_runs_and_exits_0_on_sigterm(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    agent.collector = sqlite_collector
    daemon = agent.popen("run", "--interval", "0.2s")
    try:
        for _ in range(3):
            assert wrap("--name", "tick", "--", "true").returncode == 0
        # Stored, then deleted from the spool once the answer is in: the two are not one
        # moment, so both are waited for (CI once looked between them).
        deadline = time.monotonic() + 20
        while len(stored_runs(sqlite_collector)) < 3 or spool_names(state):
            assert time.monotonic() < deadline, "the daemon did not ship"
            time.sleep(0.1)
        assert len(stored_runs(sqlite_collector)) == 3
        assert spool_names(state) == set()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0  # the watchdog: its interval is 0.2 s
    finally:
        if daemon.poll() is None:
            daemon.kill()
        daemon.communicate(timeout=10)


def test_a_once_line_while_the_daemon_is_in_a_pass_does_nothing(
    agent: Agent, state: StateDir
) -> None:
    import fcntl
    import os

    (state.path / "agent").mkdir(parents=True)
    os.chmod(state.path, 0o750)
    with open(state.path / "agent" / "pass.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        done = agent("once")
    assert done.returncode == 0
    assert "another agent is in a pass" in done.stderr


def test_a_bad_value_is_one_line_and_exit_2(agent: Agent, tmp_path) -> None:
    done = agent("once", "--interval", "soon")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--interval" in done.stderr
    config = tmp_path / "smartcron.toml"
    config.write_text("[agent]\nbatch_size = 5000\n")
    done = agent("once", "--config", str(config))
    assert done.returncode == 2 and "--batch-size" in done.stderr
    config.write_text('[agent]\nintervall = "30s"\n')
    done = agent("once", "--config", str(config))
    assert done.returncode == 2 and "unknown setting 'intervall'" in done.stderr


def test_the_wrapper_still_reads_a_config_file_with_an_agent_table(
    wrap: Wrap, state: StateDir, tmp_path
) -> None:
    config = tmp_path / "smartcron.toml"
    config.write_text('[defaults]\ntimeout = "1m"\n[agent]\ninterval = "10s"\n')
    done = wrap("--config", str(config), "--name", "cfg", "--", "true")
    assert done.returncode == 0, done.stderr
    assert state.report()["status"] == "success"


def test_status_names_spool_rejects_and_reachability(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    assert wrap("--name", "waiting", "--", "true").returncode == 0
    agent.collector = sqlite_collector
    done = agent("status", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["spool_depth"] == 1 and found["oldest_report_at"]
    assert found["collector_reachable"] is True
    assert found["rejected"] == 0 and found["last_delivery_at"] is None
    assert agent("once").returncode == 0
    text = agent("status").stdout
    assert "0 report(s) waiting" in text and "last delivery:    20" in text
    assert "taken, 0 rejected" in text


def test_an_unsafe_state_dir_is_refused(agent: Agent, state: StateDir) -> None:
    state.path.mkdir(parents=True)
    state.path.chmod(0o777)
    done = agent("once")
    assert done.returncode == 1
    assert "writable by others" in done.stderr


def test_sigterm_during_a_request_to_a_stalled_collector_exits_0_within_seconds(
    wrap: Wrap, agent: Agent, state: StateDir
) -> None:
    from tests.support.fake_collector import fake_collector

    assert wrap("--name", "stall", "--", "true").returncode == 0
    before = spool_names(state)
    # One byte of the answer every 2 s: the request would take minutes.
    with fake_collector(trickle_s=2.0) as fake:
        daemon = agent.popen(
            "run", "--collector", fake.url, "--token", "t", "--read-timeout", "10m"
        )
        try:
            assert fake.received.wait(20), "the agent sent nothing"
            daemon.send_signal(signal.SIGTERM)
            # The answer would take minutes and --read-timeout is 10 min: back within
            # the watchdog only because the signal ended the request.
            assert daemon.wait(timeout=20) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
            daemon.communicate(timeout=10)
    assert spool_names(state) == before  # not taken: it stays for the next pass


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_signal_with_two_batches_in_flight_keeps_every_report(
    wrap: Wrap, agent: Agent, state: StateDir, sig: signal.Signals
) -> None:
    """Two batches POSTed (ship.IN_FLIGHT), neither answered: a stop by SIGTERM (exit 0,
    the watchdog abandoning both requests) or by SIGKILL leaves both in the spool, and
    none in spool/rejected, for the next pass to send again."""
    from tests.support.fake_collector import fake_collector, wait_until

    for n in range(4):
        assert wrap("--name", f"job{n}", "--", "true").returncode == 0
    before = spool_names(state)
    with fake_collector(endless=True) as fake:
        daemon = agent.popen("run", "--collector", fake.url, "--token", "t",
                             "--batch-size", "2", "--read-timeout", "10m")  # fmt: skip
        try:
            assert wait_until(lambda: len(fake.requests) == 2, 20), fake.requests
            daemon.send_signal(sig)
            status = daemon.wait(timeout=20)
        finally:
            if daemon.poll() is None:
                daemon.kill()
            daemon.communicate(timeout=10)
    assert status == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    assert spool_names(state) == before
    assert not (state.path / "spool" / "rejected").exists()
