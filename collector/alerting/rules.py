"""The rules' names, severities and the one shape every rule produces: an Occurrence."""

from __future__ import annotations

import dataclasses
import datetime as dt

# DESIGN.md's names; clock_skew is the host rule issue 11 adds (collector/clocks.py).
JOB_RUN_RULES = ("failed", "timeout", "killed_memory", "lost", "consecutive_failures")
JOB_RULES = (
    "missed", *JOB_RUN_RULES, "breaker_open", "too_slow", "too_fast", "still_running",
)  # fmt: skip
HOST_RULES = ("host_silent", "host_disk_low", "spool_backlog", "clock_skew")
NO_JOB = ""  # the job of a host-level alert

SEVERITIES = ("critical", "high", "warning", "info")
# A host's condition has no job priority to go by: a silent host stops every report.
HOST_SEVERITY = {"host_silent": "high", "host_disk_low": "warning",
                 "spool_backlog": "warning", "clock_skew": "warning"}  # fmt: skip

SUMMARY_LENGTH = 255
DETAIL_LENGTH = 60_000  # TEXT holds 64 KiB on MySQL


def severity_of(priority: int | None) -> str:
    """DESIGN.md: priority 1 critical, 2 high, 3-5 warning, 6-10 info."""
    if priority is None:
        return "warning"
    if priority <= 1:
        return "critical"
    if priority == 2:
        return "high"
    return "warning" if priority <= 5 else "info"


@dataclasses.dataclass(frozen=True)
class Occurrence:
    """A rule's condition seen: the alert it opens, or repeats if one is open. Times
    are naive UTC."""

    rule: str
    job: str
    host: str
    instant: dt.datetime  # the identity's moment (DESIGN.md)
    seen_at: dt.datetime  # this sighting: a repeat counts only if it is newer
    severity: str
    summary: str
    detail: str = ""
    run_id: str | None = None
