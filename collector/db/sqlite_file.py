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
    # By path, never by a descriptor of our own: SQLite may have these files open in
    # this process (an engine made earlier), and closing any descriptor of a file drops
    # every POSIX lock the process holds on it, SQLite's included. The directory is
    # private (checked first), so nobody can swap the file between lstat and chmod.
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if create:
            _create_private(path)
        return
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeDatabasePath(
            f"the database file {path} is a symbolic link; give --db the real path"
        )
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeDatabasePath(f"the database file {path} is not a regular file")
    if info.st_uid != os.geteuid():
        raise UnsafeDatabasePath(
            f"the database file {path} belongs to uid {info.st_uid}, not to this user"
        )
    if info.st_mode & 0o077:
        os.chmod(path, 0o600)


def _create_private(path: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        os.close(os.open(path, flags, 0o600))  # a new file: nobody holds a lock on it
    except FileExistsError:  # made meanwhile (another worker): check it as it is
        _tighten(path, create=False)
