"""Fault injection: a state directory the wrapper can read but not write.

A file system remounted read-only under a host (ext4's errors=remount-ro after a disk
error) must not stop jobs (monitoring never blocks a run), but it must not silently
let a job overlap itself either: the lock of a job that has run before is still
there, and an flock needs no write access, so the wrapper takes that very lock
through a read-only descriptor. A run that holds it on a writable view of the
directory keeps the read-only one out, and the other way round. Only a job whose
lock file never existed runs unlocked, and one warning says so.

The read-only directory is a read-only bind mount of a writable one (the same
files, so the same flocks), mounted for the test and unmounted after.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StateDir, Wrap, find_wrap, wait_for
from tests.support.fake_collector import fake_collector

pytestmark = pytest.mark.timeout(90)


class Views:
    def __init__(self, writable: Wrap, read_only: Wrap) -> None:
        self.writable = writable
        self.read_only = read_only


@pytest.fixture
def views(tmp_path: Path, wrap_env: dict[str, str]) -> Iterator[Views]:
    writable, read_only = tmp_path / "state", tmp_path / "state-ro"
    writable.mkdir(mode=0o750)
    read_only.mkdir(mode=0o750)
    subprocess.run(["mount", "--bind", str(writable), str(read_only)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(read_only)], check=True)
        rw = Wrap(find_wrap(), StateDir(writable), wrap_env)
        ro = Wrap(find_wrap(), StateDir(read_only), wrap_env)
        yield Views(rw, ro)
        rw.close()
        ro.close()
    finally:
        subprocess.run(["umount", "-l", str(read_only)], check=True)


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("smartcron-wrap:")]


def holder(wrap: Wrap, tree: Any, ready: Path) -> subprocess.Popen[str]:
    """A run of job `nightly` that holds its lock until the test ends it."""
    proc = wrap.popen("--name", "nightly", "--", *tree.sleeper(ready))
    wait_for(ready)
    return proc


def second_run(wrap: Wrap, ran: Path) -> subprocess.CompletedProcess[str]:
    return wrap("--name", "nightly", "--", sys.executable, "-c", f"open({str(ran)!r}, 'w')")


def test_a_read_only_run_is_kept_out_by_a_run_that_holds_the_lock(
    views: Views, tree: Any, tmp_path: Path
) -> None:
    first = holder(views.writable, tree, tmp_path / "ready")
    ran = tmp_path / "second-ran"
    second = second_run(views.read_only, ran)
    assert second.returncode == 0, second.stderr
    assert not ran.exists(), "the job overlapped a run of itself that held the lock"
    first.kill()
    first.communicate(timeout=30)


def test_a_read_only_run_holds_the_lock_against_the_next(
    views: Views, tree: Any, tmp_path: Path
) -> None:
    assert views.writable("--name", "nightly", "--", "true").returncode == 0  # its lock file
    first = holder(views.read_only, tree, tmp_path / "ready")
    for wrap in (views.read_only, views.writable):
        ran = tmp_path / "second-ran"
        second = second_run(wrap, ran)
        assert second.returncode == 0, second.stderr
        assert not ran.exists(), f"the job overlapped a run of itself ({wrap.state.path})"
    first.kill()
    first.communicate(timeout=30)
    # With the lock free again, a read-only run runs: it cannot record itself, and says so.
    ran = tmp_path / "third-ran"
    third = second_run(views.read_only, ran)
    assert third.returncode == 0 and ran.exists()
    [warning] = warnings_in(third.stderr)
    assert "Read-only file system" in warning and "without its lock" not in warning


def test_a_job_that_never_ran_runs_unlocked_and_says_so(views: Views, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    job = [sys.executable, "-c", f"open({str(ran)!r}, 'w'); exit(4)"]
    with fake_collector() as server:
        done = views.read_only("--name", "fresh", "--collector", server.url, "--", *job)
    assert done.returncode == 4 and ran.exists(), "the job runs, whatever the state dir"
    [warning] = warnings_in(done.stderr)
    assert "job 'fresh' runs without its lock" in warning, warning
    assert "may overlap" in warning and "Read-only file system" in warning
    [report] = server.reports()  # the only record of this run: it says it was unlocked
    assert report["status"] == "failed"
    assert "Read-only file system" in report["lock_error"], report
