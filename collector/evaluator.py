"""The evaluation pass, run from `serve`: time alone makes jobs late (and ages
failures out of "degraded"), with no report to say so; and the hourly rollups' rows past
keeping go (rollups.prune_hourly). Each worker process runs
its own pass every `evaluate_every_s`; the passes of several workers or replicas
agree, because each one decides the same state from the same row
(state_store.evaluate_due)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from .ingest import now_utc
from .rollups import prune_hourly
from .state_store import evaluate_due

log = logging.getLogger("smartcron.collector")


class EvaluationLoop:
    def __init__(
        self,
        engine: Engine,
        interval_s: float,
        after: Callable[[Engine, dt.datetime], object] | None = None,
    ) -> None:
        self.engine = engine
        self.interval_s = interval_s
        # What runs after each pass, at the pass's moment: alert delivery.
        self.after = after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smartcron-evaluate", daemon=True)

    def start(self) -> None:
        if self.interval_s > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            now, started = now_utc(), time.monotonic()
            try:
                evaluate_due(self.engine, now)
                prune_hourly(self.engine, now)
                if self.after is not None:
                    self.after(self.engine, now)
            except SQLAlchemyError as error:
                # The database is away: the next pass catches up (review_at is kept, and
                # deliveries stay owed).
                log.warning("evaluation pass failed: %s", str(error).splitlines()[0][:200])
            except Exception:
                # A bug in one pass must not end every later one (the thread would die
                # silently, and nothing would be marked late or delivered again).
                log.exception("evaluation pass failed")
            # Passes start every interval_s, not interval_s after the last one ended: an
            # alert waits at most one interval for the pass that sends it.
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
