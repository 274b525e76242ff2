"""Lost runs: a running/ marker whose wrapper is gone becomes one `lost` report.

The wrapper does the same for its own job at its next run (wrapper/run.py's
_recover_lost_runs), under the job's lock; the agent does it for jobs that may
not run again for a long time, under the same lock, so the two never both report
one run: whoever holds the lock reports the marker and removes it before letting
go; the other finds it gone. A job whose lock is held is running now, and that
run's wrapper reports its own job's lost runs: the agent leaves them.
The report goes to the spool like any other, and ships in the same pass.
"""

from __future__ import annotations

import os
import sys
from functools import partial

from smartcron.wrapper.lock import JobLock
from smartcron.wrapper.proctree import kill_pids
from smartcron.wrapper.running import (
    find_lost_runs,
    leftover_processes,
    lost_run_report,
    wrapper_is_alive,
)
from smartcron.wrapper.spool import spool_report
from smartcron.wrapper.state import StateDir, load_state_file, remove_file, set_aside
from smartcron.wrapper.statefiles import parse_marker


def report_lost_runs(state: StateDir, host: str | None = None) -> int:
    """Turn every lost marker into a spooled `lost` report; how many were reported."""
    reported = 0
    for path, marker in find_lost_runs(state, None, set_aside_marker):
        job = str(marker["job"])
        try:
            state.ensure("locks")
            lock = JobLock(state.lock_path(job))
            if not lock.acquire(0):
                continue  # the job is running: its wrapper reports this marker
        except OSError as error:
            _warn(f"cannot take the lock of {job} ({error}); its lost run waits")
            continue
        try:
            reported += _report_claimed(state, path, host)
        finally:
            lock.release()
    return reported


def _report_claimed(state: StateDir, path: str, host: str | None) -> int:
    """With the job's lock held: read the marker again (the wrapper, or another agent,
    may have reported it since the scan) and report it if it is still lost."""
    import time

    run_id = os.path.basename(path)[: -len(".json")]
    now = time.time()
    marker = load_state_file(
        path, lambda doc: parse_marker(doc, now=now, run_id=run_id), set_aside_marker
    )
    if marker is None or wrapper_is_alive(marker):
        return 0
    leftovers = leftover_processes(marker)
    if leftovers:
        kill_pids(leftovers)
    report = lost_run_report(marker)
    if host:
        report["host"] = host
    spool_report(state, report)  # durable before the marker goes: never lost in between
    remove_file(path)
    return 1


def runs_in_flight(state: StateDir) -> list[dict[str, object]]:
    """The runs whose wrapper is alive: job, pid, started, timeout (for the heartbeat)."""
    import time

    from smartcron.wrapper.state import is_run_id

    found: list[dict[str, object]] = []
    try:
        entries = sorted(os.scandir(state.path("running")), key=lambda e: e.name)
    except FileNotFoundError:
        return found
    now = time.time()
    for entry in entries:
        run_id = entry.name[: -len(".json")]
        if not entry.name.endswith(".json") or not is_run_id(run_id):
            continue
        try:
            marker = load_state_file(
                entry.path, partial(parse_marker, now=now, run_id=run_id), None
            )
        except OSError:
            continue
        if marker is not None and wrapper_is_alive(marker):
            found.append(
                {
                    "run_id": run_id,
                    "job": marker["job"],
                    "pid": marker["pid"],
                    "started_at": marker["started_at"],
                    "timeout_s": marker.get("timeout_s"),
                }
            )
    return found


def set_aside_marker(path: str, problem: str) -> None:
    try:
        target = set_aside(path)
    except OSError:
        target = "(could not move it)"
    _warn(f"{path}: {problem}; set aside as {target}")


def _warn(message: str) -> None:
    print(f"smartcron-agent: warning: {message}", file=sys.stderr)
