"""running/RUN_ID.json: a run in flight, so that a run lost to a crash is noticed.

The marker names the wrapper (pid and its kernel start time, to survive pid
reuse) and the job's process group. When the wrapper dies without removing it
(SIGKILL, OOM killer, power loss), the next run of the same job, or the agent,
finds it, kills what is left of the job and reports the run as `lost`.
"""

from __future__ import annotations

import json
import os

from .state import StateDir, read_json, remove_file, write_json_atomic


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[19])


class RunMarker:
    def __init__(self, state: StateDir, run_id: str, document: dict[str, object]) -> None:
        self.path = state.running_path(run_id)
        self.document = document

    @classmethod
    def create(cls, state: StateDir, run_id: str, job: str, started_at: str) -> RunMarker:
        me = os.getpid()
        document: dict[str, object] = {
            "run_id": run_id,
            "job": job,
            "pid": me,
            "pid_start_ticks": process_start_ticks(me),
            "child_pid": None,
            "pgid": None,
            "started_at": started_at,
            "boot_id": boot_id(),
        }
        marker = cls(state, run_id, document)
        state.ensure("running")
        marker._write()
        return marker

    def set_child(self, pid: int) -> None:
        self.document["child_pid"] = pid
        self.document["pgid"] = pid
        self._write()

    def _write(self) -> None:
        # Not fsynced: after a power loss the boot id changes and the run is lost anyway.
        write_json_atomic(self.path, self.document, durable=False)

    def remove(self) -> None:
        remove_file(self.path)


def wrapper_is_alive(document: dict[str, object]) -> bool:
    if document.get("boot_id") != boot_id():
        return False
    pid = document.get("pid")
    if not isinstance(pid, int):
        return False
    ticks = process_start_ticks(pid)
    return ticks is not None and ticks == document.get("pid_start_ticks")


def find_lost_runs(state: StateDir, job: str | None = None) -> list[tuple[str, dict[str, object]]]:
    """Markers whose wrapper is gone: (path, document), for `job` or for every job."""
    lost = []
    try:
        entries = [e for e in os.scandir(state.path("running")) if e.name.endswith(".json")]
    except FileNotFoundError:
        return []
    for entry in entries:
        try:
            document = read_json(entry.path)
        except (ValueError, OSError):
            continue
        if not isinstance(document, dict):
            continue
        if job is not None and document.get("job") != job:
            continue
        if not wrapper_is_alive(document):
            lost.append((entry.path, document))
    return lost


def describe(document: dict[str, object]) -> str:
    return json.dumps({k: document.get(k) for k in ("run_id", "job", "pid", "started_at")})
