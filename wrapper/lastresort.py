"""When supervision itself fails: see the job through with as little as possible.

An exception in supervise.py's loop after the job was spawned (no file descriptor
left to list /proc, /proc itself gone, a bug of ours) must not orphan the job: a
wrapper that died of it would leave the job's processes running unsupervised, no
report, and a run that looks lost. This loop takes over from where the loop that
failed stopped. It opens no file and reads nothing of /proc it cannot do without:
it reads the job's pipes (so the job never blocks on a full one), forwards signals,
stops the job's process group at its deadline (SIGTERM, then SIGKILL after
--kill-after) and reaps until the job has exited and, after a stop, its group is
empty. It does not sample memory, so --max-memory is not enforced from then on.
"""

from __future__ import annotations

import os
import resource
import select
import signal
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import proctree

if TYPE_CHECKING:
    from .output import StreamCapture
    from .signals import SignalBox
    from .spawn import Spawned
    from .supervise import Attempt, Limits

FINAL_REAP_LIMIT = 5.0  # after SIGKILL, how long to wait for the kernel to finish
KILL_REPEAT = 1.0  # SIGKILL again, should something new appear in the group


class Progress:
    """How far the supervision loop got: enough for the last resort to take over."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline  # monotonic; None without --timeout
        self.reason: str | None = None  # why the job is being stopped: timeout, memory, signal
        self.kill_at: float | None = None  # when SIGTERM turns into SIGKILL
        self.outcome: tuple[int, resource.struct_rusage] | None = None  # the job's wait4()


def see_through(
    job: Spawned,
    limits: Limits,
    signals: SignalBox,
    captures: Sequence[StreamCapture],
    attempt: Attempt,
    progress: Progress,
) -> None:
    streams = dict(zip((job.stdout_fd, job.stderr_fd), captures, strict=True))
    poller = select.poll()  # poll(2) needs no descriptor of its own, unlike epoll
    poller.register(signals.wake_fd, select.POLLIN)
    for fd in streams:
        poller.register(fd, select.POLLIN)
    give_up_at: float | None = None

    def stop(why: str, sig: int) -> None:
        progress.reason = progress.reason or why
        if not _signal_tree(job.pid, sig):
            attempt.signal_denied = True
        if progress.kill_at is None:
            progress.kill_at = time.monotonic() + limits.kill_after

    while True:
        _reap(job.pid, progress)
        now = time.monotonic()
        for sig in signals.take():
            attempt.interrupted_by = attempt.interrupted_by or sig
            stop("signal", sig)
        deadline = progress.deadline
        if deadline is not None and now >= deadline and progress.reason is None:
            stop("timeout", signal.SIGTERM)
        if progress.kill_at is not None and now >= progress.kill_at:
            if not _signal_tree(job.pid, signal.SIGKILL):
                attempt.signal_denied = True
            give_up_at = give_up_at or now + FINAL_REAP_LIMIT
            progress.kill_at = now + KILL_REPEAT
        if progress.outcome is not None and (
            progress.reason is None  # a normal exit: leftovers are left, as ever
            or not _group_alive(job.pid)
            or (give_up_at is not None and now >= give_up_at)
        ):
            break
        wake = [t for t in (deadline if progress.reason is None else None, progress.kill_at) if t]
        timeout_ms = max(0, int((min(wake) - now) * 1000) + 1) if wake else None
        _read_ready(poller, streams, signals, timeout_ms)
    _read_ready(poller, streams, signals, 0, until_quiet=True)
    _reap(job.pid, progress)


def _read_ready(
    poller: select.poll,
    streams: dict[int, StreamCapture],
    signals: SignalBox,
    timeout_ms: int | None,
    *,
    until_quiet: bool = False,
) -> None:
    for _ in range(1024 if until_quiet else 1):
        events = poller.poll(timeout_ms)
        if not events:
            return
        for fd, _event in events:
            if fd == signals.wake_fd:
                signals.drain()
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                poller.unregister(fd)
                continue
            _keep(streams[fd], data)


def _keep(capture: StreamCapture, data: bytes) -> None:
    try:
        capture.feed(data)  # the tail first, then the passthrough
    except Exception:  # noqa: BLE001 - the passthrough may be what failed: the tail keeps it
        capture.passthrough.broken = True  # from now on counted as dropped


def _reap(pid: int, progress: Progress) -> None:
    """Reap every exited child (orphans re-parented to us too); note the job's own."""
    while True:
        try:
            child, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if child == 0:
            return
        if child == pid:
            progress.outcome = (status, usage)


def _signal_tree(pgid: int, sig: int) -> bool:
    """The whole tree if /proc can still be read, else the job's group at least."""
    try:
        return proctree.signal_tree(pgid, sig)
    except OSError:
        return proctree.signal_group(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether any process is left in the job's group (zombies are reaped by now)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # there, and not ours to signal
    return True
