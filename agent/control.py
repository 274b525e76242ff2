"""Pull the host's pauses and breaker resets from the collector into control.json.

The collector's answer is input: it is checked with the wrapper's own reader of
control.json (statefiles.parse_control) before it is written, atomically, so the
wrapper reads the old file or the new one at its next run, never half of one.
When the collector cannot be asked, control.json stays as it is: a pause stays
a pause while the collector is down.
"""

from __future__ import annotations

import time

from smartcron.wrapper.state import StateDir, parse_json_file, write_json_atomic
from smartcron.wrapper.statefiles import parse_control

from .client import Collector

CONTROL = "/api/v1/control"


def sync_control(state: StateDir, collector: Collector, host: str) -> bool:
    """Fetch and write control.json; True when the file changed. NotNow when the
    collector cannot answer now; ValueError when it refuses, or its answer is not a
    control document."""
    answer = collector.get(CONTROL, {"host": host})
    if answer.status != 200:
        raise ValueError(f"collector answered {answer.status}: {answer.error_text()}")
    document = parse_control(answer.document, now=time.time())
    path = state.control_path()
    try:
        current = parse_control(parse_json_file(path), now=time.time())
    except (OSError, ValueError):
        current = None  # missing or bad: the collector's answer replaces it
    if current == document:
        return False
    write_json_atomic(path, document)
    return True
