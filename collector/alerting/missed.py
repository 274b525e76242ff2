"""`missed`: a job that the state module (collector/state.py) has found late.

The engine never decides lateness itself: it reads the state, late_after_at and
missed_at that state_store stored. Newly late jobs are those whose late_after_at fell
since the last pass (ix_jobs_late_after); a sweep every few minutes also looks at every
job in state 'late' (ix_jobs_state_order), for what no moment announces (a job resumed
late, a pass that failed). The identity is the scheduled moment in UTC, missed_at:
however the clocks change, one slot is one instant, so DST never opens it twice nor
skips it. A job that stays late opens no second alert for its next slots: missed_at is
still the first slot missed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, select

from ..db import tables
from ..db.keys import rows_by_job_key
from ..state import shown
from .rules import Occurrence, severity_of
from .silence import Silencer
from .store import AlertKey, OpenAlert, Transitions, naive, open_alerts_by_rule

_j, _a = tables.jobs.c, tables.alerts.c
STILL_MISSED = ("late",)  # a late job whose run is in flight is 'running': not missed
_COLUMNS = (_j.job, _j.host, _j.priority, _j.state, _j.state_reason, _j.missed_at,
            _j.late_after_at, _j.timezone, _j.paused, _j.paused_by)  # fmt: skip


def resolve_missed(changes: Transitions) -> dict[AlertKey, OpenAlert]:
    """Resolve the open missed alerts whose job is no longer late on that slot (a run
    came, the job was paused or removed). Returns those still open."""
    still: dict[AlertKey, OpenAlert] = {}
    alerts = open_alerts_by_rule(changes.connection, ("missed",))
    if not alerts:
        return still
    states = _states_of(changes, {(a.job, a.host) for a in alerts})
    for alert in alerts:
        state = states.get((alert.job, alert.host))
        if state is not None and state[0] in STILL_MISSED and state[1] == alert.instant:
            still[alert.key] = alert
        else:
            changes.resolve(alert)
    return still


def _states_of(changes: Transitions, keys: set[tuple[str, str]]) -> dict[Any, Any]:
    rows = rows_by_job_key(
        changes.connection, (_j.job, _j.host, _j.state, _j.missed_at), list(keys)
    )
    return {(row["job"], row["host"]): (row["state"], naive(row["missed_at"])) for row in rows}


def newly_late(since: dt.datetime, until: dt.datetime) -> ColumnElement[bool]:
    """Jobs whose moment of lateness fell in (since, until]: a range of the index."""
    return (_j.late_after_at > since) & (_j.late_after_at <= until) & (_j.state == "late")


def all_late() -> ColumnElement[bool]:
    return _j.state == "late"


def open_missed(
    changes: Transitions,
    silencer: Silencer,
    where: ColumnElement[bool],
    open_now: dict[AlertKey, OpenAlert],
    outage: tuple[dt.datetime, dt.datetime] | None,
) -> None:
    """An alert for each late job matching `where` without one open for its slot.
    `outage`: (from, until) the collector was down (and then held back), if lately."""
    found = []
    for row in changes.connection.execute(select(*_COLUMNS).where(where)):
        missed_at = naive(row.missed_at)
        if missed_at is None or ("missed", row.job, row.host) in open_now:
            continue
        slot = shown(missed_at, row.timezone)
        detail = row.state_reason
        late_at = naive(row.late_after_at)
        if outage is not None and late_at is not None and outage[0] < late_at <= outage[1]:
            # Its own downtime is not the jobs' fault: say so, once, in each alert.
            detail += (f". Note: the collector itself was down from {shown(outage[0], None)}"
                       f" to {shown(outage[1], None)}; the agents have since had time to "
                       "send what their spools held")  # fmt: skip
        seen = Occurrence("missed", row.job, row.host, missed_at, missed_at,
                          severity_of(row.priority), f"{row.job} on {row.host}: no run of {slot}",
                          detail)  # fmt: skip
        found.append((seen, silencer.why(row.job, row.host, row.paused_by, bool(row.paused))))
    # Many jobs can become late at once (a database down for all of them): in bulk.
    changes.open_many("missed", found, open_now)
