"""control.json: pauses and breaker resets that the agent pulls from the collector.

{"paused": ["nightly_report", ...], "breaker_resets": {"vend_sync": "2026-11-23T10:00:00.000000Z"}}
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .state import load_state_file
from .statefiles import parse_control


class Control:
    def __init__(self, paused: frozenset[str], breaker_resets: dict[str, str]) -> None:
        self.paused = paused
        self.breaker_resets = breaker_resets

    def is_paused(self, job: str) -> bool:
        return job in self.paused

    def reset_requested_at(self, job: str) -> str | None:
        return self.breaker_resets.get(job)


def read_control(path: str, on_bad: Callable[[str, str], None] | None = None) -> Control:
    """The host's control file. Missing means nothing is paused; so does a bad one,
    which is handed to `on_bad(path, problem)` first (the wrapper sets it aside and
    warns; the agent writes a new one on its next sync). OSError if unreadable."""
    now = time.time()
    document = load_state_file(path, lambda doc: parse_control(doc, now), on_bad)
    if document is None:
        return Control(frozenset(), {})
    return Control(frozenset(document["paused"]), dict(document["breaker_resets"]))
