"""Alerts as rows: open once, count repeats, resolve once, each transition with its
outbox event in the same transaction.

Safe with several writers without any lock of ours: an alert is inserted with INSERT
IGNORE (SQLite: OR IGNORE) against its two unique keys, the identity (rule, job, host,
instant) and the open key (open_key, rule, job, host), so of two replicas opening the
same alert one inserts it and the other's row count is 0; a repeat and a resolution are
conditional UPDATEs whose row count says whether this writer made the change. Only the
writer that made a transition writes its event: exactly one event per transition.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Insert, Table, select, tuple_, update

from ..db import bulk, tables
from ..db.keys import KEYS_PER_QUERY
from .rules import DETAIL_LENGTH, SUMMARY_LENGTH, Occurrence

Key = tuple[str, str]
AlertKey = tuple[str, str, str]  # rule, job, host

_a = tables.alerts.c


@dataclasses.dataclass
class OpenAlert:
    id: int
    rule: str
    job: str
    host: str
    instant: dt.datetime
    last_seen_at: dt.datetime
    silenced: str | None

    @property
    def key(self) -> AlertKey:
        return (self.rule, self.job, self.host)


def _open_of(row: Any) -> OpenAlert:
    return OpenAlert(row.id, row.rule, row.job, row.host, naive(row.instant),
                     naive(row.last_seen_at), row.silenced)  # fmt: skip


def naive(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


_OPEN = select(_a.id, _a.rule, _a.job, _a.host, _a.instant, _a.last_seen_at, _a.silenced)


def open_alerts_of(connection: Connection, keys: Iterable[Key]) -> dict[AlertKey, OpenAlert]:
    """The open alerts of these (job, host) keys, every rule (ix_alerts_job)."""
    ordered = sorted(set(keys))
    found: dict[AlertKey, OpenAlert] = {}
    for start in range(0, len(ordered), KEYS_PER_QUERY):
        chunk = ordered[start : start + KEYS_PER_QUERY]
        query = _OPEN.where(tuple_(_a.job, _a.host).in_(chunk), _a.resolved_at.is_(None),
                            _a.open_key == 1)  # fmt: skip
        for row in connection.execute(query):
            alert = _open_of(row)
            found[alert.key] = alert
    return found


def open_alert(connection: Connection, alert_id: int) -> OpenAlert | None:
    """Alert `alert_id` if it is open (the alert centre's resolve goes through
    Transitions.resolve with it, as the engine's does)."""
    row = connection.execute(_OPEN.where(_a.id == alert_id, _a.open_key == 1)).first()
    return _open_of(row) if row is not None else None


def open_alerts_by_rule(connection: Connection, rules: Sequence[str]) -> list[OpenAlert]:
    """Every open alert of these rules, from uq_alerts_open (open_key, rule, ...)."""
    query = _OPEN.where(_a.open_key == 1, _a.rule.in_(list(rules))).order_by(_a.id)
    return [_open_of(row) for row in connection.execute(query)]


class Transitions:
    """The changes one transaction of a pass makes, and their events, counted."""

    def __init__(self, connection: Connection, now: dt.datetime) -> None:
        self.connection = connection
        self.now = now
        self.counts: collections.Counter[str] = collections.Counter()
        self._events: list[dict[str, Any]] = []

    def record(
        self,
        seen: Occurrence,
        open_now: dict[AlertKey, OpenAlert],
        silenced: str | None = None,
    ) -> OpenAlert | None:
        """Open an alert for `seen`, or count a repeat of the open one. `open_now` is the
        caller's view of what is open, kept up to date here. Returns the open alert."""
        key = (seen.rule, seen.job, seen.host)
        current = open_now.get(key)
        if current is not None:
            if seen.seen_at > current.last_seen_at and self._repeat(current, seen.seen_at):
                current.last_seen_at = seen.seen_at
                self.counts["repeated"] += 1
            return current
        opened = self._insert(seen, silenced)
        if opened is None:
            return None
        open_now[key] = opened
        return opened

    def record_all(
        self, found: Iterable[tuple[Occurrence, str | None]], open_now: dict[AlertKey, OpenAlert]
    ) -> None:
        """record() for many occurrences, each with why it is silenced (None: it is
        not): a repeat of an open alert as record() counts it, the alerts to open in a
        multi-row INSERT per rule (open_many). A fleet's hosts going silent together
        opened an alert a round trip each: 6,000 of them took 2.7 s of a pass."""
        opening: dict[str, list[tuple[Occurrence, str | None]]] = {}
        for seen, silenced in found:
            if (seen.rule, seen.job, seen.host) in open_now:
                self.record(seen, open_now, silenced)
            else:
                opening.setdefault(seen.rule, []).append((seen, silenced))
        for rule in sorted(opening):
            self.open_many(rule, opening[rule], open_now)

    def resolve(self, alert: OpenAlert, open_now: dict[AlertKey, OpenAlert] | None = None,
                by: str | None = None) -> bool:  # fmt: skip
        """Resolve `alert` (by itself when `by` is None); False if it was not open."""
        done = self.connection.execute(
            update(tables.alerts)
            .where(_a.id == alert.id, _a.open_key == 1)
            .values(resolved_at=self.now, resolved_by=by, open_key=None)
        ).rowcount
        if open_now is not None:
            open_now.pop(alert.key, None)
        if done != 1:
            return False
        self.counts["resolved"] += 1
        if alert.silenced is None:  # nobody was told it opened: nobody is told it ended
            self._event(alert.id, "resolved")
        return True

    def open_many(
        self,
        rule: str,
        seen: Sequence[tuple[Occurrence, str | None]],
        open_now: dict[AlertKey, OpenAlert],
    ) -> None:
        """Open alerts of one rule for many occurrences at once (a storm of late jobs):
        multi-row INSERT IGNOREs, then which rows this transaction inserted, read back
        by a consistent read: rows another writer committed after this transaction's
        snapshot are invisible to it (REPEATABLE READ, which run_pass asks for on
        MySQL; SQLite has one writer at a time), and so are never announced twice."""
        fresh = [(o, why) for o, why in seen if (o.rule, o.job, o.host) not in open_now]
        if not fresh:
            return
        rows = [self._values(o, why) for o, why in fresh]
        # One multi-row INSERT (db/bulk.py): an INSERT per row was a round trip each.
        columns = tuple(rows[0])
        bulk.insert_rows(self.connection, _INSERT_ALERT, columns,
                         [tuple(row[name] for name in columns) for row in rows])  # fmt: skip
        mine = _OPEN.where(_a.open_key == 1, _a.rule == rule, _a.opened_at == self.now)
        wanted = {(o.rule, o.job, o.host): o for o, _why in fresh}
        for row in self.connection.execute(mine):
            alert = _open_of(row)
            if alert.key not in wanted or alert.key in open_now:
                continue
            open_now[alert.key] = alert
            if alert.silenced is None:
                self._event(alert.id, "opened")
                self.counts["opened"] += 1
            else:
                self.counts["silenced"] += 1

    def flush(self) -> None:
        """Write the events of this transaction's transitions (one multi-row INSERT)."""
        if self._events:
            rows = [
                (event["alert_id"], event["event"], event["created_at"]) for event in self._events
            ]
            bulk.insert_rows(self.connection, _INSERT_EVENT, _EVENT_COLUMNS, rows)
            self._events = []

    def _repeat(self, alert: OpenAlert, seen_at: dt.datetime) -> bool:
        changed = self.connection.execute(
            update(tables.alerts)
            .where(_a.id == alert.id, _a.open_key == 1, _a.last_seen_at < seen_at)
            .values(repeats=_a.repeats + 1, last_seen_at=seen_at)
        ).rowcount
        return bool(changed == 1)

    def _values(self, seen: Occurrence, silenced: str | None) -> dict[str, Any]:
        return {
            "rule": seen.rule, "job": seen.job, "host": seen.host, "severity": seen.severity,
            "summary": _line(seen.summary)[:SUMMARY_LENGTH], "detail": seen.detail[:DETAIL_LENGTH],
            "run_id": seen.run_id, "instant": seen.instant, "opened_at": self.now,
            "last_seen_at": seen.seen_at, "repeats": 0, "open_key": 1,
            "silenced": silenced[:255] if silenced else None,
        }  # fmt: skip

    def _insert(self, seen: Occurrence, silenced: str | None) -> OpenAlert | None:
        values = self._values(seen, silenced)
        result = self.connection.execute(
            insert_ignore(tables.alerts),
            values,
        )
        if result.rowcount != 1:
            # Another writer opened it (or this occurrence was an alert already, since
            # resolved, or an operator's): not this writer's transition.
            return None
        alert_id = int(result.lastrowid)
        if silenced is None:
            self._event(alert_id, "opened")
            self.counts["opened"] += 1
        else:
            self.counts["silenced"] += 1
        return OpenAlert(alert_id, seen.rule, seen.job, seen.host, seen.instant,
                         seen.seen_at, values["silenced"])  # fmt: skip

    def _event(self, alert_id: int, event: str) -> None:
        self._events.append({"alert_id": alert_id, "event": event, "created_at": self.now})


def insert_ignore(table: Table) -> Insert:
    """An INSERT that a unique key turns into nothing (row count 0), not an error."""
    return (
        table.insert()
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("IGNORE", dialect="mariadb")
        .prefix_with("OR IGNORE", dialect="sqlite")
    )


_INSERT_ALERT = insert_ignore(tables.alerts)
_INSERT_EVENT = tables.alert_events.insert()
_EVENT_COLUMNS = ("alert_id", "event", "created_at")


def _line(text: str) -> str:
    """The summary is one line: newlines and tabs a job name or reason may hold go."""
    return " ".join(text.split())
