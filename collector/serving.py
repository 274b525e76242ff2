"""Running the HTTP service in one process or several, each with a socket of its own.

uvicorn's own --workers binds one socket and lets every worker accept on it;
the kernel then wakes whichever worker waited last, so keep-alive clients (an
agent, a load balancer, wrk) pile their connections onto one worker and the
others idle. Here each worker gets its own socket on the same address
(SO_REUSEPORT), and the kernel spreads new connections over them evenly.

The parent binds every socket before any worker starts (a port in use is
reported at once, as one error), starts the workers and the tick's process
(ticker.py) as fresh interpreters, restarts one that dies, and stops them all on
SIGTERM or SIGINT. A worker dies
with its parent (PR_SET_PDEATHSIG), so a killed parent leaves no server behind.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.context import SpawnProcess
from types import FrameType

import uvicorn
from smartcron.wrapper.spawn import die_with_parent

from .ticker import Ticker, Watched

_spawn = multiprocessing.get_context("spawn")
multiprocessing.allow_connection_pickling()  # the sockets go to the workers by pickle
# A worker that dies this soon after its start died of its start (the app, the
# database URL): starting it again would fail the same way, so the service stops.
QUICK_DEATH_S = 10.0
STOP_GRACE_S = 10.0


def bind(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on one address, with SO_REUSEPORT when count > 1.
    With port 0 the first socket picks the port and the others join it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if count > 1:
        # SO_REUSEPORT would let this service join another one already on the port
        # (an old version still running, a second start) and quietly share its
        # connections: a plain bind first fails as it should.
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = probe.getsockname()[1]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def serve(config: uvicorn.Config, sockets: list[socket.socket], ticker: Ticker | None) -> int:
    """Serve on sockets from bind(), one worker each, beside the tick's process
    (ticker.py; None: no tick), until SIGTERM or SIGINT; the exit status. The caller
    binds first, so that a port in use is said before "listening"."""
    if len(sockets) == 1:
        return _serve_alone(config, sockets[0], ticker)
    return Supervisor(config, sockets, ticker).run()


class _Alone(uvicorn.Server):
    """uvicorn's server for the one-worker serve: the signal that stops it also ends
    the ticker's restarts. Ctrl-C and systemd's SIGTERM (to the whole cgroup) reach the
    ticker as well, which then stops at once, while uvicorn still finishes the requests
    in progress: the watcher would take it for a dead one and start another."""

    def __init__(self, config: uvicorn.Config, watched: Watched) -> None:
        super().__init__(config)
        self.watched = watched

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.watched.stopping()
        super().handle_exit(sig, frame)


def _serve_alone(config: uvicorn.Config, sock: socket.socket, ticker: Ticker | None) -> int:
    """One worker, this process, beside the ticker. SIGTERM and SIGINT go to uvicorn's
    handler from before the ticker starts: one that comes before uvicorn takes them
    itself stops it as soon as it has started (a handler that only noted it lost it,
    and serve went on). uvicorn stops and then raises the signal again for the handler
    it found, that same one, so that the ticker is stopped (its lease given up) and the
    exit is 0, as with workers."""
    watched = Watched(ticker)
    server = _Alone(config, watched)
    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, server.handle_exit) for sig in handled}
    try:
        with watched:
            server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _say(message: str) -> None:
    print(f"smartcron-collector: {message}", file=sys.stderr, flush=True)


def _worker(config: uvicorn.Config, sock: socket.socket, parent: int) -> None:
    die_with_parent(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took hold
        return
    config.configure_logging()  # a spawned interpreter starts without it
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """One worker process per socket, kept alive until the service is told to stop."""

    def __init__(
        self, config: uvicorn.Config, sockets: list[socket.socket], ticker: Ticker | None = None
    ) -> None:
        self.config = config
        self.sockets = sockets
        self.ticker = ticker
        self.workers: list[tuple[SpawnProcess, float]] = []
        self.stop = threading.Event()

    def _start(self, index: int) -> tuple[SpawnProcess, float]:
        process = _spawn.Process(
            target=_worker, args=(self.config, self.sockets[index], os.getpid()), daemon=False
        )
        process.start()
        return process, time.monotonic()

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        try:
            for index in range(len(self.sockets)):
                self.workers.append(self._start(index))
            if self.ticker is not None:
                self.ticker.start()
        except BaseException:
            self._stop_all()  # the ones started would otherwise outlive a failed start
            raise
        status = 0
        while not self.stop.wait(0.5):
            if self.ticker is not None:
                self.ticker.check()
            for index, (process, started) in enumerate(self.workers):
                if process.is_alive():
                    continue
                died = f"worker {process.pid} exited with status {process.exitcode}"
                if time.monotonic() - started < QUICK_DEATH_S:
                    _say(f"{died} during its start; stopping")
                    status = 1
                    self.stop.set()
                    break
                _say(f"{died}; starting another")
                self.workers[index] = self._start(index)
        self._stop_all()
        return status

    def _stop_all(self) -> None:
        # Every process is told first and waited for after: the ticker may take half a
        # minute to finish its tick, and meanwhile the workers would go on serving.
        if self.ticker is not None:
            self.ticker.tell_to_stop()
        for process, _ in self.workers:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process, _ in self.workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sock in self.sockets:
            sock.close()
        if self.ticker is not None:
            self.ticker.join()
