"""Hosts' clocks, as the collector sees them in the reports they send.

A report is dated by its host's clock, and only a newer run may replace a job's last
one: a single report from 2190 would hold its job's state for good. So a report dated
more than MAX_AHEAD past the collector's clock is refused, with a reason that names
the host's clock.

How far a host's clock is ahead is estimated from its newest report: that time minus
the collector's clock when the report arrived. A report arrives only after its run
ended, so this is a lower bound of the host's lead; a clock behind cannot be told
from a late delivery (a spool shipped hours later), and counts as in step (0).

The estimate is kept in the host's row, in its health JSON as {"reports_clock":
{"ahead_s", "checked_at"}}, beside what the agent's heartbeat keeps there (whose own
"clock" is the host's time as the agent read it; a heartbeat keeps this key). Each collector process
writes a host's clock at most every REFRESH_S seconds unless it moved by NOTABLE_S or
more: written with every transaction, the hosts' rows made concurrent transactions
wait for each other, and halved the single-report ingest rate of bench/ingest.py.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from typing import Any

MAX_AHEAD = dt.timedelta(minutes=5)
REFRESH_S = 60.0
NOTABLE_S = 1.0


def ahead_reason(host: str, field: str, ahead: dt.timedelta) -> str:
    """Why a report dated too far ahead is refused: "finished_at: 2 h 5 min ahead ..."."""
    return (
        f"{field}: {_duration(ahead)} ahead of the collector's clock (at most "
        f"{_duration(MAX_AHEAD)}): the clock of host {host!r} is wrong; set it right "
        "(NTP) and its next reports are taken"
    )


def _duration(span: dt.timedelta) -> str:
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")]
    shown = [f"{value:,} {unit}" for value, unit in parts if value]
    return " ".join(shown[:2]) or "0 s"


# The health key of the estimate: not "clock", which the agent's heartbeat uses for the
# host's time as it read it.
CLOCK_KEY = "reports_clock"


def clock_json(ahead_s: float, now: dt.datetime) -> str:
    """The health JSON that a host's row is patched with (a JSON merge patch)."""
    checked = now.isoformat(timespec="microseconds") + "Z"
    return json.dumps({CLOCK_KEY: {"ahead_s": round(ahead_s, 1), "checked_at": checked}})


def read_clock(health: Any) -> dict[str, Any] | None:
    """{"ahead_s": float, "checked_at": str} from a host's parsed health, if it holds one
    of that shape (the row is input like any other: anything else reads as none)."""
    clock = health.get(CLOCK_KEY) if isinstance(health, dict) else None
    if not isinstance(clock, dict):
        return None
    ahead, checked = clock.get("ahead_s"), clock.get("checked_at")
    if not isinstance(ahead, (int, float)) or isinstance(ahead, bool):
        return None
    if not isinstance(checked, str):
        return None
    return {"ahead_s": float(ahead), "checked_at": checked}


class ClockNotes:
    """What this process last wrote of each host's clock, and when: which of a group's
    estimates are worth writing. Shared by the writer's threads; the lock only guards
    the dictionary (a lost race costs one write more, never a write less)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._written: dict[str, tuple[float, float]] = {}  # host: (ahead_s, at)
        self._lock = threading.Lock()

    def due(self, observed: dict[str, float]) -> dict[str, float]:
        """The estimates to write: new to this process, moved, or not written lately."""
        now = self._clock()
        with self._lock:
            last = {host: self._written.get(host) for host in observed}
        return {
            host: ahead
            for host, ahead in observed.items()
            if (seen := last[host]) is None
            or abs(seen[0] - ahead) >= NOTABLE_S
            or now - seen[1] >= REFRESH_S
        }

    def noted(self, written: dict[str, float]) -> None:
        """The estimates are in the database (their transaction committed)."""
        now = self._clock()
        with self._lock:
            self._written.update({host: (ahead, now) for host, ahead in written.items()})
