"""The run report (schema version 1) as a pydantic model: the contract between
the wrapper, the agent and the collector (DESIGN.md, "The run report").

The wrapper itself does not import this module (it builds plain dicts to start
fast); tests validate everything the wrapper writes against it, and the
collector validates everything it receives with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .validate import NAME_PATTERN

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
AttemptStatus = Literal["success", "failed", "timeout", "killed_memory", "error"]


class AttemptReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    started_at: datetime
    finished_at: datetime
    exit_code: int | None
    signal: int | None = Field(ge=1, le=64)
    status: AttemptStatus


class RunReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: Literal[1] = Field(alias="schema")
    run_id: UUID
    job: str = Field(pattern=NAME_PATTERN.pattern, max_length=100)
    host: str = Field(min_length=1, max_length=255)
    user: str = Field(max_length=255)
    command: str = Field(max_length=65536)
    schedule: str | None = Field(max_length=255)
    priority: int = Field(ge=1, le=10)
    tags: list[str]
    trigger: Literal["cron", "manual"]
    status: Status
    exit_code: int | None
    signal: int | None = Field(ge=1, le=64)
    started_at: datetime
    finished_at: datetime
    duration_s: float = Field(ge=0)
    attempts: list[AttemptReport]
    peak_rss_bytes: int | None = Field(ge=0)
    cpu_user_s: float | None = Field(ge=0)
    cpu_system_s: float | None = Field(ge=0)
    stdout_tail: str = Field(max_length=131072)
    stderr_tail: str = Field(max_length=131072)
    output_bytes: int = Field(ge=0)
    output_truncated: bool
    breaker_state: Literal["closed", "open", "half_open"]
    wrapper_version: str
