"""Timeout with escalation: SIGTERM to the group, SIGKILL after --kill-after, no survivors."""

from __future__ import annotations

import signal
import sys
import time

import pytest

pytestmark = pytest.mark.timeout(60)

# A tree that ignores SIGTERM everywhere, with members that leave the job's process group
# and session and are orphaned away from the job.  Every member carries the marker.
#   sh -c TREE MARKER PYTHON STUBBORN_CODE DIR
TREE = """
trap '' TERM
py=$1 code=$2 dir=$3
"$py" -c "$code" "$0-child" "$dir/child.ready" &
setsid "$py" -c "$code" "$0-setsid" "$dir/setsid.ready" &
( setsid "$py" -c "$code" "$0-double-fork-setsid" "$dir/double.ready" & )
( ( "$py" -c "$code" "$0-double-fork" "$dir/orphan.ready" & ) & )
touch "$dir/shell.ready"
wait
"""
TREE_MEMBERS = ("shell", "child", "setsid", "double", "orphan")


def test_timeout_kills_a_tree_that_ignores_sigterm(wrap, state, tree, tmp_path):
    timeout, kill_after = 3.0, 1.0
    began = time.monotonic()
    result = wrap(
        "--name", "stubborn", "--timeout", "3s", "--kill-after", "1s", "--",
        "sh", "-c", TREE, tree.marker, sys.executable, tree.stubborn_code, tmp_path,
    )  # fmt: skip
    elapsed = time.monotonic() - began

    not_started = [m for m in TREE_MEMBERS if not (tmp_path / f"{m}.ready").exists()]
    assert not not_started, f"the tree was not complete before the timeout: {not_started}"
    assert result.returncode == 124, result.stderr
    tree.assert_gone(within=2.0)
    assert elapsed >= timeout + kill_after - 0.05, "SIGKILL came before the grace ran out"

    report = state.report()
    assert report["status"] == "timeout"
    assert [attempt["status"] for attempt in report["attempts"]] == ["timeout"]
    assert report["duration_s"] >= timeout + kill_after - 0.05
    assert state.running() == []


def test_a_job_that_exits_on_sigterm_is_not_sigkilled(wrap, state, tmp_path):
    termed, started = tmp_path / "got-term", tmp_path / "started"
    graceful = 'trap \'touch "$1"; exit 5\' TERM; touch "$2"; while :; do sleep 0.05; done'
    # A grace of 300 s, ten times wrap()'s watchdog: the wrapper is back only because it
    # saw the job end, not because it waited the grace out.
    result = wrap(
        "--name", "graceful", "--timeout", "1s", "--kill-after", "300s", "--",
        "sh", "-c", graceful, "graceful", termed, started,
    )  # fmt: skip

    assert started.exists()
    assert result.returncode == 124, result.stderr
    assert termed.exists(), "the job's SIGTERM trap never ran"
    report = state.report()
    assert report["status"] == "timeout"
    assert report["signal"] != signal.SIGKILL
    assert [attempt["status"] for attempt in report["attempts"]] == ["timeout"]
    assert report["attempts"][0]["signal"] != signal.SIGKILL


def test_group_members_left_after_the_main_process_obeys_sigterm_are_killed(
    wrap, state, tree, tmp_path
):
    # The shell dies of SIGTERM at once; its child ignores SIGTERM and stays behind.
    script = '"$1" -c "$2" "$0-child" "$3/child.ready" & touch "$3/shell.ready"; wait'
    result = wrap(
        "--name", "leftover", "--timeout", "2s", "--kill-after", "1s", "--",
        "sh", "-c", script, tree.marker, sys.executable, tree.stubborn_code, tmp_path,
    )  # fmt: skip

    assert (tmp_path / "child.ready").exists() and (tmp_path / "shell.ready").exists()
    assert result.returncode == 124, result.stderr
    tree.assert_gone(within=2.0)
    assert state.report()["status"] == "timeout"


def test_a_job_within_its_timeout_is_left_alone(wrap, state):
    result = wrap("--name", "quick", "--timeout", "10s", "--", "sh", "-c", "sleep 0.2; exit 0")
    assert result.returncode == 0, result.stderr
    report = state.report()
    assert report["status"] == "success"
    assert report["exit_code"] == 0 and report["signal"] is None
