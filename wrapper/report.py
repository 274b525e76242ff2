"""The run report (schema version 1, see DESIGN.md), built as a plain dict.

The wrapper builds reports without pydantic to keep its start-up small; the
pydantic model in schema.py validates the same shape on the collector's side,
and the tests check every report the wrapper writes against it.
"""

from __future__ import annotations

import os
import pwd
import shlex

from . import __version__
from .clock import iso
from .redact import redact

SCHEMA_VERSION = 1


def new_run_id() -> str:
    """A random (version 4) UUID; os.urandom spares importing uuid on every run."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def build_report(
    *,
    run_id: str,
    job: str,
    command: list[str],
    schedule: str | None,
    priority: int,
    tags: tuple[str, ...],
    status: str,
    started_at: float,
    finished_at: float,
    attempts: list[dict[str, object]] | None = None,
    exit_code: int | None = None,
    signal: int | None = None,
    peak_rss_bytes: int | None = None,
    cpu_user_s: float | None = None,
    cpu_system_s: float | None = None,
    stdout_tail: str = "",
    stderr_tail: str = "",
    output_bytes: int = 0,
    output_truncated: bool = False,
    breaker_state: str = "closed",
    trigger: str = "cron",
    host: str | None = None,
) -> dict[str, object]:
    return {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "job": job,
        "host": host or os.uname().nodename,
        "user": current_user(),
        "command": redact(shlex.join(command)),
        "schedule": schedule,
        "priority": priority,
        "tags": list(tags),
        "trigger": trigger,
        "status": status,
        "exit_code": exit_code,
        "signal": signal,
        "started_at": iso(started_at),
        "finished_at": iso(finished_at),
        "duration_s": round(max(finished_at - started_at, 0.0), 6),
        "attempts": attempts or [],
        "peak_rss_bytes": peak_rss_bytes,
        "cpu_user_s": None if cpu_user_s is None else round(cpu_user_s, 6),
        "cpu_system_s": None if cpu_system_s is None else round(cpu_system_s, 6),
        "stdout_tail": redact(stdout_tail) if stdout_tail else "",
        "stderr_tail": redact(stderr_tail) if stderr_tail else "",
        "output_bytes": output_bytes,
        "output_truncated": output_truncated,
        "breaker_state": breaker_state,
        "wrapper_version": __version__,
    }
