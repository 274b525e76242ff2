"""The run report (schema version 1, see DESIGN.md), built as a plain dict.

The wrapper builds reports without pydantic to keep its start-up small; the
pydantic model in schema.py validates the same shape on the collector's side,
and the tests check every report the wrapper writes against it.
"""

from __future__ import annotations

import os
import pwd
import shlex

from . import __version__, limits
from .clock import iso
from .redact import redact

SCHEMA_VERSION = 1
# The report schema's limit for the command (cut_to says why it is cut to it).
MAX_COMMAND_CHARS = limits.COMMAND_MAX
CUT = " …[cut]"


def new_run_id() -> str:
    """A random (version 4) UUID; os.urandom spares importing uuid on every run."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def current_user() -> str:
    try:
        return as_text(pwd.getpwuid(os.geteuid()).pw_name)
    except KeyError:
        return str(os.geteuid())


def as_text(value: str) -> str:
    """`value` as text any JSON parser takes. Python hands over bytes of argv that are
    not UTF-8 as lone surrogates, which strict JSON parsers (the collector's) refuse:
    those bytes are written as \\xNN instead."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def command_text(command: list[str]) -> str:
    """The command line as the report shows it: quoted, secrets redacted, valid text,
    and within the schema's length."""
    return cut_to(redact(shlex.join(as_text(arg) for arg in command)), MAX_COMMAND_CHARS)


def cut_to(text: str, limit: int) -> str:
    """`text` within the schema's `limit`: a longer one would be refused by the collector
    on every delivery, so its start is kept and it says it is cut."""
    return text if len(text) <= limit else text[: limit - len(CUT)] + CUT


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
    finished_at: float | None,
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
    output_dropped_bytes: int = 0,
    signal_denied: bool = False,
    breaker_state: str = "closed",
    trigger: str = "cron",
    host: str | None = None,
    timezone: str | None = None,
    lock_error: str | None = None,
    expect: dict[str, object] | None = None,
) -> dict[str, object]:
    report: dict[str, object] = {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "job": job,
        "host": host or os.uname().nodename,
        "user": current_user(),
        "command": command_text(command),
        "schedule": schedule,
        "timezone": timezone,
        "priority": priority,
        "tags": list(tags),
        "trigger": trigger,
        "status": status,
        "exit_code": exit_code,
        "signal": signal,
        "started_at": iso(started_at),
        # None for a lost run only: its end is unknown (DESIGN.md, "The run report").
        "finished_at": None if finished_at is None else iso(finished_at),
        "duration_s": None if finished_at is None else round(max(finished_at - started_at, 0.0), 6),
        "attempts": attempts or [],
        "peak_rss_bytes": peak_rss_bytes,
        "cpu_user_s": None if cpu_user_s is None else round(cpu_user_s, 6),
        "cpu_system_s": None if cpu_system_s is None else round(cpu_system_s, 6),
        "stdout_tail": redact(stdout_tail) if stdout_tail else "",
        "stderr_tail": redact(stderr_tail) if stderr_tail else "",
        "output_bytes": output_bytes,
        "output_truncated": output_truncated,
        "output_dropped_bytes": output_dropped_bytes,
        "signal_denied": signal_denied,
        "breaker_state": breaker_state,
        "wrapper_version": __version__,
    }
    if lock_error is not None:
        # Added within schema 1, only when it happened: the run wanted its lock and
        # ran without it (a read-only state directory), so it may have overlapped.
        # The path in it may be any bytes, and any length.
        report["lock_error"] = cut_to(as_text(lock_error) or "unknown", limits.REASON_MAX)
    if expect is not None:
        # The alert options the line set (expect.py); absent from a report that does not
        # know them (a lost run's), so the collector keeps what the job's row holds.
        report["expect"] = expect
    return report
