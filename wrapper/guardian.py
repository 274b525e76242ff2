"""Kill the job if the wrapper is killed outright (SIGKILL, the OOM killer).

PR_SET_PDEATHSIG reaches only the job's first process; a shell's children or a
worker pool would run on unsupervised, overlapping the next run once the lock
is freed. The guardian is a tiny forked child of the wrapper, in a session of
its own and left out of the job's tree (proctree.exclude), that blocks on a pipe
from the wrapper. The wrapper tells it the group of the attempt in flight; if
the pipe closes without a goodbye, the wrapper is gone, and the guardian
SIGKILLs that group and every process left in its session. It stays the
wrapper's child (not double-forked) so that the wrapper reaps it: under an init
that does not reap, as in many containers, a daemonised guardian would leave a
zombie behind on every run.
"""

from __future__ import annotations

import contextlib
import os
import signal

from . import proctree

_GOODBYE = b"done\n"
_IDLE = 0  # no attempt in flight: nothing to kill


class Guardian:
    def __init__(self) -> None:
        self._fd: int | None = None
        self._pid: int | None = None

    def start(self) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the guardian
            try:
                os.setsid()  # out of the terminal's group: ^C is for the wrapper
                os.close(write_end)
                _watch(read_end)
            finally:
                os._exit(0)
        os.close(read_end)
        proctree.exclude(pid)
        self._fd, self._pid = write_end, pid

    def watch(self, pgid: int) -> None:
        self._say(f"{pgid}\n".encode())

    def idle(self) -> None:
        self._say(f"{_IDLE}\n".encode())

    def stop(self) -> None:
        if self._fd is not None:
            self._say(_GOODBYE)
            os.close(self._fd)
            self._fd = None
        if self._pid is not None:
            with contextlib.suppress(ChildProcessError):  # reaped already by a wait(-1)
                os.waitpid(self._pid, 0)
            self._pid = None

    def _say(self, message: bytes) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):  # the guardian died: nothing more to tell it
                os.write(self._fd, message)


def _watch(read_end: int) -> None:  # pragma: no cover - runs in the guardian
    # Hold nothing of the wrapper's: not its lock, not cron's pipes.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, read_end)
    os.closerange(read_end + 1, 65536)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    pgid, pending = _IDLE, b""
    while data := os.read(read_end, 256):
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line == _GOODBYE.strip():
                os._exit(0)
            pgid = int(line)
    if pgid != _IDLE:  # the wrapper died with an attempt in flight
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
        proctree.kill_session_leftovers(pgid)
    os._exit(0)
