"""Supervise one attempt: pump output, enforce the timeout and the memory cap,
forward signals, and reap, all from one poll() loop without threads."""

from __future__ import annotations

import os
import resource
import select
import signal
import time
from collections.abc import Callable

from . import proctree
from .lastresort import FINAL_REAP_LIMIT, Progress, see_through
from .output import StreamCapture
from .passthrough import Passthrough
from .signals import SignalBox
from .spawn import Spawned

FIRST_SAMPLE = 0.02  # a job that ends sooner costs no /proc scan at all
SAMPLE_CEILING = 1.0  # at most one tree walk a second for long jobs...
CAPPED_SAMPLE_CEILING = 0.25  # ...or four when a memory cap must be enforced


class Attempt:
    """What one attempt did. Times are epoch seconds; exit_code xor signal is set."""

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self.finished_at = started_at
        self.exit_code: int | None = None
        self.signal: int | None = None
        self.status = "error"
        self.peak_rss = 0
        self.cpu_user = 0.0
        self.cpu_system = 0.0
        self.interrupted_by: int | None = None  # a signal the wrapper received and forwarded
        self.signal_denied = False  # the kernel refused our signals (EPERM: a setuid job)
        self.error: str | None = None  # set when the command could not be started at all

    def as_report(self) -> dict[str, object]:
        from .clock import iso

        attempt: dict[str, object] = {
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "exit_code": self.exit_code,
            "signal": self.signal,
            "status": self.status,
        }
        if self.error is not None:
            attempt["error"] = self.error
        return attempt


class Limits:
    def __init__(self, timeout: float | None, kill_after: float, max_memory: int | None) -> None:
        self.timeout = timeout
        self.kill_after = kill_after
        self.max_memory = max_memory


def supervise(
    job: Spawned,
    limits: Limits,
    signals: SignalBox,
    out: StreamCapture,
    err: StreamCapture,
    on_failure: Callable[[Exception], None] | None = None,
) -> Attempt:
    """Supervise the attempt to its end. Should the loop itself fail (`on_failure` is
    told why), lastresort.py sees the job through: it is never left unsupervised."""
    attempt = Attempt(time.time())
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    progress = Progress(start + limits.timeout if limits.timeout else None)
    try:
        _supervise(job, limits, signals, out, err, attempt, progress, start)
    except Exception as error:  # noqa: BLE001 - whatever broke the loop, the job is seen through
        if on_failure is not None:
            on_failure(error)
        see_through(job, limits, signals, (out, err), attempt, progress)
    finally:
        for fd in (job.stdout_fd, job.stderr_fd):
            os.close(fd)

    attempt.finished_at = time.time()
    assert progress.outcome is not None
    wait_status, child_usage = progress.outcome
    _record_exit(attempt, wait_status)
    attempt.status = _status(attempt, progress.reason)
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    attempt.cpu_user = usage_after.ru_utime - usage_before.ru_utime
    attempt.cpu_system = usage_after.ru_stime - usage_before.ru_stime
    # The kernel's high-water mark catches peaks between our samples. It also counts
    # the child's pre-exec copy of the wrapper, so it says something about the job
    # only when it is above the wrapper's own size.
    if child_usage.ru_maxrss > own_peak_kib:
        attempt.peak_rss = max(attempt.peak_rss, child_usage.ru_maxrss * 1024)
    return attempt


def _supervise(
    job: Spawned,
    limits: Limits,
    signals: SignalBox,
    out: StreamCapture,
    err: StreamCapture,
    attempt: Attempt,
    progress: Progress,
    start: float,
) -> None:
    """The loop: pump output, sample memory, stop the job when it must, reap it. What
    it has found and done is kept in `progress`, for the last resort should it fail."""
    deadline = progress.deadline
    ceiling = CAPPED_SAMPLE_CEILING if limits.max_memory else SAMPLE_CEILING
    interval, sample_at = FIRST_SAMPLE, start + FIRST_SAMPLE

    streams = {job.stdout_fd: out, job.stderr_fd: err}
    writers = {capture.passthrough.fd: capture.passthrough for capture in (out, err)}
    poller = select.poll()
    poller.register(signals.wake_fd, select.POLLIN)
    reading = set(streams)  # job pipes not at EOF yet
    armed: dict[int, int] = {}  # fd -> the events registered for it

    def stop(why: str, sig: int = signal.SIGTERM) -> None:
        progress.reason = progress.reason or why
        if not proctree.signal_tree(job.pid, sig):
            attempt.signal_denied = True  # the job keeps running; we wait for it
        if progress.kill_at is None:  # the grace starts once; later signals do not extend it
            progress.kill_at = time.monotonic() + limits.kill_after

    while True:
        outcome = reap(job.pid)
        if outcome is not None:
            progress.outcome = outcome
            break
        now = time.monotonic()
        for sig in signals.take():
            attempt.interrupted_by = attempt.interrupted_by or sig
            stop("signal", sig)
        if deadline is not None and now >= deadline and progress.reason is None:
            stop("timeout")
        if now >= sample_at:
            rss = proctree.tree_rss()
            attempt.peak_rss = max(attempt.peak_rss, rss)
            if limits.max_memory and rss > limits.max_memory and progress.reason is None:
                stop("memory")
            interval = min(interval * 2, ceiling)
            sample_at = now + interval
        kill_at = progress.kill_at
        if kill_at is not None and now >= kill_at:
            if not proctree.signal_tree(job.pid, signal.SIGKILL):
                attempt.signal_denied = True
            progress.kill_at = kill_at = now + 1.0  # and again, should something new appear
        _arm(poller, armed, reading, streams, writers, now)
        stalls = [t for p in writers.values() if (t := p.stall_at(now)) is not None]
        pending = deadline if progress.reason is None else None
        wake = [t for t in (pending, sample_at, kill_at) if t]
        wake += stalls
        timeout_ms = max(0, int((min(wake) - now) * 1000) + 1) if wake else None
        for fd, _event in poller.poll(timeout_ms):
            if fd == signals.wake_fd:
                signals.drain()
            elif fd in reading:
                if not _pump(fd, streams[fd]):
                    reading.discard(fd)
            elif fd in writers:
                writers[fd].flush()

    poller.unregister(signals.wake_fd)
    _drain_output(poller, armed, reading, streams, writers)
    if progress.reason is not None:
        finish_tree(job.pid, progress.kill_at)
    reap_orphans()


def _arm(
    poller: select.poll,
    armed: dict[int, int],
    reading: set[int],
    streams: dict[int, StreamCapture],
    writers: dict[int, Passthrough],
    now: float,
) -> None:
    """Listen to a job pipe only while its reader keeps up (or has stalled), and to
    our stdout/stderr only while output waits for them."""
    wanted = {fd: select.POLLIN for fd in reading if streams[fd].passthrough.accepts_input(now)}
    for fd, output in writers.items():
        if output.wants_write():
            wanted[fd] = wanted.get(fd, 0) | select.POLLOUT
    for fd in [fd for fd in armed if fd not in wanted]:
        poller.unregister(fd)
        del armed[fd]
    for fd, events in wanted.items():
        if armed.get(fd) != events:
            poller.register(fd, events)
            armed[fd] = events


def _pump(fd: int, capture: StreamCapture) -> bool:
    try:
        data = os.read(fd, 65536)
    except OSError:
        return False
    if not data:
        return False
    capture.feed(data)
    return True


def _drain_output(
    poller: select.poll,
    armed: dict[int, int],
    reading: set[int],
    streams: dict[int, StreamCapture],
    writers: dict[int, Passthrough],
) -> None:
    """Take what the job wrote before it exited. Descendants that outlive a
    normal exit may hold the pipes open: read what is there, do not wait for EOF;
    wait only for a reader that is behind but still reading."""
    for _ in range(1024):
        now = time.monotonic()
        _arm(poller, armed, reading, streams, writers, now)
        held_back = any(not armed.get(fd, 0) & select.POLLIN for fd in reading)
        stalls = [t for p in writers.values() if (t := p.stall_at(now)) is not None]
        wait = min(stalls) - now if held_back and stalls else 0.0
        events = poller.poll(max(0, int(wait * 1000) + 1) if wait > 0 else 0)
        if not events and not held_back:
            return
        for fd, _event in events:
            if fd in reading:
                if not _pump(fd, streams[fd]):
                    reading.discard(fd)
            elif fd in writers:
                writers[fd].flush()


def reap(pid: int) -> tuple[int, resource.struct_rusage] | None:
    """Reap every exited child; the job's own (status, rusage) once it has exited.

    Orphans re-parented to us (we are a subreaper) are reaped here too, or they
    would stay zombies until the wrapper exits.
    """
    found = None
    while True:
        try:
            child, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if child == 0:
            return found
        if child == pid:
            found = (status, usage)


def reap_orphans() -> None:
    reap(-1)


def finish_tree(pgid: int, kill_at: float | None) -> None:
    """After a stop: wait out the grace for what remains of the tree, SIGKILL
    it, and reap until nothing is left (every descendant, not just the leader)."""
    deadline = kill_at if kill_at is not None else time.monotonic()
    while proctree.live_descendants() and time.monotonic() < deadline:
        time.sleep(0.02)
        reap_orphans()
    limit = time.monotonic() + FINAL_REAP_LIMIT
    while proctree.live_descendants() and time.monotonic() < limit:
        proctree.signal_tree(pgid, signal.SIGKILL)  # refused (EPERM): what is left, is left
        time.sleep(0.01)
        reap_orphans()
    reap_orphans()


def _record_exit(attempt: Attempt, wait_status: int | None) -> None:
    if wait_status is None:
        return
    if os.WIFSIGNALED(wait_status):
        attempt.signal = os.WTERMSIG(wait_status)
    else:
        attempt.exit_code = os.waitstatus_to_exitcode(wait_status)


def _status(attempt: Attempt, reason: str | None) -> str:
    if reason == "timeout":
        return "timeout"
    if reason == "memory":
        return "killed_memory"
    return "success" if attempt.exit_code == 0 else "failed"
