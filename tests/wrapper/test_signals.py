"""Signals sent to the wrapper reach the job's whole group; SIGKILL leaves no orphan job."""

from __future__ import annotations

import signal
import sys

import pytest

pytestmark = pytest.mark.timeout(60)

FORWARDED = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]

# A shell with two sleepers in its group; each touches DIR/NAME.ready once running.
#   sh -c PAIR MARKER PYTHON SLEEPER_CODE DIR
PAIR = '"$1" -c "$2" "$0-a" "$3/a.ready" & "$1" -c "$2" "$0-b" "$3/b.ready" & wait'


@pytest.mark.parametrize("sig", FORWARDED, ids=lambda sig: sig.name)
def test_signal_is_forwarded_to_the_group_and_the_wrapper_dies_of_it(
    wrap, tree, tmp_path, wait_for, sig
):
    state = wrap.state
    proc = wrap.popen(
        "--name", "forwarded", "--",
        "sh", "-c", PAIR, tree.marker, sys.executable, tree.sleeper_code, tmp_path,
    )  # fmt: skip
    wait_for(tmp_path / "a.ready")
    wait_for(tmp_path / "b.ready")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)

    assert proc.returncode == -sig, f"exited {proc.returncode}, not by {sig.name}: {err}"
    tree.assert_gone(within=2.0)
    report = state.report()
    assert report["status"] == "failed"
    assert report["signal"] == sig
    assert report["attempts"][-1]["signal"] == sig
    assert state.running() == []
    assert len(state.log("forwarded")) == 1


@pytest.mark.parametrize("sig", FORWARDED, ids=lambda sig: sig.name)
def test_a_job_that_traps_the_signal_decides_the_exit_status(wrap, state, tmp_path, wait_for, sig):
    started = tmp_path / "started"
    trapping = 'trap "exit 3" TERM INT HUP; touch "$1"; while :; do sleep 0.05; done'
    proc = wrap.popen("--name", "trapping", "--", "sh", "-c", trapping, "trapping", started)
    wait_for(started)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)

    assert proc.returncode == 3, err
    report = state.report()
    assert report["status"] == "failed"
    assert report["exit_code"] == 3
    assert report["signal"] is None


def test_sigkill_to_the_wrapper_takes_the_job_with_it(wrap, tree, tmp_path, wait_for):
    ready = tmp_path / "ready"
    proc = wrap.popen("--name", "orphaned", "--", *tree.sleeper(ready))
    wait_for(ready)
    assert tree.alive(), "the job should be running"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)

    assert proc.returncode == -signal.SIGKILL
    tree.assert_gone(within=2.0)


def test_sigkilled_wrapper_leaves_its_running_record(wrap, state, tree, tmp_path, wait_for):
    # running/RUN_ID.json outlives a wrapper that could not clean up: the agent reports the
    # run as lost from it.
    ready = tmp_path / "ready"
    proc = wrap.popen("--name", "lost", "--", *tree.sleeper(ready))
    wait_for(ready)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)

    running = state.running()
    assert len(running) == 1, running
    assert running[0]["job"] == "lost"
    assert running[0]["pid"] == proc.pid
    assert state.reports() == []
