"""serve's tick (evaluation, the alert pass, delivery: alerting/loop.py) in a process of
its own, beside the workers that answer HTTP.

The tick is Python work over the whole fleet: at 2,000 hosts an alert pass reads and
parses every host's heartbeat and open alert. Run as a thread of a worker, it held that
worker's GIL for hundreds of milliseconds every interval, and the requests of the
worker's event loop waited for it: a heartbeat's p99 (bench/agent.py) was the length
of a pass. In a process of its own, the kernel's scheduler shares the cores between the
tick and the workers, as it shares them with the database.

The ticker reads the settings the workers read (ENV_SETTINGS), dies with its parent
(PR_SET_PDEATHSIG), finishes the tick in progress and gives up the alert lease on
SIGTERM or SIGINT (Ctrl-C reaches the whole process group), and is started again when it
dies: at most once per RESTART_EVERY_S, so that a tick that cannot start (a database
away) does not spin. Ingest never depends on it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.context import SpawnProcess

from smartcron.wrapper.spawn import die_with_parent

from .settings import CollectorSettings, settings_from_environment

_spawn = multiprocessing.get_context("spawn")
RESTART_EVERY_S = 10.0
STOP_GRACE_S = 35.0  # over periodic.STOP_WAIT_S: a tick in progress finishes first


def ticks(settings: CollectorSettings) -> bool:
    """Whether serve with these settings has a tick to run at all (0: off)."""
    return settings.evaluate_every_s > 0


def run_ticker(parent: int) -> None:
    """The ticker process: the tick every evaluate_every_s until told to stop."""
    die_with_parent(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took hold
        return
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    from .alerting.delivery import Delivery
    from .alerting.loop import CollectorTick
    from .db.engine import create_db_engine
    from .periodic import PeriodicLoop

    settings = settings_from_environment()
    engine = create_db_engine(settings.db_url)
    deliver = Delivery(settings.delivery).run_pass
    tick = CollectorTick(engine, settings.alert_every_s, deliver=deliver)
    loop = PeriodicLoop("collector tick", settings.evaluate_every_s, tick, tick.release)
    loop.start()
    stopped.wait()
    loop.stop()
    engine.dispose()


class Ticker:
    """The ticker process of one serve: start(), check() (start it again if it died),
    stop()."""

    def __init__(
        self,
        target: Callable[[int], object] = run_ticker,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`target(parent_pid)` is the process's work (tests give their own), `clock`
        times the restarts."""
        self.target = target
        self.clock = clock
        self.process: SpawnProcess | None = None
        self.started = 0.0

    def start(self) -> None:
        self.process = _spawn.Process(target=self.target, args=(os.getpid(),), daemon=False)
        self.process.start()
        self.started = self.clock()

    def check(self) -> None:
        """Start the ticker again if it died (and its last start is long enough ago)."""
        process = self.process
        if process is None or process.is_alive():
            return
        if self.clock() - self.started < RESTART_EVERY_S:
            return
        print(f"smartcron-collector: the tick's process {process.pid} exited with status "
              f"{process.exitcode}; starting another", file=sys.stderr, flush=True)  # fmt: skip
        self.start()

    def stop(self) -> None:
        self.tell_to_stop()
        self.join()

    def tell_to_stop(self) -> None:
        """SIGTERM to the ticker, without waiting: a tick in progress may take up to
        STOP_GRACE_S to finish, and the workers' stop must not wait for it."""
        process = self.process
        if process is not None and process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)

    def join(self) -> None:
        """Wait for the ticker told to stop, STOP_GRACE_S at most, then kill it; no
        ticker is started again after this."""
        process, self.process = self.process, None
        if process is None:
            return
        process.join(STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()


class Watched:
    """A Ticker checked every half second by a thread of its own, for the one-worker
    serve, whose main thread is uvicorn's: `with Watched(ticker): ...`. (A ticker this
    thread starts again gets its PR_SET_PDEATHSIG when the thread ends, not the
    process: that is at the stop, when the ticker is stopped anyway.)"""

    def __init__(self, ticker: Ticker | None) -> None:
        self.ticker = ticker
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="smartcron-ticker", daemon=True)

    def __enter__(self) -> Watched:
        if self.ticker is not None:
            self.ticker.start()
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping()
        if self.ticker is not None:
            self._thread.join()
            self.ticker.stop()

    def stopping(self) -> None:
        """The service is told to stop: no ticker is started again from now on (a
        signal handler calls this; it only sets a flag)."""
        self._done.set()

    def _watch(self) -> None:
        assert self.ticker is not None
        while not self._done.wait(0.5):
            self.ticker.check()
