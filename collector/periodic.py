"""A duty run on a timer in a daemon thread: start(), stop(), and a tick every `every_s`.

The one copy of what the collector's loops shared: ticks start every `every_s` (not
`every_s` after the last one ended, so whatever a tick finds waits at most one interval),
a database that is away costs one warning per tick (the next tick does it all again),
and a bug in one tick is logged with its traceback without ending the ticks after it
(the thread would otherwise die silently, and nothing would be done again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("smartcron.collector")
STOP_WAIT_S = 30.0  # a tick in progress finishes first (a storm's pass takes seconds)


class PeriodicLoop:
    def __init__(
        self,
        name: str,
        every_s: float,
        tick: Callable[[], object],
        on_stop: Callable[[], object] | None = None,
    ) -> None:
        """`name` says what failed in the log ("alert tick failed"); `every_s` 0 (or
        less) never starts; `on_stop` runs after the last tick (a lease given up)."""
        self.name = name
        self.every_s = every_s
        self.tick = tick
        self.on_stop = on_stop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"smartcron-{name}", daemon=True)

    def start(self) -> None:
        if self.every_s > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if not self._thread.is_alive():
            return
        self._thread.join(timeout=STOP_WAIT_S)
        if self.on_stop is not None:
            self.guarded(self.on_stop)

    def guarded(self, duty: Callable[[], object]) -> object:
        """`duty()`, its failure logged rather than raised; None when it failed."""
        try:
            return duty()
        except SQLAlchemyError as error:
            log.warning("%s failed: %s", self.name, str(error).splitlines()[0][:200])
        except Exception:
            log.exception("%s failed", self.name)
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.guarded(self.tick)
            self._stop.wait(max(0.0, self.every_s - (time.monotonic() - started)))
