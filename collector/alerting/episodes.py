"""When each host condition began (smartcron_host_conditions): the instant of its alert
for the whole episode, so that one episode is one alert.

A heartbeat says what holds now, not since when: taking its arrival as the instant gave
each heartbeat a new identity, and an alert resolved by hand reopened at the next one
while the condition still held. The pass keeps a row per (rule, host) from the first
heartbeat that shows the condition until a fresh one no longer does; the next episode
starts a new row, and so a new alert.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Connection, delete, select, tuple_

from ..db import bulk, tables
from ..db.keys import KEYS_PER_QUERY
from .rules import Occurrence
from .store import insert_ignore, naive

Episode = tuple[str, str]  # rule, host

_c = tables.host_conditions.c
_INSERT_BEGUN = insert_ignore(tables.host_conditions)
_BEGUN_COLUMNS = ("rule", "host", "since")


class Episodes:
    """The episodes a pass found begun; every host's (hosts are few: one read a pass)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        rows = connection.execute(select(_c.rule, _c.host, _c.since))
        self.since: dict[Episode, dt.datetime] = {
            (row.rule, row.host): naive(row.since) for row in rows
        }
        self._begun: list[tuple[str, str, dt.datetime]] = []  # not written yet

    def dated(self, seen: Occurrence) -> Occurrence:
        """`seen` with the instant its episode began; a condition not seen before begins
        an episode at its own instant (the heartbeat's arrival, the oldest report's)."""
        key = (seen.rule, seen.host)
        since = self.since.get(key)
        if since is None:
            since = self.since[key] = seen.instant
            self._begun.append((seen.rule, seen.host, seen.instant))
        return dataclasses.replace(seen, instant=since)

    def write_begun(self) -> None:
        """Store the episodes dated() began, in one multi-row INSERT IGNORE (a replica
        that raced this one began them at the same heartbeats); in key order, as every
        writer of the table takes its rows' locks."""
        bulk.insert_rows(self.connection, _INSERT_BEGUN, _BEGUN_COLUMNS, sorted(self._begun))
        self._begun = []

    def end_all_but(self, present: Iterable[Episode]) -> None:
        """End the episodes whose condition the heartbeats no longer show."""
        ended = sorted(set(self.since) - set(present))
        for start in range(0, len(ended), KEYS_PER_QUERY):
            chunk = ended[start : start + KEYS_PER_QUERY]
            self.connection.execute(
                delete(tables.host_conditions).where(tuple_(_c.rule, _c.host).in_(chunk))
            )
        for key in ended:
            del self.since[key]
