"""One run of a job at a time on this host: an flock(2) on locks/NAME.lock.

The kernel releases an flock when its holder dies, however it dies, so a
crashed wrapper never leaves a stale lock behind (unlike a pid file). The
descriptor is not inherited by the job: the lock frees when the wrapper ends.
On a state directory that has turned read-only the existing lock file is locked
read-only: the same lock, so runs still never overlap.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from .state import open_state_file


class JobLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock, waiting up to `wait` seconds. False when another run holds it."""
        # Never through a link, never a FIFO: see state.open_state_file.
        self._fd = _open_lock_file(self.path)
        deadline = time.monotonic() + wait
        pause = 0.01
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    self.release()
                    raise
            else:
                self._write_holder()
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.release()
                return False
            # Polling keeps signals to the wrapper responsive while it waits.
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.25)

    def _write_holder(self) -> None:
        # For people: `cat locks/NAME.lock` tells who holds it. Not used for locking.
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)  # a few bytes: never short
        except OSError:
            pass  # the lock itself is held; the note is a courtesy

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None


# What a read-only (or full) state directory answers to the lock file's open for writing.
_CANNOT_WRITE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT})


def _open_lock_file(path: str) -> int:
    try:
        return open_state_file(path, os.O_RDWR | os.O_CREAT)
    except OSError as error:
        if error.errno not in _CANNOT_WRITE:
            raise
        # The lock file of a job that ran before is still there, and flock(2) needs no
        # write access: taking that very lock through a read-only descriptor keeps this
        # run and every other one apart, whether theirs could write or not.
        try:
            return open_state_file(path, os.O_RDONLY)
        except FileNotFoundError:
            raise error from None  # never made: no lock to be had here


def lock_is_free(path: str) -> bool:
    """Whether nobody holds the lock right now (for --dry-run); takes and drops it."""
    try:
        fd = open_state_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    finally:
        os.close(fd)
    return True


def lock_holder(path: str) -> str:
    try:
        fd = open_state_file(path, os.O_RDONLY)
    except OSError:
        return "?"
    try:
        note = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return "?"
    finally:
        os.close(fd)
    return note if note.isdigit() else "?"
