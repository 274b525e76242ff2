"""logs/NAME.jsonl: one JSON line per run, for `tail` and `jq` on the host; and
logs/delivery/NAME.jsonl: one line per report the wrapper sent to the collector.

The run's line is written when the run is recorded, before any delivery: a slow
collector must not delay it, nor a wrapper killed while it waits lose it. So what
the collector answered is a line of its own, in a log of its own (the run log stays
one report per line, and `delivery/` cannot clash with a job's name).

Rotated by size (NAME.jsonl.1 ... .KEEP) so a job that runs every minute for
years never fills the disk.
"""

from __future__ import annotations

import json
import os
import stat
import time

from .state import DELIVERY_LOGS, StateDir, open_state_file

MAX_BYTES = 5 * 1024 * 1024
KEEP = 3


def append_run(state: StateDir, job: str, report: dict[str, object]) -> None:
    state.ensure("logs")
    _append(state.log_path(job), report)


def append_delivery(state: StateDir, job: str, run_id: str, outcome: dict[str, object]) -> None:
    """What became of the report `run_id` sent to the collector: {"result", "reason"}."""
    from .clock import iso

    state.ensure("logs")
    state.ensure(DELIVERY_LOGS)
    _append(state.delivery_log_path(job), {"run_id": run_id, "at": iso(time.time()), **outcome})


def _append(path: str, document: dict[str, object]) -> None:
    _rotate_if_full(path)
    line = json.dumps(document, separators=(",", ":")) + "\n"
    # O_APPEND: concurrent wrappers (--no-lock) append whole lines, never interleave.
    fd = open_state_file(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        _append_line(fd, line.encode())
    finally:
        os.close(fd)


def _append_line(fd: int, data: bytes) -> None:
    """The whole line, or none of it: a line cut short by a full disk would make the
    log unreadable to `jq` from there on, so what was written of it is cut off again."""
    view, start = memoryview(data), None
    try:
        while view:
            written = os.write(fd, view)
            if start is None:  # where our line begins, whatever others appended before
                start = os.lseek(fd, 0, os.SEEK_CUR) - written
            view = view[written:]
    except OSError:
        # Only when nothing was appended after our part (--no-lock): others' lines stay.
        if start is not None and os.fstat(fd).st_size == start + len(data) - len(view):
            os.ftruncate(fd, start)
        raise


def _rotate_if_full(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode) or st.st_size < MAX_BYTES:
        return  # a link is left for the open to refuse
    for index in range(KEEP - 1, 0, -1):
        older = f"{path}.{index}"
        if os.path.lexists(older):
            os.replace(older, f"{path}.{index + 1}")
    os.replace(path, f"{path}.1")


def read_runs(state: StateDir, job: str, limit: int | None = None) -> list[dict[str, object]]:
    """The newest runs first, from the current log only."""
    try:
        with open(state.log_path(job), encoding="utf-8") as handle:
            lines = handle.readlines()
    except FileNotFoundError:
        return []
    runs = [json.loads(line) for line in reversed(lines) if line.strip()]
    return runs[:limit] if limit is not None else runs
