"""The job's output: passed through as it comes, and its tail kept for the report.

With --quiet (like chronic) nothing is printed unless the run fails; the output
is buffered in an unnamed temporary file meanwhile, never in memory. Writing
to the wrapper's stdout/stderr never blocks supervision (passthrough.py).
"""

from __future__ import annotations

import os
from typing import IO

from .passthrough import BUFFER_BYTES, Passthrough, finish_passthrough

TAIL_BYTES = 64 * 1024


class StreamCapture:
    def __init__(self, target_fd: int, *, quiet: bool) -> None:
        self.quiet = quiet
        self.total = 0
        self._tail = bytearray()
        self._held: IO[bytes] | None = None
        self.passthrough = Passthrough(target_fd)

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        self._tail += data
        if len(self._tail) > 2 * TAIL_BYTES:  # trim in bulk, not on every read
            del self._tail[:-TAIL_BYTES]
        if self.quiet:
            self._hold(data)
        else:
            self.passthrough.offer(data)

    def _hold(self, data: bytes) -> None:
        if self._held is None:
            import tempfile

            self._held = tempfile.TemporaryFile()  # noqa: SIM115 - lives until release()
        self._held.write(data)

    def release(self) -> None:
        """Print what --quiet held back (the run failed), as far as the reader takes it."""
        if self._held is None:
            return
        held, output = self._held, self.passthrough
        held.seek(0)
        while chunk := held.read(BUFFER_BYTES):
            dropped_before = output.dropped
            output.offer(chunk)
            finish_passthrough([output])
            if output.dropped > dropped_before:  # stalled or gone: the rest is dropped too
                position = held.tell()
                output.dropped += held.seek(0, os.SEEK_END) - position
                break
        self.discard()

    def discard(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    @property
    def dropped(self) -> int:
        """Bytes of output the reader never got (it stalled or went away)."""
        return self.passthrough.dropped

    @property
    def truncated(self) -> bool:
        return self.total > TAIL_BYTES

    def tail_text(self) -> str:
        return bytes(self._tail[-TAIL_BYTES:]).decode("utf-8", "replace")
