"""Fault injection: supervision itself fails after the job was spawned.

Whatever breaks the wrapper's supervision loop (here: no file descriptor left, so
/proc cannot be listed for the memory sample; elsewhere a bug of ours), the job must
not be orphaned: the wrapper still stops the tree at --timeout, exits with the job's
status, and leaves a report. It used to die with a traceback and exit 1, leaving the
job's background processes running, no report and a running/ marker behind.

The fault is real: once the job runs, the test lowers the running wrapper's
RLIMIT_NOFILE (prlimit(2)) to the descriptors it holds, so its next open() fails
with EMFILE. Those it closes at the end of the attempt (the job's pipes) make room
again for the report.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(90)


def starve_of_descriptors(pid: int) -> None:
    """No new descriptor for `pid`: its soft limit becomes its lowest free number (a new
    descriptor always takes the lowest; those above it that it holds stay usable)."""
    _soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    limit = None
    # A descriptor the process holds for a moment (a /proc read of its supervision loop)
    # hides a free number below it from one look: look again and keep the lowest seen.
    for _ in range(20):
        held = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
        lowest_free = min(set(range(max(held) + 2)) - held)
        if limit is None or lowest_free < limit:
            limit = lowest_free
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, hard))
        time.sleep(0.01)


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("smartcron-wrap:")]


def test_a_job_whose_supervision_fails_is_still_stopped_at_its_timeout(
    wrap: Any, state: Any, tree: Any, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    # A background sleeper too: what the shell leaves behind is the job's, to be stopped.
    sleeper = f'{sys.executable} -c "$2" {tree.marker}'
    script = f'touch "$1"; {sleeper}-bg & {sleeper}-fg'
    proc = wrap.popen("--name", "starved", "--timeout", "3", "--kill-after", "1",
                      "--", "sh", "-c", script, "sh", ready, tree.sleeper_code)  # fmt: skip
    from tests.conftest import wait_for

    wait_for(ready)
    wait_for(lambda: len(tree.alive()) == 3, what="the shell and both sleepers")
    starve_of_descriptors(proc.pid)
    _out, err = proc.communicate(timeout=60)
    tree.assert_gone()
    assert proc.returncode == 124, err
    assert "Traceback" not in err, err
    [warning] = warnings_in(err)
    assert "supervising job 'starved' failed" in warning and "Too many open files" in warning
    report = state.report()
    assert (report["status"], report["exit_code"], report["signal"]) == ("timeout", None, 15)
    assert [a["status"] for a in report["attempts"]] == ["timeout"]
    assert state.running() == [], "the run's marker is removed as always"
    assert [entry["run_id"] for entry in state.log("starved")] == [report["run_id"]]


def test_a_job_whose_supervision_fails_ends_with_its_own_exit_code(
    wrap: Any, state: Any, tmp_path: Path
) -> None:
    ready, go = tmp_path / "ready", tmp_path / "go"
    # The job waits for the test to starve the wrapper, then prints and exits 3 by itself.
    script = (
        'touch "$1"; while [ ! -e "$2" ]; do sleep 0.05; done; sleep 1.5; echo finished; exit 3'
    )
    proc = wrap.popen("--name", "starved", "--timeout", "60",
                      "--", "sh", "-c", script, "sh", ready, go)  # fmt: skip
    from tests.conftest import wait_for

    wait_for(ready)
    starve_of_descriptors(proc.pid)
    go.touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "Traceback" not in err, err
    assert out == "finished\n"  # passed through as ever
    report = state.report()
    assert (report["status"], report["exit_code"]) == ("failed", 3)
    assert report["stdout_tail"] == "finished\n"
