"""The alert pass on a timer: in `serve` (a thread in each worker, of which the lease
lets one replica's one worker run at a time) and in `smartcron-collector alerts`.

Each tick takes (or keeps) the lease "alerts" for three ticks, runs one pass if it holds
it, and on a clean stop gives it up, so another replica takes over within a tick rather
than when the lease expires.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..heartbeats import now_utc
from . import lease
from .engine import DOWN_AFTER, AfterDetection, PassResult, run_pass

log = logging.getLogger("smartcron.collector")
LEASE = "alerts"
MIN_LEASE = dt.timedelta(seconds=60)


def lease_for(every_s: float) -> dt.timedelta:
    return max(dt.timedelta(seconds=3 * every_s), MIN_LEASE)


def run_once(
    engine: Engine,
    holder: str,
    every_s: float,
    now: dt.datetime,
    after: AfterDetection | None = None,
) -> PassResult | None:
    """One tick: the pass if this holder has the lease, else None (another replica's)."""
    if not lease.take(engine, LEASE, holder, now, lease_for(every_s)):
        return None
    # Passes further apart than DOWN_AFTER by design are no outage: three missed are.
    down_after = max(DOWN_AFTER, dt.timedelta(seconds=3 * every_s))
    return run_pass(engine, now, after, down_after)


class AlertLoop:
    def __init__(
        self,
        engine: Engine,
        every_s: float,
        after: AfterDetection | None = None,
        clock: Callable[[], dt.datetime] = now_utc,
    ) -> None:
        self.engine = engine
        self.every_s = every_s
        self.after = after
        self.clock = clock
        self.holder = lease.holder_id()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smartcron-alerts", daemon=True)

    def start(self) -> None:
        if self.every_s > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
            try:
                lease.release(self.engine, LEASE, self.holder)
            except SQLAlchemyError as error:
                log.warning("alert lease not released: %s", _first_line(error))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.every_s)

    def tick(self) -> PassResult | None:
        try:
            return run_once(self.engine, self.holder, self.every_s, self.clock(), self.after)
        except SQLAlchemyError as error:
            # The database is away: the next tick does it all (the cursors did not move).
            log.warning("alert pass failed: %s", _first_line(error))
            return None


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200]
