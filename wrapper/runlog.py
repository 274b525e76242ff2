"""logs/NAME.jsonl: one JSON line per run, for `tail` and `jq` on the host.

Rotated by size (NAME.jsonl.1 ... .KEEP) so a job that runs every minute for
years never fills the disk.
"""

from __future__ import annotations

import json
import os

from .state import StateDir

MAX_BYTES = 5 * 1024 * 1024
KEEP = 3


def append_run(state: StateDir, job: str, report: dict[str, object]) -> None:
    state.ensure("logs")
    path = state.log_path(job)
    _rotate_if_full(path)
    line = json.dumps(report, separators=(",", ":")) + "\n"
    # O_APPEND: concurrent wrappers (--no-lock) append whole lines, never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _rotate_if_full(path: str) -> None:
    try:
        if os.path.getsize(path) < MAX_BYTES:
            return
    except FileNotFoundError:
        return
    for index in range(KEEP - 1, 0, -1):
        older = f"{path}.{index}"
        if os.path.exists(older):
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
