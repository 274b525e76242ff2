"""Pass the job's output on to the wrapper's own stdout/stderr without ever blocking.

The reader at the other end (cron's mailer, a pipe into `logger`, a terminal)
is not ours: if it stops reading, a blocking write() would stop the wrapper's
clock, and with it the timeout, the memory cap and signal forwarding. So:

- writes never block: a pipe is reopened through /proc as a private,
  non-blocking description (O_NONBLOCK on the inherited one would change it for
  every other process sharing it); any other kind of file is written only
  after poll() says it is writable, and no more than PIPE_BUF at a time;
- a bounded buffer holds what the reader has not taken yet. While it is full
  the wrapper stops reading from the job, so a slow reader slows the job down as
  it would without the wrapper, and nothing is lost;
- a reader that takes nothing for `stall_s` seconds (--output-stall, STALL_S by
  default) has stalled: from then on the
  job's output is dropped from the passthrough (counted, and still kept in the
  report's tail) until the reader takes bytes again.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import time

BUFFER_BYTES = 256 * 1024
STALL_S = 2.0  # no progress for this long: the reader has stalled
GUARDED_CHUNK = 4096  # PIPE_BUF: what a writable pipe, socket or tty takes without blocking
_CHUNK = 1 << 16


class Passthrough:
    def __init__(self, target_fd: int, stall_s: float = STALL_S) -> None:
        self.fd, self._private, self._guarded = _open_target(target_fd)
        self.stall_s = stall_s
        self.pending = bytearray()
        self.dropped = 0  # bytes of the job's output the reader never got
        self.broken = False  # the reader is gone for good (EPIPE, closed fd)
        self._progress_at = time.monotonic()

    def offer(self, data: bytes) -> None:
        """Queue `data` for the reader; dropped (counted) if the buffer is full."""
        if self.broken or len(self.pending) >= BUFFER_BYTES:
            self.dropped += len(data)
            return
        if not self.pending:
            self._progress_at = time.monotonic()  # the clock of a stall starts now
        self.pending += data
        self.flush()

    def flush(self) -> None:
        """Write what the reader takes now; never wait for it."""
        while self.pending and not self.broken:
            size = GUARDED_CHUNK if self._guarded else _CHUNK
            try:
                if self._guarded and not _writable(self.fd):
                    return
                written = os.write(self.fd, self.pending[:size])
            except BlockingIOError:
                return
            except OSError:
                # The reader is gone (cron's mailer died, a closed pipe): the job
                # keeps running and its tail is still recorded.
                self.broken = True
                self.drop_pending()
                return
            del self.pending[:written]
            self._progress_at = time.monotonic()

    def stalled(self, now: float) -> bool:
        return bool(self.pending) and now - self._progress_at >= self.stall_s

    def accepts_input(self, now: float) -> bool:
        """False while a reader that still reads is behind: the job waits for it."""
        return len(self.pending) < BUFFER_BYTES or self.broken or self.stalled(now)

    def stall_at(self, now: float) -> float | None:
        """When the buffered bytes will count as stalled, if they are not taken. None
        when nothing waits, or when the reader has stalled already: a moment in the
        past is nothing to wake up for (poll would return at once, again and again)."""
        if not self.pending or self.broken or self.stalled(now):
            return None
        return self._progress_at + self.stall_s

    def wants_write(self) -> bool:
        return bool(self.pending) and not self.broken

    def drop_pending(self) -> None:
        self.dropped += len(self.pending)
        self.pending.clear()

    def close(self) -> None:
        if self._private:
            os.close(self.fd)
            self._private = False


def reserve_standard_fds() -> None:
    """Put /dev/null on any of fds 0-2 the wrapper was started without (`>&-`).
    Otherwise the next file it opens (the lock, a pipe) takes that number, and the
    job's output, written to "stdout", would land in it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            spare = os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one
            if spare != fd:
                os.dup2(spare, fd, inheritable=False)
                os.close(spare)


def write_without_waiting(fd: int, data: bytes) -> bool:
    """Write the wrapper's own message if the reader takes it now; False if it did not
    (a stalled reader must not hold the wrapper for a warning either)."""
    output = Passthrough(fd)
    try:
        output.offer(data)
        return not output.pending and not output.broken
    finally:
        output.close()


def _open_target(fd: int) -> tuple[int, bool, bool]:
    """(fd to write, is it our own, must writes be guarded by poll)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return fd, False, False  # closed: the first write fails and marks it broken
    if stat.S_ISREG(mode):
        return fd, False, False  # a file never waits on a reader
    if stat.S_ISFIFO(mode):
        flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
        try:
            return os.open(f"/proc/self/fd/{fd}", flags), True, False
        except OSError:
            pass  # no /proc, or the reader is gone (ENXIO): guarded writes will tell
    return fd, False, True


def _writable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    for _fd, events in poller.poll(0):
        if events & (select.POLLERR | select.POLLNVAL):
            raise OSError(errno.EPIPE, "the reader is gone")
        return bool(events & (select.POLLOUT | select.POLLHUP))
    return False


def finish_passthrough(outputs: list[Passthrough]) -> None:
    """Hand the reader what is still buffered, waiting only while it keeps taking
    bytes; a reader already stalled gets nothing more (the rest is counted)."""
    now = time.monotonic()
    for output in outputs:
        if output.stalled(now):
            output.drop_pending()
    while True:
        now = time.monotonic()
        waiting = [o for o in outputs if o.wants_write()]
        for output in waiting:
            if output.stalled(now):
                output.drop_pending()
        waiting = [o for o in waiting if o.wants_write()]
        if not waiting:
            return
        poller = select.poll()
        for output in waiting:
            poller.register(output.fd, select.POLLOUT)
        stall_at = min(t for o in waiting if (t := o.stall_at(now)) is not None)
        poller.poll(max(0, int((stall_at - now) * 1000) + 1))
        for output in waiting:
            output.flush()
