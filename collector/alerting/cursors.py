"""The engine's bookkeeping in smartcron_alert_cursors: one row per cursor, a position
(a run id) and a moment."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select, update

from ..db import tables
from .store import insert_ignore, naive

_c = tables.alert_cursors.c

RUNS = "runs"  # position: every run with a smaller or equal id has been examined
LATE = "late"  # at: jobs whose late_after_at is at or before it have been examined
PASS = "pass"  # at: when the last pass ran (a gap means the collector was down)
OUTAGE_FROM = "outage_from"  # at: the last pass before the collector's latest outage
OUTAGE_TO = "outage_to"  # at: the first pass after it
SWEEP = "sweep"  # at: the last full look at the late jobs and the open alerts


def read_cursors(connection: Connection) -> dict[str, tuple[int | None, dt.datetime | None]]:
    rows = connection.execute(select(_c.name, _c.position, _c.at))
    return {row.name: (row.position, naive(row.at)) for row in rows}


def write_cursor(
    connection: Connection,
    name: str,
    now: dt.datetime,
    position: int | None = None,
    at: dt.datetime | None = None,
) -> None:
    values = {"position": position, "at": at, "updated_at": now}
    changed = connection.execute(
        update(tables.alert_cursors).where(_c.name == name).values(values)
    ).rowcount
    if changed == 0:
        # Two replicas' first passes may race to create it: either row will do.
        connection.execute(insert_ignore(tables.alert_cursors).values(name=name, **values))
