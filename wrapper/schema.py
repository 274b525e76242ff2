"""The run report (schema version 1) as a pydantic model: the contract between
the wrapper, the agent and the collector (DESIGN.md, "The run report").

The wrapper itself does not import this module (it builds plain dicts to start
fast); tests validate everything the wrapper writes against it, and the
collector validates everything it receives with it.

Readers ignore fields they do not know (DESIGN.md, "Growing the contract"): a
newer wrapper may add a field within schema 1, and an older collector must still
take its reports, storing what it knows. The unknown fields are kept aside in
`model_extra` (unused), so that a reader can still tell whether the body they
came in was strict JSON (the collector refuses NaN there as anywhere else).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from . import limits

_EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)


# Times a run could have: stored as DATETIME, compared, and fed to croniter. A time
# must carry its zone (UTC, written Z). Checked inside pydantic-core: a validator in
# Python here cost a tenth of the collector's CPU per batch.
Time = Annotated[AwareDatetime, Field(ge=_EARLIEST, lt=_LATEST)]
Tag = Annotated[str, Field(pattern=limits.TAG_REGEX, max_length=limits.TAG_MAX)]
ExitCode = Annotated[int, Field(ge=0, le=limits.EXIT_CODE_MAX)]
Signal = Annotated[int, Field(ge=limits.SIGNAL_MIN, le=limits.SIGNAL_MAX)]
Seconds = Annotated[float, Field(ge=0, le=limits.SECONDS_MAX)]
Bytes = Annotated[int, Field(ge=0, le=limits.BYTES_MAX)]


def _check_joined_tags(tags: list[str]) -> list[str]:
    if limits.joined_tags_length(tags) > limits.TAGS_JOINED_MAX:
        raise ValueError(f"the tags joined by commas exceed {limits.TAGS_JOINED_MAX} characters")
    return tags


Tags = Annotated[list[Tag], Field(max_length=limits.TAGS_MAX), AfterValidator(_check_joined_tags)]

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


# Unknown fields are taken and left unused, never refused: see the module's docstring.
READ_CONFIG = ConfigDict(extra="allow")


class AttemptReport(BaseModel):
    model_config = READ_CONFIG

    started_at: Time
    finished_at: Time
    exit_code: ExitCode | None
    signal: Signal | None
    status: AttemptStatus
    # Added within schema 1, present only on an attempt whose command could not be
    # started (exec failed: not found, not executable, EAGAIN): why, in words.
    error: str | None = Field(default=None, min_length=1, max_length=limits.REASON_MAX)


class Expect(BaseModel):
    """Added within schema 1 (optional on read): the alert options the line set. Each
    key is absent (or null) when not set, and the collector applies its default
    (wrapper/expect.py); the whole object is absent from reports that do not know
    them, and the job then keeps what it had."""

    model_config = READ_CONFIG

    grace_s: Annotated[float, Field(gt=0, le=limits.SECONDS_MAX)] | None = None
    min_duration_s: Seconds | None = None
    max_duration_s: Annotated[float, Field(gt=0, le=limits.SECONDS_MAX)] | None = None
    alert_after: Annotated[int, Field(ge=1, le=limits.ALERT_AFTER_MAX)] | None = None

    @model_validator(mode="after")
    def _minimum_within_maximum(self) -> Expect:
        low, high = self.min_duration_s, self.max_duration_s
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_duration_s ({low:g}) is above max_duration_s ({high:g})")
        return self


class RunReport(BaseModel):
    model_config = READ_CONFIG

    schema_: Literal[1] = Field(alias="schema")
    run_id: UUID
    job: str = Field(pattern=limits.NAME_REGEX, max_length=limits.NAME_MAX)
    host: str = Field(min_length=1, max_length=limits.HOST_MAX)
    user: str = Field(max_length=limits.USER_MAX)
    command: str = Field(max_length=limits.COMMAND_MAX)
    schedule: str | None = Field(max_length=limits.SCHEDULE_MAX)
    # Added within schema 1 (optional on read): the IANA zone the schedule is read in;
    # absent or null from older wrappers, whose schedules are read as UTC.
    timezone: str | None = Field(
        default=None, pattern=limits.ZONE_REGEX, max_length=limits.ZONE_MAX
    )
    expect: Expect | None = None
    priority: int = Field(ge=limits.PRIORITY_MIN, le=limits.PRIORITY_MAX)
    tags: Tags
    trigger: Literal["cron", "manual"]
    status: Status
    exit_code: ExitCode | None
    signal: Signal | None
    started_at: Time
    # Null for a lost run only (DESIGN.md): when it ended, and so its duration, are unknown.
    finished_at: Time | None
    duration_s: Seconds | None
    attempts: list[AttemptReport] = Field(max_length=limits.ATTEMPTS_MAX)
    peak_rss_bytes: Bytes | None
    cpu_user_s: Seconds | None
    cpu_system_s: Seconds | None
    stdout_tail: str = Field(max_length=limits.TAIL_MAX)
    stderr_tail: str = Field(max_length=limits.TAIL_MAX)
    output_bytes: Bytes
    output_truncated: bool
    # Added within schema 1, optional on read: bytes of output the wrapper's own
    # stdout/stderr reader never got (it stalled or went away; the tails keep them).
    output_dropped_bytes: Bytes = 0
    # Added within schema 1: the kernel refused the wrapper's signals to the job
    # (EPERM: a setuid program such as sudo under a non-root wrapper).
    signal_denied: bool = False
    # Added within schema 1, present only when it happened: the run wanted its lock and
    # ran without it (why: an OS error and a path), so it may have overlapped another.
    lock_error: str | None = Field(default=None, min_length=1, max_length=limits.REASON_MAX)
    breaker_state: Literal["closed", "open", "half_open"]
    wrapper_version: str = Field(min_length=1, max_length=limits.WRAPPER_VERSION_MAX)

    @model_validator(mode="after")
    def _lost_runs_only_are_unmeasured(self) -> RunReport:
        if self.status == "lost":
            # A wrapper or agent before 0.2 gave a lost run the moment its loss was
            # noticed as its end: not a measurement, so it is not kept as one.
            self.finished_at = self.duration_s = None
        elif self.finished_at is None or self.duration_s is None:
            raise ValueError(
                "finished_at and duration_s may be null for a lost run only, "
                f"and this run is {self.status}"
            )
        return self
