"""One model per state file: jobs/NAME.json, running/RUN_ID.json, control.json.

State files are input like any other: a person edits them, a full disk cuts
them short, a hostile user plants them. Each parser takes the parsed JSON and
returns the checked document, with every time normalised to the reports' form,
or raises ValueError naming the first bad value. The caller (state.load_state_file)
sets a bad file aside and goes on as if it were missing.

Plain functions rather than pydantic models: these files are read on every run,
and importing pydantic would more than double the wrapper's start-up time and
memory (see wrapper/__init__.py). The rules are the same as the report schema's.
"""

from __future__ import annotations

import math
from typing import Any

from . import limits
from .clock import iso, parse_iso
from .state import is_run_id
from .validate import is_job_name

# A time later than this past the wrapper's clock is not a time this host wrote.
# Within it, it may well be: when the clock steps backwards (an RTC kept in local
# time is up to 14 hours off until NTP puts it right), everything written before the
# step lies ahead. Those files are ours, not corrupt; a time in 2199 is not.
FUTURE_SLACK_S = 86_400.0
EARLIEST = 946_684_800.0  # 2000-01-01: as the report schema's earliest time
MAX_FAILURES = 1000
MAX_COMMAND_WORDS = 10_000
MAX_TEXT = 65_536

BREAKER_STATES = ("closed", "open", "half_open")
STATUSES = frozenset(
    {"success", "failed", "timeout", "killed_memory", "skipped_locked", "skipped_breaker",
     "skipped_paused", "lost", "error"}
)  # fmt: skip

Document = dict[str, Any]


def parse_job_state(document: object, now: float) -> Document:
    """jobs/NAME.json: the breaker of one job."""
    doc = _object(document, "the file")
    state = doc.get("state", "closed")
    if not isinstance(state, str) or state not in BREAKER_STATES:
        raise ValueError(f"state: {_show(state)} is not one of {', '.join(BREAKER_STATES)}")
    failures = doc.get("failures", [])
    if not isinstance(failures, list) or len(failures) > MAX_FAILURES:
        raise ValueError(f"failures: must be a list of at most {MAX_FAILURES} times")
    last_status = doc.get("last_status")
    if last_status is not None and not (isinstance(last_status, str) and last_status in STATUSES):
        raise ValueError(f"last_status: {_show(last_status)} is not a run status")
    return {
        "state": state,
        "failures": [_time(t, "failures[]", now) for t in failures],
        "opened_at": _optional_time(doc, "opened_at", now),
        "trial_started_at": _optional_time(doc, "trial_started_at", now),
        "last_success_at": _optional_time(doc, "last_success_at", now),
        "last_status": last_status,
        "reset_applied_at": _optional_time(doc, "reset_applied_at", now),
    }


def parse_marker(document: object, now: float, run_id: str) -> Document:
    """running/RUN_ID.json: a run in flight. `run_id` is the file's name, which the
    document must repeat (a report's path is built from it)."""
    doc = _object(document, "the marker")
    if doc.get("run_id") != run_id or not is_run_id(run_id):
        raise ValueError(f"run_id: {_show(doc.get('run_id'))} does not match the file name")
    job = doc.get("job")
    if not _is_name(job):
        raise ValueError(f"job: {_show(job)} is not a job name")
    command = doc.get("command")
    if (
        not isinstance(command, list)
        or not command
        or len(command) > MAX_COMMAND_WORDS
        or not all(isinstance(word, str) and len(word) <= MAX_TEXT for word in command)
    ):
        raise ValueError("command: must be a non-empty list of strings")
    tags = doc.get("tags", [])
    if (
        not isinstance(tags, list)
        or len(tags) > limits.TAGS_MAX
        or not all(_is_tag(t) for t in tags)
        or limits.joined_tags_length(tags) > limits.TAGS_JOINED_MAX
    ):
        raise ValueError(f"tags: must be a list of at most {limits.TAGS_MAX} tags")
    schedule = doc.get("schedule")
    if schedule is not None and not (
        isinstance(schedule, str) and len(schedule) <= limits.SCHEDULE_MAX
    ):
        raise ValueError(
            f"schedule: must be a string of at most {limits.SCHEDULE_MAX} characters, or null"
        )
    zone = doc.get("timezone")
    if zone is not None and not (
        isinstance(zone, str)
        and len(zone) <= limits.ZONE_MAX
        and limits.ZONE_PATTERN.fullmatch(zone)
    ):
        raise ValueError(f"timezone: {_show(zone)} is not a time zone name")
    boot = doc.get("boot_id", "")
    if not isinstance(boot, str) or len(boot) > 64:
        raise ValueError("boot_id: must be a string")
    pid = _integer(doc, "pid", 1, 2**22, required=True)
    return {
        "run_id": run_id,
        "job": job,
        "command": command,
        "schedule": schedule,
        "timezone": zone,
        "priority": _integer(doc, "priority", limits.PRIORITY_MIN, limits.PRIORITY_MAX, default=5),
        "tags": tags,
        "pid": pid,
        "pid_start_ticks": _integer(doc, "pid_start_ticks", 0, 2**63),
        "child_pid": _integer(doc, "child_pid", 1, 2**22),
        "child_start_ticks": _integer(doc, "child_start_ticks", 0, 2**63),
        "pgid": _integer(doc, "pgid", 1, 2**22),
        "started_at": _time(doc.get("started_at"), "started_at", now),
        "boot_id": boot,
        # The run's --timeout, for the agent's heartbeat (runs in flight); optional.
        "timeout_s": _seconds(doc.get("timeout_s"), "timeout_s"),
    }


def parse_control(document: object, now: float) -> Document:
    """control.json: pauses and breaker resets, from the agent or typed by hand."""
    doc = _object(document, "the file")
    paused = doc.get("paused", [])
    if not isinstance(paused, list) or not all(_is_name(job) for job in paused):
        raise ValueError("paused: must be a list of job names")
    resets = doc.get("breaker_resets", {})
    if not isinstance(resets, dict) or not all(_is_name(job) for job in resets):
        raise ValueError("breaker_resets: must map job names to times")
    return {
        "paused": list(paused),
        "breaker_resets": {
            job: _time(at, f"breaker_resets.{job}", now) for job, at in resets.items()
        },
    }


def _object(document: object, what: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ValueError(f"{what} is not a JSON object")
    return document


def _time(value: object, field: str, now: float) -> str:
    """An ISO 8601 time with a zone (or Z), from 2000 to a few minutes from now,
    written back the way the wrapper writes times."""
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"{field}: {_show(value)} is not an ISO 8601 time")
    try:
        moment = parse_iso(value)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"{field}: {_show(value)} is not an ISO 8601 time") from None
    if not math.isfinite(moment) or moment < EARLIEST:
        raise ValueError(f"{field}: {_show(value)} is before 2000")
    if moment > now + FUTURE_SLACK_S:
        raise ValueError(f"{field}: {_show(value)} is in the future")
    return iso(moment)


def _seconds(value: object, field: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= limits.SECONDS_MAX
    ):
        raise ValueError(f"{field}: {_show(value)} is not a number of seconds, or null")
    return float(value)


def _optional_time(doc: dict[str, Any], field: str, now: float) -> str | None:
    value = doc.get(field)
    return None if value is None else _time(value, field, now)


def _integer(
    doc: dict[str, Any],
    field: str,
    low: int,
    high: int,
    *,
    default: int | None = None,
    required: bool = False,
) -> Any:
    value = doc.get(field, default)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{field}: {_show(value)} is not a whole number from {low} to {high}")
    return value


def _is_name(value: object) -> bool:
    return isinstance(value, str) and is_job_name(value)


def _is_tag(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= limits.TAG_MAX
        and limits.TAG_PATTERN.fullmatch(value) is not None
    )


def _show(value: object) -> str:
    """A bad value as the warning shows it: short, on one line."""
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "an object"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
