"""The run report (schema version 1) as a pydantic model: the contract between
the wrapper, the agent and the collector (DESIGN.md, "The run report").

The wrapper itself does not import this module (it builds plain dicts to start
fast); tests validate everything the wrapper writes against it, and the
collector validates everything it receives with it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .validate import MAX_TAG_LENGTH, MAX_TAGS, NAME_PATTERN

# pydantic's `pattern` searches; names must match whole.
NAME_REGEX = f"^{NAME_PATTERN.pattern}$"
_EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)


# Times a run could have: stored as DATETIME, compared, and fed to croniter. A time
# must carry its zone (UTC, written Z). Checked inside pydantic-core: a validator in
# Python here cost a tenth of the collector's CPU per batch.
Time = Annotated[AwareDatetime, Field(ge=_EARLIEST, lt=_LATEST)]
Tag = Annotated[str, Field(pattern=NAME_REGEX, max_length=MAX_TAG_LENGTH)]
ExitCode = Annotated[int, Field(ge=0, le=255)]
Seconds = Annotated[float, Field(ge=0, le=1e9)]
Bytes = Annotated[int, Field(ge=0, le=2**62)]

Status = Literal[
    "success",
    "failed",
    "timeout",
    "killed_memory",
    "skipped_locked",
    "skipped_breaker",
    "skipped_paused",
    "lost",
    "error",
]
# The groups every reader of reports needs: runs that failed (a lost run too) and
# runs a gate stopped, which are not runs of the job at all.
FAILED_STATUSES = ("failed", "timeout", "killed_memory", "error", "lost")
SKIPPED_STATUSES = ("skipped_locked", "skipped_breaker", "skipped_paused")
AttemptStatus = Literal["success", "failed", "timeout", "killed_memory", "error"]


class AttemptReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    started_at: Time
    finished_at: Time
    exit_code: ExitCode | None
    signal: int | None = Field(ge=1, le=64)
    status: AttemptStatus


class RunReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: Literal[1] = Field(alias="schema")
    run_id: UUID
    job: str = Field(pattern=NAME_REGEX, max_length=100)
    host: str = Field(min_length=1, max_length=255)
    user: str = Field(max_length=255)
    command: str = Field(max_length=65536)
    schedule: str | None = Field(max_length=255)
    priority: int = Field(ge=1, le=10)
    tags: list[Tag] = Field(max_length=MAX_TAGS)
    trigger: Literal["cron", "manual"]
    status: Status
    exit_code: ExitCode | None
    signal: int | None = Field(ge=1, le=64)
    started_at: Time
    finished_at: Time
    duration_s: Seconds
    attempts: list[AttemptReport] = Field(max_length=101)
    peak_rss_bytes: Bytes | None
    cpu_user_s: Seconds | None
    cpu_system_s: Seconds | None
    stdout_tail: str = Field(max_length=131072)
    stderr_tail: str = Field(max_length=131072)
    output_bytes: Bytes
    output_truncated: bool
    # Added within schema 1, optional on read: bytes of output the wrapper's own
    # stdout/stderr reader never got (it stalled or went away; the tails keep them).
    output_dropped_bytes: Bytes = 0
    # Added within schema 1: the kernel refused the wrapper's signals to the job
    # (EPERM: a setuid program such as sudo under a non-root wrapper).
    signal_denied: bool = False
    breaker_state: Literal["closed", "open", "half_open"]
    wrapper_version: str = Field(min_length=1, max_length=32)
