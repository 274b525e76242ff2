"""What a job expects of its runs, for the collector's alerts: the report's `expect`
object, and the default grace that the collector applies when a line sets none.

The report carries only what was set (a flag, the environment or the config file),
never a default: the default grace depends on the schedule's interval, which the
collector reads anyway (and needs for older wrappers' reports too), so it is
decided in one place, by one rule, and a wrapper on the hot path never computes an
interval (that would mean croniter on every run). Plain code: imported on every run.
"""

from __future__ import annotations

from typing import Any

# The default grace: the larger of five minutes and a tenth of the interval, where the
# interval of a slot is the time from it to the schedule's next slot (collector/state.py).
GRACE_FLOOR_S = 300.0
GRACE_SHARE = 0.1
ALERT_AFTER_DEFAULT = 3

# option name -> the key of the report's `expect` object (DESIGN.md, "The run report")
EXPECT_KEYS = {
    "grace": "grace_s",
    "min_duration": "min_duration_s",
    "max_duration": "max_duration_s",
    "alert_after": "alert_after",
}


def default_grace_s(interval_s: float) -> float:
    """The grace of a slot whose next slot comes `interval_s` after it."""
    return max(GRACE_FLOOR_S, GRACE_SHARE * interval_s)


def expect_of(settings: Any) -> dict[str, object]:
    """The report's `expect`: the alert options the line set, by their report keys.
    Empty when it sets none (the collector then applies every default)."""
    return {
        key: getattr(settings, name)
        for name, key in EXPECT_KEYS.items()
        if settings.sources.get(name, "default") != "default"
    }
