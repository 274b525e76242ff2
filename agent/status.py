"""`smartcron-agent status`: what an operator on the host asks first.

Spool depth and oldest report, rejected reports, the last delivery and the
collector's last answer, whether the collector answers now, runs in flight, and
lost runs: those waiting to be reported and those reported so far.
"""

from __future__ import annotations

import time
from typing import Any

from smartcron.wrapper.clock import iso
from smartcron.wrapper.running import find_lost_runs
from smartcron.wrapper.spool import count_rejected, spool_depth
from smartcron.wrapper.state import StateDir

from .client import Collector, NotNow
from .journal import read_journal
from .lost import runs_in_flight
from .settings import AgentSettings


def gather_status(settings: AgentSettings, state: StateDir) -> dict[str, Any]:
    journal = read_journal(state)
    depth, oldest = spool_depth(state)
    return {
        "state_dir": state.root,
        "collector": settings.collector,
        "collector_reachable": _reachable(settings),
        "spool_depth": depth,
        "oldest_report_at": _time(oldest),
        "rejected": count_rejected(state),
        "last_delivery_at": _time(journal.last_delivery_at),
        "last_answer": journal.last_answer,
        "last_answer_at": _time(journal.last_answer_at),
        "next_attempt_at": _time(journal.next_attempt_at or None),
        "running": runs_in_flight(state),
        "lost_waiting": len(find_lost_runs(state)),
        "lost_reported": journal.lost_reported,
    }


def _reachable(settings: AgentSettings) -> bool | None:
    if settings.collector is None:
        return None
    collector = Collector(settings.collector, None, settings.connect_timeout, 5.0)
    try:
        return collector.get("/healthz").status == 200
    except NotNow:
        return False
    finally:
        collector.close()


def _time(moment: float | None) -> str | None:
    return iso(moment) if moment is not None else None


def format_status(status: dict[str, Any]) -> str:
    reachable = {True: "yes", False: "NO", None: "no collector configured"}
    running = status["running"]
    lines = [
        f"state dir:        {status['state_dir']}",
        f"collector:        {status['collector'] or '-'} "
        f"(reachable: {reachable[status['collector_reachable']]})",
        f"spool:            {status['spool_depth']} report(s) waiting"
        + (f", oldest from {status['oldest_report_at']}" if status["oldest_report_at"] else ""),
        f"rejected:         {status['rejected']} in spool/rejected/",
        f"last delivery:    {status['last_delivery_at'] or 'never'}",
        f"last answer:      {status['last_answer'] or '-'}"
        + (f" (at {status['last_answer_at']})" if status["last_answer_at"] else ""),
        f"runs in flight:   {len(running)}",
        *(f"  {r['job']} pid {r['pid']} since {r['started_at']}" for r in running),
        f"lost runs:        {status['lost_waiting']} waiting, "
        f"{status['lost_reported']} reported by this agent",
    ]
    if status["next_attempt_at"] and status["next_attempt_at"] > iso(time.time()):
        lines.append(f"backing off until {status['next_attempt_at']}")
    return "\n".join(lines)
