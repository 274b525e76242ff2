"""The state directory's layout and the safe way to read and write in it.

Monitoring must never stand between a job and its run, so every failure here
becomes one warning on stderr (`Warnings.once`) and the run goes on.

The wrapper often runs as root, so a state file is never reached through a
symbolic link (O_NOFOLLOW), never opened if it is not a regular file (a FIFO
would block the run), and a temporary file is always a new one (O_EXCL): a link
planted in the directory cannot turn a write into an overwrite of another file.
O_NOFOLLOW does not see a hard link, so a file with a second link is refused too,
and so is one that another user owns (its owner could still write it): either can
be left in a directory that was made trusted only later (`chown root DIR`).
Whether the directory itself can be trusted is trust.py's business.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Callable
from typing import TypeVar

from .trust import check_own_dir, owner_name

T = TypeVar("T")

# State files are small; a larger one is not ours (and is not read into memory whole).
MAX_STATE_BYTES = 1024 * 1024
READ_CHUNK = 64 * 1024  # beyond the size fstat gave: a heap allocation, not an mmap
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
_UUID_HEX = frozenset("0123456789abcdef")
DELIVERY_LOGS = os.path.join("logs", "delivery")


class Warnings:
    """Warn on stderr, once per kind of trouble, so a broken disk does not
    drown the job's own output in repeated messages."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def once(self, kind: str, message: str) -> None:
        if kind in self._seen:
            return
        self._seen.add(kind)
        from .passthrough import write_without_waiting

        # Not sys.stderr: its write blocks when the reader has stalled. A reader that
        # is gone or stalled (closed by cron, a full pipe) leaves nothing to tell.
        write_without_waiting(2, f"smartcron-wrap: warning: {message}\n".encode())


def is_run_id(text: str) -> bool:
    """A run id as new_run_id writes it: a lower-case canonical UUID. Paths are built
    from run ids, so nothing else (no `/`, no `..`) may ever pass for one."""
    parts = text.split("-")
    return [len(part) for part in parts] == [8, 4, 4, 4, 12] and all(
        ch in _UUID_HEX for part in parts for ch in part
    )


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
        return self.path("running", f"{_checked_run_id(run_id)}.json")

    def spool_path(self, run_id: str) -> str:
        return self.path("spool", f"{_checked_run_id(run_id)}.json")

    def log_path(self, job: str) -> str:
        return self.path("logs", f"{job}.jsonl")

    def delivery_log_path(self, job: str) -> str:
        return self.path(DELIVERY_LOGS, f"{job}.jsonl")

    def control_path(self) -> str:
        return self.path("control.json")

    def ensure(self, sub: str) -> str:
        """The subdirectory, created if missing (0750: run reports may hold output).
        One that is a link, or that someone else owns or can write, is refused."""
        directory = self.path(sub)
        os.makedirs(self.root, mode=0o750, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o750)
        check_own_dir(directory)
        return directory


def _checked_run_id(run_id: str) -> str:
    if not is_run_id(run_id):
        raise ValueError(f"not a run id: {run_id[:80]!r}")
    return run_id


def open_state_file(path: str, flags: int, mode: int = 0o640) -> int:
    """A descriptor on the wrapper's own regular file at `path`, never through a link.
    OSError otherwise: ELOOP for a link, EINVAL for a FIFO, socket or device, a hard
    link to another file, or a file someone else owns. Checked before any write."""
    fd = os.open(path, flags | _OPEN_FLAGS, mode)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        if st.st_nlink != 1:
            raise OSError(errno.EINVAL, "has another hard link (to a file not ours)", path)
        if st.st_uid not in (0, os.geteuid()):
            raise OSError(errno.EINVAL, f"owned by {owner_name(st.st_uid)}, not by us", path)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked (a nearly full disk): go on until all of it
    is written, or the write fails (ENOSPC, EIO ...) and raises."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # pragma: no cover - write(2) reports failure as an error
            raise OSError(errno.EIO, "write made no progress")
        view = view[written:]


def write_json_atomic(path: str, document: object, *, durable: bool = True) -> None:
    """Write to a new temporary name, fsync, rename, fsync the directory: a reader (or a
    crash) sees the old file or the new one, never half of one. On failure the
    temporary is removed and the old file is left as it was."""
    directory = os.path.dirname(path)
    suffix = os.urandom(4).hex()
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{suffix}.tmp")
    data = json.dumps(document, separators=(",", ":")).encode()
    fd = open_state_file(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, path)
    except BaseException:
        remove_file(temporary)
        raise
    if durable:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def parse_json_file(path: str, max_bytes: int = MAX_STATE_BYTES) -> object:
    """The parsed file. A file that is not JSON (or is larger than `max_bytes` or too
    deeply nested to be ours) raises ValueError; one that is missing or cannot be
    read, or is a link or not a regular file of ours, raises OSError."""
    fd = open_state_file(path, os.O_RDONLY)
    chunks, size = [], 0
    try:
        # Ask for what the file holds (and one byte more, to see its end), not for
        # max_bytes: os.read allocates what it is asked for, and the agent reading its
        # spool asked for 4 MiB twice per report of 2 KiB (an mmap and an munmap each).
        # A file that grows meanwhile is read on, to the cap.
        expected = os.fstat(fd).st_size
        while size <= max_bytes:
            chunk = os.read(fd, min(max_bytes + 1 - size, max(expected + 1 - size, READ_CHUNK)))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    try:
        document: object = json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text ({error.reason})") from None
    return document


def load_state_file(
    path: str, parse: Callable[[object], T], on_bad: Callable[[str, str], None] | None
) -> T | None:
    """The file at `path`, checked by `parse` (which raises ValueError naming the bad
    value), or None when it is missing or bad. A bad one is handed to `on_bad` (which
    sets it aside and warns) and the caller goes on as if there were no file."""
    try:
        return parse(parse_json_file(path))
    except FileNotFoundError:
        return None
    except ValueError as error:
        problem = str(error)
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.EINVAL):
            raise  # unreadable: the state directory's trouble, not the file's
        problem = "a link or not a regular file"
        if error.errno == errno.EINVAL and error.strerror:
            problem = error.strerror  # which of open_state_file's refusals
    if on_bad is not None:
        on_bad(path, problem)
    return None


def set_aside(path: str) -> str:
    """Move a bad state file out of the way, as NAME.corrupt, for a person to look at."""
    target = f"{path}.corrupt"
    os.replace(path, target)
    return target


def remove_file(path: str) -> None:
    """Delete a file; already gone is fine (another process or run got there first)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
