"""`smartcron-agent run`: a pass every --interval until SIGTERM or SIGINT.

A signal sets a flag: the pass in progress finishes its current request and the
loop exits 0. A request to a collector that has stalled could take a whole read
timeout, longer than systemd should wait, so STOP_GRACE_S after the signal the
agent exits 0 wherever it is. That is safe by construction: every step leaves
the state directory whole at any instant (a report is deleted only after the
collector took it, and sent again if not; a lost report is spooled before its
marker goes; files are replaced by rename). The wait between passes is an
Event, so a signal ends it at once. While the collector is backed
off and reports wait, the next pass comes when the backoff ends, if sooner.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from types import FrameType

from .journal import read_journal
from .onepass import open_state, run_pass
from .settings import AgentSettings

STOP_GRACE_S = 3.0


def run_daemon(settings: AgentSettings) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            return
        stop.set()
        deadline = threading.Timer(STOP_GRACE_S, os._exit, args=(0,))
        deadline.daemon = True
        deadline.start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.is_set():
        started = time.monotonic()
        try:
            run_pass(settings, stop.is_set)
        except OSError as error:
            # The state directory's trouble: say it, and try again next pass.
            print(f"smartcron-agent: warning: pass failed ({error})", file=sys.stderr, flush=True)
        stop.wait(_next_wait(settings, started))
    return 0


def _next_wait(settings: AgentSettings, started: float) -> float:
    wait = settings.interval - (time.monotonic() - started)
    try:
        journal = read_journal(open_state(settings))
    except Exception:  # noqa: BLE001 - only a hint for the timing
        return max(wait, 0.0)
    if journal.next_attempt_at:
        wait = min(wait, journal.next_attempt_at - time.time())
    return max(wait, 0.05)
