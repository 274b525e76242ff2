"""The job's output: passed through as it comes, and its tail kept for the report.

With --quiet (like chronic) nothing is printed unless the run fails; the output
is buffered in an unnamed temporary file meanwhile, never in memory.
"""

from __future__ import annotations

import os
from typing import IO

TAIL_BYTES = 64 * 1024


class StreamCapture:
    def __init__(self, target_fd: int, *, quiet: bool) -> None:
        self.target_fd = target_fd
        self.quiet = quiet
        self.total = 0
        self._tail = bytearray()
        self._held: IO[bytes] | None = None
        self._target_broken = False

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        self._tail += data
        if len(self._tail) > 2 * TAIL_BYTES:  # trim in bulk, not on every read
            del self._tail[:-TAIL_BYTES]
        if self.quiet:
            self._hold(data)
        else:
            self._write_through(data)

    def _hold(self, data: bytes) -> None:
        if self._held is None:
            import tempfile

            self._held = tempfile.TemporaryFile()  # noqa: SIM115 - lives until release()
        self._held.write(data)

    def _write_through(self, data: bytes) -> None:
        if self._target_broken:
            return
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.target_fd, view)
                view = view[written:]
        except OSError:
            # The reader of our stdout is gone (cron's mailer died, a closed pipe):
            # the job keeps running and its tail is still recorded.
            self._target_broken = True

    def release(self) -> None:
        """Print what --quiet held back (the run failed)."""
        if self._held is None:
            return
        self._held.seek(0)
        while chunk := self._held.read(1 << 16):
            self._write_through(chunk)
        self.discard()

    def discard(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    @property
    def truncated(self) -> bool:
        return self.total > TAIL_BYTES

    def tail_text(self) -> str:
        return bytes(self._tail[-TAIL_BYTES:]).decode("utf-8", "replace")
