"""The state directory's layout and the safe way to write into it.

Monitoring must never stand between a job and its run, so every failure here
becomes one warning on stderr (`Warnings.once`) and the run goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys


class Warnings:
    """Warn on stderr, once per kind of trouble, so a broken disk does not
    drown the job's own output in repeated messages."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def once(self, kind: str, message: str) -> None:
        if kind in self._seen:
            return
        self._seen.add(kind)
        try:
            sys.stderr.write(f"smartcron-wrap: warning: {message}\n")
            sys.stderr.flush()
        except OSError:
            pass  # stderr itself is gone (closed by cron); nothing left to tell


class StateDir:
    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def lock_path(self, job: str) -> str:
        return self.path("locks", f"{job}.lock")

    def job_path(self, job: str) -> str:
        return self.path("jobs", f"{job}.json")

    def running_path(self, run_id: str) -> str:
        return self.path("running", f"{run_id}.json")

    def spool_path(self, run_id: str) -> str:
        return self.path("spool", f"{run_id}.json")

    def log_path(self, job: str) -> str:
        return self.path("logs", f"{job}.jsonl")

    def control_path(self) -> str:
        return self.path("control.json")

    def ensure(self, sub: str) -> str:
        """The subdirectory, created if missing (0750: run reports may hold output)."""
        directory = self.path(sub)
        os.makedirs(directory, mode=0o750, exist_ok=True)
        return directory


def write_json_atomic(path: str, document: object, *, durable: bool = True) -> None:
    """Write to a temporary name, fsync, rename, fsync the directory: a reader (or a
    crash) sees the old file or the new one, never half of one."""
    directory = os.path.dirname(path)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    data = json.dumps(document, separators=(",", ":")).encode()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.rename(temporary, path)
    except OSError:
        remove_file(temporary)
        raise
    if durable:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def read_json(path: str) -> object | None:
    """The parsed file, or None when it does not exist. A corrupt file raises ValueError."""
    try:
        with open(path, "rb") as handle:
            document: object = json.load(handle)
            return document
    except FileNotFoundError:
        return None


def remove_file(path: str) -> None:
    """Delete a file; already gone is fine (another process or run got there first)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
