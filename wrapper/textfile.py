"""Read a small input file (the config, a token file) without trusting what the path is.

`--config /dev/zero` once grew the wrapper to 2.2 GB and a FIFO hung it before the
job could run: only a regular file is read, and never more than its cap.
"""

from __future__ import annotations

import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UnreadableFile(Exception):
    """Why a file was not read, in a few words for 'cannot read FILE (WHY)'."""


def read_small_file(path: str, limit: int) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path
        raise UnreadableFile(_reason(error)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
            raise UnreadableFile(f"{kind}, not a regular file")
        if info.st_size > limit:
            raise UnreadableFile(_too_large(limit))
        chunks, size = [], 0
        while size <= limit:  # the file may grow while it is read
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise UnreadableFile(_too_large(limit))
        return b"".join(chunks)
    except OSError as error:
        raise UnreadableFile(_reason(error)) from None
    finally:
        os.close(fd)


def _reason(error: OSError | ValueError) -> str:
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return "the path holds a NUL character"


def _too_large(limit: int) -> str:
    return f"larger than {limit // 1024} KiB"
