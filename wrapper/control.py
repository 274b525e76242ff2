"""control.json: pauses and breaker resets that the agent pulls from the collector.

{"paused": ["nightly_report", ...], "breaker_resets": {"vend_sync": "2026-11-23T10:00:00.000000Z"}}
"""

from __future__ import annotations

from .state import read_json


class Control:
    def __init__(self, paused: frozenset[str], breaker_resets: dict[str, str]) -> None:
        self.paused = paused
        self.breaker_resets = breaker_resets

    def is_paused(self, job: str) -> bool:
        return job in self.paused

    def reset_requested_at(self, job: str) -> str | None:
        return self.breaker_resets.get(job)


def read_control(path: str) -> Control:
    """The host's control file. Missing means nothing is paused; a corrupt one raises
    ValueError, which the caller turns into a warning (and runs the job)."""
    document = read_json(path)
    if document is None:
        return Control(frozenset(), {})
    if not isinstance(document, dict):
        raise ValueError("control.json is not a JSON object")
    paused = document.get("paused", [])
    resets = document.get("breaker_resets", {})
    if not isinstance(paused, list) or not isinstance(resets, dict):
        raise ValueError("control.json: 'paused' must be a list and 'breaker_resets' an object")
    return Control(
        frozenset(str(job) for job in paused), {str(k): str(v) for k, v in resets.items()}
    )
