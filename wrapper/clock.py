"""Time as the reports write it: UTC ISO 8601 with microseconds and a trailing Z."""

from __future__ import annotations

import datetime as _dt

_UTC = _dt.timezone.utc


def iso(timestamp: float) -> str:
    moment = _dt.datetime.fromtimestamp(timestamp, _UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> float:
    """Epoch seconds from an ISO 8601 time; `Z` is accepted on Python 3.10 too."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = _dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    return moment.timestamp()
