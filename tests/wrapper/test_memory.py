"""The memory cap and the measurements: peak RSS of the whole tree, CPU of the job, duration."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import JobTree, StateDir, Wrap

pytestmark = pytest.mark.timeout(60)

MIB = 1 << 20

# Allocates SIZE MiB, writing every page, then holds it for HOLD seconds.
#   python -c HOG MARKER SIZE HOLD
HOG = (
    "import sys, time\n"
    "block = b'\\x01' * (int(sys.argv[2]) << 20)\n"
    "time.sleep(float(sys.argv[3]))\n"
)
# Burns SECONDS of CPU time in user space (the clock is read rarely: reading it is a syscall).
#   python -c BUSY MARKER SECONDS
BUSY = (
    "import sys, time\n"
    "start = time.process_time()\n"
    "while time.process_time() - start < float(sys.argv[2]):\n"
    "    for _ in range(100_000):\n"
    "        pass\n"
)


def in_grandchild(tree: JobTree, code: str, *args: str, shell: str = "") -> list[str]:
    """sh runs python as its child: the measurements must cover the whole tree."""
    script = f'{shell}"$1" -c "$2" "$0" {" ".join(args)}; echo "python exited $?"'
    return ["sh", "-c", script, tree.marker, sys.executable, code]


def test_a_tree_over_the_cap_is_killed(wrap: Wrap, state: StateDir, tree: JobTree):
    # The hog holds its memory for 300 s, ten times wrap()'s watchdog: the wrapper is
    # back only because it killed the tree.
    result = wrap("--name", "hog", "--max-memory", "50M", "--",
                  *in_grandchild(tree, HOG, "200", "300"))  # fmt: skip
    assert result.returncode in (128 + signal.SIGKILL, 128 + signal.SIGTERM), result
    tree.assert_gone()
    report = state.report()
    assert report["status"] == "killed_memory"
    assert report["exit_code"] in (None, result.returncode)
    assert [a["status"] for a in report["attempts"]] == ["killed_memory"]
    assert report["peak_rss_bytes"] > 50 * MIB, "the peak that broke the cap is recorded"
    assert len(state.job_state("hog")["failures"]) == 1, "a memory kill counts for the breaker"


def test_a_hog_that_left_the_session_is_killed_too(wrap: Wrap, state: StateDir, tree: JobTree):
    # The hog double-forks into a session of its own; the job's shell just waits.
    script = '( setsid "$1" -c "$2" "$0" 200 30 & ); sleep 30'
    result = wrap("--name", "escapee", "--max-memory", "50M",
                  "--", "sh", "-c", script, tree.marker, sys.executable, HOG)  # fmt: skip
    assert result.returncode in (128 + signal.SIGKILL, 128 + signal.SIGTERM), result
    tree.assert_gone()
    assert state.report()["status"] == "killed_memory"


def test_a_hog_deaf_to_sigterm_gets_sigkill_after_the_grace(
    wrap: Wrap, state: StateDir, tree: JobTree
):
    # Deaf to SIGTERM and holding for 300 s: only the SIGKILL after the grace can end it
    # within wrap()'s 30 s watchdog.
    result = wrap("--name", "deafhog", "--max-memory", "50M", "--kill-after", "300ms", "--",
                  *in_grandchild(tree, HOG, "200", "300", shell="trap '' TERM; "))  # fmt: skip
    assert result.returncode == 128 + signal.SIGKILL, result
    tree.assert_gone()
    report = state.report()
    assert report["status"] == "killed_memory"
    assert report["signal"] == signal.SIGKILL


def test_a_memory_kill_is_not_retried(wrap: Wrap, state: StateDir, tree: JobTree):
    job = in_grandchild(tree, HOG, "200", "30")
    result = wrap("--name", "hog", "--max-memory", "50M", "--retries", "2",
                  "--retry-delay", "50ms", "--", *job)  # fmt: skip
    assert result.returncode in (128 + signal.SIGKILL, 128 + signal.SIGTERM)
    assert [a["status"] for a in state.report()["attempts"]] == ["killed_memory"]
    tree.assert_gone()


@pytest.mark.parametrize("cap", [("--max-memory", "1G"), ()], ids=["capped", "uncapped"])
def test_peak_rss_of_a_job_under_the_cap(wrap: Wrap, state: StateDir, tree: JobTree, cap):
    result = wrap("--name", "big", *cap, "--", *in_grandchild(tree, HOG, "100", "0.6"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "python exited 0\n"
    report = state.report()
    assert report["status"] == "success"
    peak = report["peak_rss_bytes"]
    assert isinstance(peak, int)
    assert 90 * MIB <= peak <= 400 * MIB, f"peak_rss_bytes {peak / MIB:.1f} MiB"


def test_cpu_of_a_busy_grandchild_is_counted(wrap: Wrap, state: StateDir, tree: JobTree):
    began = time.monotonic()
    result = wrap("--name", "busy", "--", *in_grandchild(tree, BUSY, "0.5"))
    wall = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    report = state.report()
    assert report["cpu_user_s"] >= 0.3, report["cpu_user_s"]
    assert report["cpu_system_s"] >= 0
    cores = os.cpu_count() or 1
    assert report["cpu_user_s"] + report["cpu_system_s"] <= report["duration_s"] * cores + 0.1
    assert 0.45 <= report["duration_s"] <= wall + 0.1, (report["duration_s"], wall)


def test_cpu_is_per_run_not_cumulative_over_attempts(wrap: Wrap, state: StateDir, tree: JobTree):
    # Two attempts of 0.4 s each: the run's CPU is their sum, each counted once.
    script = '"$1" -c "$2" "$0" 0.4; exit 1'
    result = wrap("--name", "busy2", "--retries", "1", "--retry-delay", "50ms",
                  "--", "sh", "-c", script, tree.marker, sys.executable, BUSY)  # fmt: skip
    assert result.returncode == 1
    report = state.report()
    assert len(report["attempts"]) == 2
    assert 0.7 <= report["cpu_user_s"] + report["cpu_system_s"] <= 3.0, report["cpu_user_s"]


def test_duration_of_a_sleeping_job(wrap: Wrap, state: StateDir):
    began = time.monotonic()
    result = wrap("--name", "nap", "--", "sleep", "0.5")
    wall = time.monotonic() - began
    assert result.returncode == 0
    report = state.report()
    # At least the sleep, at most what the test saw from outside: a measurement, not a speed.
    assert 0.45 <= report["duration_s"] <= wall + 0.1, (report["duration_s"], wall)
    assert report["cpu_user_s"] < 0.3, "sleeping costs no CPU"
