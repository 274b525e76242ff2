"""A copy of a crontab, taken before any change to it, in the state directory.

Backups sit under STATE/crontab-backups/, one file per change, named after the
crontab and the moment (UTC), created with O_EXCL so one is never overwritten.
The state directory is checked the way the wrapper checks it (trust.py): the
agent often runs as root, and a backup written through a link another user
planted would overwrite a file of that user's choosing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from datetime import datetime, timezone

from smartcron.wrapper.trust import check_own_dir, prepare_state_dir

BACKUP_DIR = "crontab-backups"


class BackupError(OSError):
    """No backup could be written, so nothing may change."""


def write_backup(state_dir: str, label: str, data: bytes, now: datetime | None = None) -> str:
    """Write `data` to a new backup file and return its path."""
    problem = _prepare(state_dir)
    if problem:
        raise BackupError(f"state directory {state_dir} is not safe: {problem}")
    directory = os.path.join(state_dir, BACKUP_DIR)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S.%fZ")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_.") or "crontab"
    for attempt in range(100):
        suffix = f"-{attempt}" if attempt else ""
        path = os.path.join(directory, f"{stem}.{stamp}{suffix}.crontab")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        return path
    raise BackupError(f"cannot find a free backup name in {directory}")


def _prepare(state_dir: str) -> str | None:
    try:
        problem = prepare_state_dir(state_dir)
        if problem:
            return problem
        directory = os.path.join(state_dir, BACKUP_DIR)
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
        check_own_dir(directory)
    except OSError as error:
        if error.errno == errno.EPERM and error.strerror:
            return error.strerror
        return f"{error.strerror or error}"
    return None
