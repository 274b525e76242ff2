"""The circuit breaker: stop running a job that keeps failing, try again later.

closed ──(threshold failures within window)──► open ──(cooldown)──► half_open
   ▲                                                                    │
   └──────────── trial run succeeds ◄─────── one trial run ─────────────┘
                 (a failed trial reopens)

The decisions are pure functions of (state, now), so tests inject time; the
state lives in jobs/NAME.json, changed under an flock of its own so that
concurrent wrappers (--no-lock) never lose each other's updates.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .clock import iso, parse_iso
from .state import load_state_file, open_state_file, write_json_atomic
from .statefiles import parse_job_state

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
RUN, TRIAL, SKIP = "run", "trial", "skip"
FAILURES = frozenset({"failed", "timeout", "killed_memory", "error"})

State = dict[str, Any]


def new_state() -> State:
    return {
        "state": CLOSED,
        "failures": [],
        "opened_at": None,
        "trial_started_at": None,
        "last_success_at": None,
        "last_status": None,
        "reset_applied_at": None,
    }


def decide(state: State, now: float, cooldown: float) -> str:
    """RUN, TRIAL (the one run allowed after the cooldown) or SKIP."""
    if state["state"] == CLOSED:
        return RUN
    # A half-open breaker whose trial never reported back (its wrapper was killed)
    # gets a new trial after another cooldown rather than staying stuck.
    since = state["trial_started_at"] if state["state"] == HALF_OPEN else state["opened_at"]
    if since is None or now - parse_iso(since) >= cooldown:
        return TRIAL
    return SKIP


def start_trial(state: State, now: float) -> State:
    return state | {"state": HALF_OPEN, "trial_started_at": iso(now)}


def record(state: State, now: float, status: str, threshold: int, window: float) -> State:
    """The state after a run that ended with `status`."""
    state = dict(state)
    state["last_status"] = status
    if status not in FAILURES:
        if status == "success":
            state.update(state=CLOSED, failures=[], opened_at=None, trial_started_at=None)
            state["last_success_at"] = iso(now)
        return state
    recent = [t for t in state["failures"] if now - parse_iso(t) < window]
    recent.append(iso(now))
    state["failures"] = recent[-max(threshold, 1) :]
    if state["state"] == HALF_OPEN or len(recent) >= threshold:
        state.update(state=OPEN, opened_at=iso(now), trial_started_at=None)
    return state


def reset(state: State) -> State:
    return state | {"state": CLOSED, "failures": [], "opened_at": None, "trial_started_at": None}


def apply_remote_reset(state: State, reset_at: str | None) -> State:
    """Close the breaker if the collector asked for a reset we have not applied yet."""
    if reset_at is None:
        return state
    applied = state.get("reset_applied_at")
    if applied is not None and parse_iso(applied) >= parse_iso(reset_at):
        return state
    return reset(state) | {"reset_applied_at": reset_at}


class BreakerStore:
    """jobs/NAME.json, read and written under jobs/.NAME.lock.

    A bad file is handed to `on_bad(path, problem)` (the wrapper sets it aside and
    warns) and the breaker starts afresh, closed: a job is never kept from running
    by a file it cannot read.
    """

    def __init__(
        self,
        path: str,
        on_bad: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.on_bad = on_bad
        self.clock = clock  # "now", against which a time in the file is too far ahead
        directory, base = os.path.split(path)
        self._lock_path = os.path.join(directory, f".{base}.lock")

    def load(self) -> State:
        now = self.clock()
        document = load_state_file(self.path, lambda doc: parse_job_state(doc, now), self.on_bad)
        return document if document is not None else new_state()

    @contextmanager
    def update(self) -> Iterator[list[State]]:
        """`with store.update() as box: box[0] = f(box[0])` changes the state atomically."""
        fd = open_state_file(self._lock_path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            box = [self.load()]
            before = dict(box[0])
            yield box
            if box[0] != before:
                write_json_atomic(self.path, box[0])
        finally:
            os.close(fd)
