"""agent/agent.json under the state directory: what the agent remembers between passes.

The last delivery and the collector's answer (for `status`), the backoff in
force while the collector is down (so that a `once` line every minute backs off
too), the digest of the jobs last sent in a heartbeat, and how many lost runs it
has reported. It is input like every state file: a bad one is set aside as
.corrupt with one warning, and the agent starts afresh.
"""

from __future__ import annotations

import os
import sys

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from smartcron.wrapper.state import StateDir, load_state_file, set_aside, write_json_atomic

DIRECTORY = "agent"


class Journal(BaseModel):
    model_config = ConfigDict(extra="ignore")

    last_delivery_at: float | None = None  # the last time the collector took reports
    last_answer: str | None = Field(default=None, max_length=500)  # the last answer, any
    last_answer_at: float | None = None
    reachable: bool | None = None
    failures: int = Field(default=0, ge=0, le=10_000)  # unanswered attempts in a row
    next_attempt_at: float = 0.0  # no shipping before this (backoff, Retry-After)
    shipped: int = Field(default=0, ge=0)
    rejected: int = Field(default=0, ge=0)
    lost_reported: int = Field(default=0, ge=0)
    jobs_digest: str | None = Field(default=None, max_length=128)
    last_heartbeat_at: float | None = None
    last_control_at: float | None = None


def journal_path(state: StateDir) -> str:
    return state.path(DIRECTORY, "agent.json")


def read_journal(state: StateDir) -> Journal:
    def parse(document: object) -> Journal:
        try:
            return Journal.model_validate(document)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the file"
            raise ValueError(f"{where}: {first['msg']}") from None

    try:
        found = load_state_file(journal_path(state), parse, _set_aside)
    except OSError:
        found = None  # unreadable: start afresh, the next write tells if the disk is bad
    return found or Journal()


def write_journal(state: StateDir, journal: Journal) -> None:
    state.ensure(DIRECTORY)
    write_json_atomic(journal_path(state), journal.model_dump(), durable=False)


def _set_aside(path: str, problem: str) -> None:
    try:
        target = set_aside(path)
    except OSError:
        target = "(could not move it)"
    print(
        f"smartcron-agent: warning: {path}: {problem}; set aside as {target}, starting afresh",
        file=sys.stderr,
    )


def pass_lock_path(state: StateDir) -> str:
    """One pass at a time on a host: two agents (a `once` line and the daemon) take
    turns, so no report is ever in two POSTs at once."""
    return os.path.join(state.ensure(DIRECTORY), "pass.lock")
