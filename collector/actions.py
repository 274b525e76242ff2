"""Admin actions on a job: pause, resume, reset-breaker. Each is audited.

The agent on each host pulls the result (GET /api/v1/control) into the host's
control.json, where the wrapper reads it before every run.
"""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from .db import tables
from .errors import ApiError
from .ingest import now_utc
from .state_store import refresh_states

ACTIONS = ("pause", "resume", "reset-breaker")


def apply(engine: Engine, job: str, action: str, actor: str, host: str | None = None) -> int:
    """Apply to the job on one host or on all its hosts. Returns the rows changed."""
    if action not in ACTIONS:
        raise ApiError(404, f"no action {action!r}; use one of {', '.join(ACTIONS)}")
    j = tables.jobs.c
    now = now_utc()
    values: dict[str, object]
    if action == "pause":
        values = {"paused": True, "paused_at": now, "paused_by": actor}
    elif action == "resume":
        values = {"paused": False, "paused_at": None, "paused_by": None}
    else:
        values = {"breaker_reset_at": now}
    where = [j.job == job] + ([j.host == host] if host else [])
    with engine.begin() as connection:
        changed = connection.execute(update(tables.jobs).where(*where).values(values)).rowcount
        if changed == 0:
            raise ApiError(404, f"no job named {job!r}" + (f" on host {host!r}" if host else ""))
        if action != "reset-breaker":  # a pause or a resume changes the job's state
            keys = [(k, h) for k, h in connection.execute(select(j.job, j.host).where(*where))]
            refresh_states(connection, keys, now)
        connection.execute(
            tables.audit.insert().values(
                at=now, actor=actor, action=action, job=job, host=host, detail=None
            )
        )
    return int(changed)
