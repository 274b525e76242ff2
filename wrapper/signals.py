"""Signals to the wrapper: the handler only records them; the main loop acts.

A self-pipe (signal.set_wakeup_fd) wakes the loop's poll() the moment a signal
arrives, including SIGCHLD when the job exits, so supervision costs no polling.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class SignalBox:
    def __init__(self) -> None:
        self.pending: list[int] = []
        self.wake_fd, self._wake_w = os.pipe()
        os.set_blocking(self.wake_fd, False)
        os.set_blocking(self._wake_w, False)
        self._previous: dict[int, object] = {}
        self._old_wakeup = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in (*FORWARDED, signal.SIGCHLD):
            self._previous[sig] = signal.signal(sig, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGCHLD:
            self.pending.append(signum)

    def take(self) -> list[int]:
        taken, self.pending = self.pending, []
        return taken

    def drain(self) -> None:
        try:
            while os.read(self.wake_fd, 512):
                pass
        except BlockingIOError:
            pass

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(self.wake_fd)
        os.close(self._wake_w)
