"""The collector's tick: evaluation -> alert pass -> delivery, in that order, on one timer
(collector/periodic.py), in `serve` (a process of its own: collector/ticker.py) and in
`smartcron-collector alerts`.

One tick at `now` (injected; the clock otherwise):
1. evaluation: every due job's state brought to `now` by the state module
   (state_store.evaluate_due, safe on every worker of every replica at once), and in
   serve the hourly rollups' rows past keeping pruned;
2. the alert pass (engine.run_pass), by the lease "alerts" (three alert intervals long):
   one replica's one worker at a time;
3. delivery (delivery.py), under the same lease, right after the pass: an alert the pass
   opened for a job that step 1 found late goes out in this very tick, not a timer later.

On a clean stop the lease is given up, so another replica takes over within a tick
rather than when the lease expires.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from sqlalchemy import Engine

from ..heartbeats import now_utc
from ..rollups import prune_hourly
from . import lease
from .engine import DOWN_AFTER, AfterDetection, PassResult, evaluate_states, run_pass

LEASE = "alerts"
MIN_LEASE = dt.timedelta(seconds=60)


def lease_for(every_s: float) -> dt.timedelta:
    return max(dt.timedelta(seconds=3 * every_s), MIN_LEASE)


@dataclasses.dataclass
class TickResult:
    now: dt.datetime
    evaluated: bool = False  # every due state decided (False: a storm left some)
    alerts: PassResult | None = None  # None: not this tick's, or another replica's lease
    delivered: object = None  # what delivery returned, None when it did not run


class CollectorTick:
    """What one tick does; called by the loop with no argument, by tests with `now`."""

    def __init__(
        self,
        engine: Engine,
        alert_every_s: float,
        deliver: AfterDetection | None = None,
        prune: bool = True,
        clock: Callable[[], dt.datetime] = now_utc,
    ) -> None:
        """`alert_every_s`: the alert and delivery steps run in ticks at least this far
        apart (0: never, where `smartcron-collector alerts` runs them); `prune`: serve's
        duty, not the alert engine's."""
        self.engine = engine
        self.alert_every_s = alert_every_s
        self.deliver = deliver
        self.prune = prune
        self.clock = clock
        self.holder = lease.holder_id()
        self._last_alert: dt.datetime | None = None

    def __call__(self, now: dt.datetime | None = None) -> TickResult:
        result = TickResult(now if now is not None else self.clock())
        now = result.now
        result.evaluated = evaluate_states(self.engine, now)
        if self.prune:
            prune_hourly(self.engine, now)
        if not self._alert_step_due(now):
            return result
        if not lease.take(self.engine, LEASE, self.holder, now, lease_for(self.alert_every_s)):
            return result
        self._last_alert = now
        # Passes further apart than DOWN_AFTER by design are no outage: three missed are.
        down_after = max(DOWN_AFTER, dt.timedelta(seconds=3 * self.alert_every_s))
        result.alerts = run_pass(self.engine, now, None, down_after)
        if self.deliver is not None:
            result.delivered = self.deliver(self.engine, now)
        return result

    def _alert_step_due(self, now: dt.datetime) -> bool:
        if self.alert_every_s <= 0:
            return False
        last = self._last_alert
        # Half a second of slack: ticks a timer starts every alert_every_s arrive a hair
        # early as often as late, and must not skip every other one.
        every = dt.timedelta(seconds=max(0.0, self.alert_every_s - 0.5))
        return last is None or now < last or now - last >= every

    def release(self) -> bool:
        """Give the lease up (a clean stop), so another replica takes it at once."""
        return lease.release(self.engine, LEASE, self.holder)
