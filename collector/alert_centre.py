"""The alert centre: alerts listed with filters a page at a time, and the two things a
person does to one, acknowledge it (its reminders stop) and resolve it.

Both are a conditional UPDATE whose row count says whether this request made the
change, so two replicas or two clicks cannot do it twice; each is audited in
smartcron_audit (who, when, which alert) in the same transaction. A resolve goes
through the engine's own Transitions.resolve, so it writes the `resolved` event to the
outbox exactly when the engine would: the channels hear an alert ended only if they
heard it opened (a silenced one opened without a notice, and ends without one).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, desc, func, or_, select, update

from .alerting.store import Transitions, open_alert
from .db import tables
from .errors import ApiError
from .ingest import now_utc
from .queries import iso

STATES = ("open", "acknowledged", "resolved")
ACTIVE = ("open", "acknowledged")
SEVERITIES = ("critical", "high", "warning", "info")
# The rules of DESIGN.md, "Collector configuration and alerts", and the host's clock.
RULES = ("missed", "failed", "timeout", "killed_memory", "lost", "breaker_open",
         "consecutive_failures", "too_slow", "too_fast", "still_running", "host_silent",
         "host_disk_low", "spool_backlog", "clock_skew", "channel_failing")  # fmt: skip
PAGE = 100
MAX_PAGE = 1000


class FilterError(ValueError):
    """A filter or cursor the alert centre cannot take; the message names it."""


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to list: every filter given must hold (empty tuples: any)."""

    states: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    host: str | None = None
    job: str | None = None


def parse_choice(name: str, text: str | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """`a,b` as a tuple in the order of `allowed`; an unknown value is refused."""
    if not text:
        return ()
    given = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(given - set(allowed))
    if unknown:
        raise FilterError(f"{name}: {unknown[0]!r} is not one of {', '.join(allowed)}")
    return tuple(value for value in allowed if value in given)


def parse_filter(
    state: str | None,
    rule: str | None,
    severity: str | None,
    host: str | None,
    job: str | None,
    default_states: tuple[str, ...] = (),
) -> AlertFilter:
    """The filter of a query string: the API's and the page's (whose default is the
    active alerts, and which says `all` for every state). FilterError names a bad one."""
    states = default_states if not state else () if state == "all" else None
    return AlertFilter(
        states if states is not None else parse_choice("state", state, STATES),
        parse_choice("rule", rule, RULES),
        parse_choice("severity", severity, SEVERITIES),
        host or None,
        job or None,
    )


def state_of(row: Any) -> str:
    if row["resolved_at"] is not None:
        return "resolved"
    return "acknowledged" if row["acknowledged_at"] is not None else "open"


def _state_condition(states: tuple[str, ...]) -> Any:
    a = tables.alerts.c
    parts = {
        "open": and_(a.resolved_at.is_(None), a.acknowledged_at.is_(None)),
        "acknowledged": and_(a.resolved_at.is_(None), a.acknowledged_at.is_not(None)),
        "resolved": a.resolved_at.is_not(None),
    }
    return or_(*(parts[state] for state in states))


def encode_cursor(alert_id: int) -> str:
    return base64.urlsafe_b64encode(f"a{alert_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    refused = FilterError(f"cursor: {cursor[:40]!r} is not one this API handed out")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise refused from None
    if not raw.startswith("a") or not raw[1:].isdigit() or not 0 < int(raw[1:]) < 2**63:
        raise refused
    return int(raw[1:])


def list_alerts(
    engine: Engine, wanted: AlertFilter, limit: int = PAGE, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the alerts that match, newest first (by id: the order they opened), and
    the cursor of the next page (None on the last)."""
    a = tables.alerts.c
    conditions = []
    if wanted.states and set(wanted.states) != set(STATES):
        conditions.append(_state_condition(wanted.states))
    if wanted.rules:
        conditions.append(a.rule.in_(wanted.rules))
    if wanted.severities:
        conditions.append(a.severity.in_(wanted.severities))
    if wanted.host:
        conditions.append(a.host == wanted.host)
    if wanted.job:
        conditions.append(a.job == wanted.job)
    if cursor:
        conditions.append(a.id < decode_cursor(cursor))
    query = select(tables.alerts).where(and_(*conditions)).order_by(desc(a.id)).limit(limit + 1)
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    next_cursor = encode_cursor(int(rows[limit - 1]["id"])) if len(rows) > limit else None
    return [alert_item(row) for row in rows[:limit]], next_cursor


def open_counts(engine: Engine, job: str) -> dict[str, int]:
    """The open (unresolved) alerts of a job, per host, from ix_alerts_job."""
    a = tables.alerts.c
    query = (
        select(a.host, func.count()).where(a.job == job, a.resolved_at.is_(None)).group_by(a.host)
    )
    with engine.connect() as connection:
        return {host: int(count) for host, count in connection.execute(query)}


def alert_item(row: dict[str, Any]) -> dict[str, Any]:
    """An alert as the API gives it: its columns (times in UTC) and its state."""
    item = {key: iso(value) for key, value in row.items() if key != "open_key"}
    item["state"] = state_of(row)
    return item


def _find(connection: Any, alert_id: int) -> Any:
    found = connection.execute(select(tables.alerts).where(tables.alerts.c.id == alert_id))
    row = found.mappings().first()
    if row is None:
        raise ApiError(404, f"no alert {alert_id}")
    return row


def acknowledge(engine: Engine, alert_id: int, actor: str) -> dict[str, Any]:
    """Acknowledge an open alert: its reminders stop; it still resolves by itself.
    Acknowledging one acknowledged already changes nothing (changed: false); a resolved
    one is refused with 409."""
    a = tables.alerts.c
    now = now_utc()
    with engine.begin() as connection:
        changed = connection.execute(
            update(tables.alerts)
            .where(a.id == alert_id, a.resolved_at.is_(None), a.acknowledged_at.is_(None))
            .values(acknowledged_at=now, acknowledged_by=actor)
        ).rowcount
        row = _find(connection, alert_id)
        if not changed and row["resolved_at"] is not None:
            raise ApiError(409, f"alert {alert_id} is resolved already; nothing to acknowledge")
        if changed:
            _audit(connection, row, "alert-ack", actor, now)
    return {"alert": alert_item(dict(row)), "changed": bool(changed)}


def resolve(engine: Engine, alert_id: int, actor: str) -> dict[str, Any]:
    """Resolve an open alert by hand (resolved_by names who). Resolving one resolved
    already changes nothing (changed: false)."""
    now = now_utc()
    with engine.begin() as connection:
        _find(connection, alert_id)  # 404 before anything
        # The engine's own path (alerting/store.py): the same conditional UPDATE, and a
        # `resolved` notice only for an alert whose opening was announced (not silenced).
        changes = Transitions(connection, now)
        alert = open_alert(connection, alert_id)
        changed = alert is not None and changes.resolve(alert, by=actor)
        changes.flush()
        row = _find(connection, alert_id)
        if changed:
            _audit(connection, row, "alert-resolve", actor, now)
    return {"alert": alert_item(dict(row)), "changed": bool(changed)}


def _audit(connection: Any, row: Any, action: str, actor: str, now: Any) -> None:
    connection.execute(
        tables.audit.insert().values(
            at=now, actor=actor, action=action, job=row["job"] or None, host=row["host"],
            detail=f"alert {row['id']} ({row['rule']}, {row['severity']}): {row['summary']}"[:2000],
        )
    )  # fmt: skip
