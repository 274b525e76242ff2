"""The SQLite database's file and directory: readable by the collector's user alone.

The file holds session digests, token digests and every job's output tails. SQLite
creates its -wal and -shm files with the database file's own mode, so a private
file keeps them private too; the directory must be private as well, or another
user could list, swap or link the files in it.
"""

from __future__ import annotations

import os
import stat

SIDE_FILES = ("-wal", "-shm", "-journal")


class UnsafeDatabasePath(ValueError):
    """The database's directory or file is not the collector's user's alone."""


def secure_sqlite_file(path: str) -> None:
    """Create the directory (0700) and the file (0600) when missing; tighten the files
    when they are this user's and open to others; refuse a directory that is not."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    check_private_directory(directory)
    _tighten(path, create=True)
    for suffix in SIDE_FILES:
        _tighten(path + suffix, create=False)


def check_private_directory(directory: str) -> None:
    info = os.stat(directory)
    if info.st_uid != os.geteuid():
        raise UnsafeDatabasePath(
            f"the database directory {directory} belongs to uid {info.st_uid}, not to this "
            "user; give --db a path in a directory of the collector's own (mkdir -m 700)"
        )
    if info.st_mode & 0o077:
        raise UnsafeDatabasePath(
            f"the database directory {directory} is open to other users "
            f"(mode {stat.S_IMODE(info.st_mode):o}); chmod 700 {directory}, or give --db a "
            "path in a directory of the collector's own"
        )


def _tighten(path: str, *, create: bool) -> None:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        # Never through a link: a link planted here would make us chmod its target.
        descriptor = os.open(path, flags | (os.O_CREAT if create else 0), 0o600)
    except FileNotFoundError:
        return
    except OSError as error:
        if os.path.islink(path):
            raise UnsafeDatabasePath(
                f"the database file {path} is a symbolic link; give --db the real path"
            ) from None
        raise UnsafeDatabasePath(f"cannot open the database file {path}: {error}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeDatabasePath(f"the database file {path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise UnsafeDatabasePath(
                f"the database file {path} belongs to uid {info.st_uid}, not to this user"
            )
        if info.st_mode & 0o077:
            os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)
