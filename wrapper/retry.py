"""When to try again: exponential backoff with jitter, capped."""

from __future__ import annotations

import random

JITTER = 0.2  # +/-20%: spreads retries of many hosts without surprising anyone


def retry_delay(failures: int, first: float, cap: float, rng: random.Random | None = None) -> float:
    """The pause after the `failures`-th failed attempt (1-based): first, 2x, 4x ... <= cap."""
    base = min(cap, first * 2.0 ** (failures - 1))
    low, high = 1 - JITTER, 1 + JITTER
    spread = rng.uniform(low, high) if rng is not None else random.uniform(low, high)
    return min(cap, base * spread)


def should_retry(status: str, attempts_made: int, retries: int, retry_timeouts: bool) -> bool:
    """A failed attempt is retried; a timeout only with --retry-timeouts. A memory
    kill is not: the same input will most likely exhaust the same memory."""
    if attempts_made > retries:
        return False
    return status == "failed" or (status == "timeout" and retry_timeouts)
