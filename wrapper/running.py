"""running/RUN_ID.json: a run in flight, so that a run lost to a crash is noticed.

The marker names the wrapper (pid and its kernel start time, to survive pid
reuse) and the job's process group. When the wrapper dies without removing it
(SIGKILL, OOM killer, power loss), the next run of the same job, or the agent,
finds it, kills what is left of the job and reports the run as `lost`.

A marker is input, and a planted one must not make root kill or write anything:
its name and its run_id are the same UUID (a report's path is built from it),
and a process is killed only if it carries the run's id in its environment
(RUN_ID_ENV, set for every process of the job at spawn), never because of a
process or session id alone, which any process may have come to hold since.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial

from .state import StateDir, is_run_id, load_state_file, remove_file, write_json_atomic
from .statefiles import parse_marker

# In the environment of every process of a job: the proof that a process is the run's.
RUN_ID_ENV = "SMARTCRON_RUN_ID"


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
    def create(
        cls, state: StateDir, run_id: str, started_at: str, about: dict[str, object]
    ) -> RunMarker:
        """`about` holds what a lost-run report needs: job, command, schedule,
        priority, tags (so the agent can report the run without the crontab)."""
        me = os.getpid()
        document: dict[str, object] = {
            "run_id": run_id,
            **about,
            "pid": me,
            "pid_start_ticks": process_start_ticks(me),
            "child_pid": None,
            "child_start_ticks": None,
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
        self.document["child_start_ticks"] = process_start_ticks(pid)
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


def find_lost_runs(
    state: StateDir, job: str | None = None, on_bad: Callable[[str, str], None] | None = None
) -> list[tuple[str, dict[str, object]]]:
    """Markers whose wrapper is gone: (path, document), for `job` or for every job.
    A bad marker, or a file in running/ not named RUN_ID.json, goes to `on_bad`."""
    lost = []
    try:
        entries = [e for e in os.scandir(state.path("running")) if e.name.endswith(".json")]
    except FileNotFoundError:
        return []
    now = time.time()
    for entry in entries:
        run_id = entry.name[: -len(".json")]
        if not is_run_id(run_id):
            if on_bad is not None:
                on_bad(entry.path, "its name is not a run id (RUN_ID.json)")
            continue
        try:
            document = load_state_file(
                entry.path, partial(parse_marker, now=now, run_id=run_id), on_bad
            )
        except OSError:
            continue  # unreadable now: the next run or the agent tries again
        if document is None:
            continue
        if job is not None and document.get("job") != job:
            continue
        if not wrapper_is_alive(document):
            lost.append((entry.path, document))
    return lost


def lost_run_report(document: dict[str, object]) -> dict[str, object]:
    """The `lost` report of a run whose wrapper died: when it ended is unknown, so its
    finished_at and duration_s are null (noticing it is no end of it)."""
    import time

    from .clock import parse_iso
    from .report import build_report

    started = document.get("started_at")
    command = document.get("command")
    tags = document.get("tags")
    priority = document.get("priority")
    schedule = document.get("schedule")
    zone = document.get("timezone")
    now = time.time()
    return build_report(
        run_id=str(document.get("run_id")),
        job=str(document.get("job")),
        command=[str(word) for word in command] if isinstance(command, list) else ["?"],
        schedule=schedule if isinstance(schedule, str) else None,
        timezone=zone if isinstance(zone, str) else None,
        priority=priority if isinstance(priority, int) else 5,
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        status="lost",
        # No later than now: a marker written before the clock stepped back lies ahead.
        started_at=min(parse_iso(started), now) if isinstance(started, str) else now,
        finished_at=None,
    )


def leftover_processes(document: dict[str, object]) -> list[int]:
    """The processes left of a lost run: those whose environment holds the run's id.

    Whatever else a marker says (a pid, a session) may name an unrelated process
    by now, or may have been typed in; the id in the environment was put there by
    the wrapper that started the run, so only those processes are the run's.
    """
    run_id = document.get("run_id")
    if not isinstance(run_id, str) or not is_run_id(run_id):
        return []
    if document.get("boot_id") != boot_id():
        return []  # the machine rebooted: nothing of the run is left
    proof = f"{RUN_ID_ENV}={run_id}".encode()
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue  # gone since the listing, or not ours to read (so not ours to kill)
        if proof in environ.split(b"\0"):
            found.append(int(entry))
    return found
