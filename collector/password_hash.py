"""The admin password hash that `serve` is given: the hash itself (from the flag or
SMARTCRON_ADMIN_PASSWORD_HASH), or `file:PATH`, as the wrapper's `--token file:PATH`.

A flag is seen by every user in `ps`, and a hash can be attacked offline: a file (a
systemd credential, a mounted secret) or the environment keeps it out of argv. The file
is input like any other: it must hold one hash and nothing else, and a file that another
user could write is refused, since whoever rewrites it chooses the admin's password.
"""

from __future__ import annotations

import os
import stat

from .auth import is_password_hash

FILE_PREFIX = "file:"
MAX_FILE_BYTES = 4096  # a hash is about 100 characters
HINT = "--admin-password-hash / SMARTCRON_ADMIN_PASSWORD_HASH"


class PasswordHashError(ValueError):
    """A hash, or a hash file, that serve cannot use; the message names the fix."""


def resolve_password_hash(value: str) -> str:
    """The hash that `value` gives, checked: it must be one hash-password makes."""
    if value.startswith(FILE_PREFIX):
        path = value[len(FILE_PREFIX) :]
        stored = read_hash_file(path)
        where = f"the file {path!r}"
    else:
        stored, where = value, "the value"
    if not is_password_hash(stored):
        # The value itself is never echoed: it may be a password typed in the wrong place.
        raise PasswordHashError(
            f"{where} is not a hash from `smartcron-collector hash-password` "
            "(on the command line, quote it: it holds '$')"
        )
    return stored


def read_hash_file(path: str) -> str:
    if not path:
        raise PasswordHashError("file: needs a path, e.g. file:/etc/smartcron/admin-password.hash")
    try:
        # O_NONBLOCK: a FIFO put where the file should be must not hang serve's start.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                raise PasswordHashError(f"{path!r} is not a regular file; put the hash in a file")
            data = _read_up_to(descriptor, MAX_FILE_BYTES + 1)
        finally:
            os.close(descriptor)
    except OSError as error:
        raise PasswordHashError(
            f"cannot read {path!r} ({error.strerror}); check the path and that this user may "
            "read it"
        ) from None
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PasswordHashError(
            f"{path!r} can be written by other users, who could choose the admin's password; "
            f"chmod go-w {path}"
        )
    if len(data) > MAX_FILE_BYTES:
        raise PasswordHashError(f"{path!r} is over {MAX_FILE_BYTES} bytes; it must hold one hash")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise PasswordHashError(f"{path!r} is not text; it must hold one hash") from None


def _read_up_to(descriptor: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(descriptor, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
