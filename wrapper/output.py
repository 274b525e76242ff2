"""The job's output: passed through as it comes, and its tail kept for the report.

With --quiet (like chronic) nothing is printed unless the run fails; the output
is buffered in an unnamed temporary file meanwhile, never in memory. Writing
to the wrapper's stdout/stderr never blocks supervision (passthrough.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO

from .passthrough import BUFFER_BYTES, STALL_S, Passthrough, finish_passthrough

TAIL_BYTES = 64 * 1024


class StreamCapture:
    def __init__(
        self,
        target_fd: int,
        *,
        quiet: bool,
        on_trouble: Callable[[OSError], None] | None = None,
        stall_s: float = STALL_S,
    ) -> None:
        self.quiet = quiet
        self.total = 0
        self._tail = bytearray()
        self._held: IO[bytes] | None = None
        self._unheld = 0  # bytes --quiet could not hold (a full or unusable $TMPDIR)
        self._on_trouble = on_trouble
        self.passthrough = Passthrough(target_fd, stall_s)

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
        """Keep `data` for release(). A disk that fails us (ENOSPC, EIO, no $TMPDIR)
        is monitoring trouble, never the job's: what is held stays held, the rest is
        counted, and supervision goes on (the tail still keeps the newest output)."""
        if self._unheld:  # once a write failed, what follows cannot be held in order
            self._unheld += len(data)
            return
        view = memoryview(data)
        try:
            if self._held is None:
                import tempfile

                # Unbuffered: a failed write leaves no bytes in a buffer, only on disk.
                self._held = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115 - until release()
            while view:
                written = self._held.write(view)  # may be short on a nearly full disk
                view = view[written or 0 :]
        except OSError as error:
            self._unheld += len(view)
            if self._on_trouble is not None:
                self._on_trouble(error)

    def release(self) -> None:
        """Print what --quiet held back (the run failed), as far as the reader takes it."""
        output = self.passthrough
        output.dropped += self._unheld  # never held, so never printed
        if self._held is None:
            return
        held = self._held
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
