"""The lock: one run of NAME at a time on a host, freed by the kernel when the holder dies."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import JobTree, Wrap

pytestmark = pytest.mark.timeout(90)

# Records that it ran, then holds the lock until the test creates the release file.
#   sh -c HOLD MARKER RUNS_FILE RELEASE_FILE
HOLD = 'echo "$$" >> "$1"; while [ ! -e "$2" ]; do sleep 0.05; done'


def hold(tree: JobTree, runs: Path, release: Path) -> list[str]:
    return ["sh", "-c", HOLD, tree.marker, str(runs), str(release)]


def start_holder(
    wrap: Wrap, tree: JobTree, tmp_path: Path, wait_for, *options: str
) -> tuple[subprocess.Popen[str], Path, Path]:
    """A wrapper whose job is running (and so holds the lock) until `release` exists."""
    runs, release = tmp_path / "holder.runs", tmp_path / "holder.release"
    proc = wrap.popen("--name", "locked", *options, "--", *hold(tree, runs, release))
    wait_for(runs, what="the holder's job to start")
    return proc, runs, release


def test_fifty_simultaneous_launches_run_exactly_once(wrap, state, tree, tmp_path, wait_for):
    runs, release = tmp_path / "runs", tmp_path / "release"
    procs = [wrap.popen("--name", "herd", "--", *hold(tree, runs, release)) for _ in range(50)]
    try:
        # Every wrapper but the lock holder must give up on its own; the holder's job
        # cannot end before the release file exists, so there is no race to win twice.
        wait_for(
            lambda: sum(proc.poll() is not None for proc in procs) >= 49,
            timeout=60,
            what="49 of 50 wrappers to skip",
        )
        time.sleep(0.3)  # a second job run, if the lock let one through, shows up here
        running = [proc for proc in procs if proc.poll() is None]
        assert len(running) == 1, f"{len(running)} wrappers still running, expected 1"
    finally:
        release.touch()
    outputs = {proc.pid: proc.communicate(timeout=30) for proc in procs}

    assert [proc.returncode for proc in procs] == [0] * 50
    assert len(runs.read_text().split()) == 1, "the job ran more than once"
    holder = running[0]
    for proc in procs:
        if proc is not holder:
            assert outputs[proc.pid] == ("", ""), "a skipped run prints nothing"

    reports = state.reports()
    assert len(reports) == 50
    statuses = sorted(report["status"] for report in reports)
    assert statuses == ["skipped_locked"] * 49 + ["success"]
    for report in reports:
        assert report["job"] == "herd"
        if report["status"] == "skipped_locked":
            assert report["exit_code"] == 0 and report["attempts"] == []
    assert len(state.log("herd")) == 50
    assert state.running() == []
    tree.assert_gone()


def test_lock_wait_waits_then_skips(wrap, state, tree, tmp_path, wait_for):
    holder, _, release = start_holder(wrap, tree, tmp_path, wait_for)
    ran = tmp_path / "second.ran"
    try:
        assert state.lock_path("locked").exists()
        began = time.monotonic()
        # The holder holds until told: only --lock-wait running out ends this wait.
        second = wrap("--name", "locked", "--lock-wait", "1500ms", "--", "touch", ran)
        waited = time.monotonic() - began
        assert holder.poll() is None, "the holder must still hold the lock"
    finally:
        release.touch()
    assert holder.wait(timeout=20) == 0

    assert second.returncode == 0
    assert (second.stdout, second.stderr) == ("", "")
    assert not ran.exists(), "the second run must not have run its job"
    assert waited >= 1.4, f"gave up after {waited:.2f}s, before --lock-wait 1500ms"
    statuses = sorted(report["status"] for report in state.reports())
    assert statuses == ["skipped_locked", "success"]


def test_lock_wait_gets_the_lock_when_the_holder_finishes_in_time(
    wrap, state, tree, tmp_path, wait_for
):
    holder, _, release = start_holder(wrap, tree, tmp_path, wait_for)
    ran = tmp_path / "second.ran"
    second = wrap.popen("--name", "locked", "--lock-wait", "30s", "--", "touch", ran)
    try:
        # Long enough for a wrapper that does not wait to have skipped and exited.
        time.sleep(2.0)
        assert second.poll() is None, "the second wrapper must be waiting for the lock"
        assert not ran.exists(), "the second job ran while the first held the lock"
    finally:
        release.touch()
    assert holder.wait(timeout=20) == 0
    _, err = second.communicate(timeout=30)

    assert second.returncode == 0, err
    assert ran.exists()
    first, second_report = state.reports()
    assert [first["status"], second_report["status"]] == ["success", "success"]
    first_end = first["attempts"][-1]["finished_at"]
    assert second_report["attempts"][0]["started_at"] >= first_end, "the runs overlapped"


def test_no_lock_allows_overlapping_runs(wrap, state, tree, tmp_path, wait_for):
    release = tmp_path / "release"
    first_runs, second_runs = tmp_path / "first.runs", tmp_path / "second.runs"
    first = wrap.popen("--name", "free", "--no-lock", "--", *hold(tree, first_runs, release))
    second = wrap.popen("--name", "free", "--no-lock", "--", *hold(tree, second_runs, release))
    try:
        wait_for(first_runs, what="the first job to start")
        wait_for(second_runs, what="the second job to start while the first runs")
    finally:
        release.touch()
    assert first.wait(timeout=20) == 0
    assert second.wait(timeout=20) == 0
    assert [report["status"] for report in state.reports()] == ["success", "success"]


def test_lock_is_freed_when_the_wrapper_is_sigkilled(wrap, state, tree, tmp_path, wait_for):
    holder, _, release = start_holder(wrap, tree, tmp_path, wait_for)
    try:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        ran = tmp_path / "second.ran"
        # --lock-wait 0: the lock must be free at once, not after some stale-lock timeout.
        second = wrap("--name", "locked", "--lock-wait", "0", "--", "touch", ran)
    finally:
        release.touch()

    assert holder.returncode == -signal.SIGKILL
    assert second.returncode == 0, second.stderr
    assert ran.exists(), "the lock was still held after its holder was SIGKILLed"
    # The killed run may be reported `lost` by whoever finds its running record first.
    statuses = [report["status"] for report in state.reports() if report["status"] != "lost"]
    assert statuses == ["success"]
    tree.assert_gone()
