"""Sending what is owed: each channel's due deliveries, claimed, sent, recorded.

A delivery is claimed before it is sent, by a conditional UPDATE (pending, due, and no
live claim) whose rows then carry this pass's claim token: two replicas never send one
delivery twice. A sender that dies between its send and its record leaves a claim that
expires after CLAIM_S, and the delivery is sent again: at least once, never lost.

Per channel and pass: more due alert events than the digest threshold, or more than the
rate limit still allows, go out as one digest; a channel whose rate limit is spent
waits (its deliveries stay due and are sent, digested, when the window allows). Every
send is an attempt row; a failed one puts its deliveries back with a backoff."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.exc import OperationalError

from ..db import tables
from .channels import Sender, SendFailed
from .config import ChannelConfig, DeliveryConfig
from .messages import Message, digest_message, event_message
from .outbox import PENDING, alert_columns, alert_view

log = logging.getLogger("smartcron.collector.alerts")
SENT, EXPIRED = "sent", "expired"
CLAIM_S = 300.0  # a claim outlives any send (timeouts are seconds)
BACKOFF_MIN_S, BACKOFF_MAX_S = 30.0, 600.0
# A delivery still failing after this is given up, with its last error kept.
GIVE_UP_AFTER = dt.timedelta(days=2)
CLAIM_BATCH = 1000
_ERROR_MAX = 512


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 60 s, 2 min, … at most 10 min between tries: a channel back from a ten-minute
    outage gets its messages within ten minutes more."""
    seconds = BACKOFF_MIN_S * 2 ** max(0, min(attempts - 1, 16))
    return dt.timedelta(seconds=min(seconds, BACKOFF_MAX_S))


@dataclass
class SendResult:
    messages: int = 0
    delivered: int = 0
    failed: int = 0
    deferred: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def send_due(
    engine: Engine,
    config: DeliveryConfig,
    senders: dict[str, Sender],
    now: dt.datetime,
) -> SendResult:
    """Send every channel's due deliveries (one channel after another)."""
    result = SendResult()
    for name, sender in senders.items():
        # A storm larger than a claim goes out in digests of CLAIM_BATCH, in this pass,
        # while the channel takes them and its rate limit allows.
        while _send_channel(engine, config, name, config.channels[name], sender, now, result):
            pass
    return result


def _send_channel(
    engine: Engine,
    config: DeliveryConfig,
    name: str,
    channel: ChannelConfig,
    sender: Sender,
    now: dt.datetime,
    result: SendResult,
) -> bool:
    """Send what one claim took of the channel's due deliveries; whether there may be
    more to send now (a full claim, every message taken)."""
    allowance = _allowance(engine, name, channel, now)
    if allowance == 0:
        result.deferred += _due_count(engine, name, now)
        return False
    claimed = _claim(engine, name, now)
    if claimed is None:
        return False
    token, candidates = claimed
    rows = _claimed(engine, token, candidates)
    summaries = [row for row in rows if row.event_id is None]
    events = [row for row in rows if row.event_id is not None]
    batches: list[tuple[str, Message, list[Any]]] = []
    for row in summaries:
        batches.append(("summary", _summary_message(row), [row]))
    if events:
        views = [(row.event, alert_view(row)) for row in events]
        over_limit = allowance is not None and len(events) + len(batches) > allowance
        if len(events) > config.digest_threshold or over_limit:
            batches.append(("digest", digest_message(views, config.url), events))
        else:
            batches += [
                ("alert", event_message(event, view, config.url), [row])
                for (event, view), row in zip(views, events, strict=True)
            ]
    unsent = batches[allowance:] if allowance is not None else []
    failed_before = result.failed
    for kind, message, owed in batches[: len(batches) - len(unsent)]:
        _send_one(engine, name, sender, kind, message, owed, token, now, result)
    for _, _, owed in unsent:  # over the rate limit: due again next pass, not an attempt
        _release(engine, token, [row.delivery_id for row in owed])
        result.deferred += len(owed)
    return len(rows) == CLAIM_BATCH and not unsent and result.failed == failed_before


def _send_one(
    engine: Engine,
    name: str,
    sender: Sender,
    kind: str,
    message: Message,
    owed: Sequence[Any],
    token: str,
    now: dt.datetime,
    result: SendResult,
) -> None:
    ids = [row.delivery_id for row in owed]
    try:
        sender.send(message)
    except SendFailed as error:
        reason = str(error)[:_ERROR_MAX]
        log.warning("channel %s: %s not sent: %s", name, kind, reason)
        _record(engine, name, kind, owed, token, now, reason)
        result.failed += len(ids)
        result.errors[name] = reason
    else:
        _record(engine, name, kind, owed, token, now, None)
        result.delivered += len(ids)
    result.messages += 1


def _record(
    engine: Engine,
    name: str,
    kind: str,
    owed: Sequence[Any],
    token: str,
    now: dt.datetime,
    error: str | None,
) -> None:
    """The attempt, and what it did to its deliveries, in one transaction."""
    d = tables.deliveries.c
    ids = [row.delivery_id for row in owed]
    with engine.begin() as connection:
        inserted = connection.execute(
            tables.delivery_attempts.insert().values(
                channel=name,
                at=now,
                ok=error is None,
                kind=kind,
                deliveries=len(ids),
                error=error,
            )
        ).inserted_primary_key
        attempt_id = inserted[0] if inserted else None
        mine = and_(d.id.in_(ids), d.claim == token)
        if error is None:
            connection.execute(
                update(tables.deliveries)
                .where(mine)
                .values(
                    status=SENT,
                    sent_at=now,
                    attempts=d.attempts + 1,
                    attempt_id=attempt_id,
                    last_error=None,
                    claim=None,
                    claimed_until=None,
                )
            )
            return
        for row in owed:  # each delivery keeps its own count and backoff
            attempts = row.attempts + 1
            expired = now - row.created_at >= GIVE_UP_AFTER
            connection.execute(
                update(tables.deliveries)
                .where(and_(d.id == row.delivery_id, d.claim == token))
                .values(
                    status=EXPIRED if expired else PENDING,
                    attempts=attempts,
                    next_attempt_at=now + backoff(attempts),
                    last_error=error,
                    attempt_id=attempt_id,
                    claim=None,
                    claimed_until=None,
                )
            )


def _allowance(engine: Engine, name: str, channel: ChannelConfig, now: dt.datetime) -> int | None:
    """How many more messages the channel's rate limit allows now (None: no limit)."""
    if channel.rate_limit == 0:
        return None
    a = tables.delivery_attempts.c
    since = now - dt.timedelta(seconds=channel.rate_window)
    with engine.connect() as connection:
        used = connection.execute(
            select(func.count()).where(a.channel == name, a.at > since)
        ).scalar_one()
    return max(0, channel.rate_limit - used)


def _due(name: str, now: dt.datetime) -> Any:
    d = tables.deliveries.c
    return and_(
        d.status == PENDING,
        d.channel == name,
        d.next_attempt_at <= now,
        or_(d.claim.is_(None), d.claimed_until < now),
    )


def _due_count(engine: Engine, name: str, now: dt.datetime) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(tables.deliveries).where(_due(name, now))
            ).scalar_one()
        )


def _claim(engine: Engine, name: str, now: dt.datetime) -> tuple[str, list[int]] | None:
    """Claim the channel's due deliveries (the oldest CLAIM_BATCH); the claim's token and
    the ids it was tried on, or None when there were none (or another replica took them
    all)."""
    d = tables.deliveries.c
    token = str(uuid.uuid4())
    until = now + dt.timedelta(seconds=CLAIM_S)
    try:
        with engine.begin() as connection:
            ids = (
                connection.execute(
                    select(d.id).where(_due(name, now)).order_by(d.id).limit(CLAIM_BATCH)
                )
                .scalars()
                .all()
            )
            if not ids:
                return None
            # The conditions again: a replica that claimed one meanwhile keeps it.
            claimed = connection.execute(
                update(tables.deliveries)
                .where(and_(d.id.in_(ids), _due(name, now)))
                .values(claim=token, claimed_until=until)
            ).rowcount
    except OperationalError as error:
        # Two replicas claiming the same rows can deadlock on MySQL; the loser tries
        # again on its next pass (the winner sends them meanwhile).
        log.info("channel %s: claim lost to another replica: %s", name, str(error)[:200])
        return None
    return (token, list(ids)) if claimed else None


def _claimed(engine: Engine, token: str, ids: list[int]) -> list[Any]:
    """The rows of `ids` that this claim holds (by primary key: the claim column has no
    index, and a scan of it per claim cost 0.5 s at 10,000 deliveries)."""
    d, e = tables.deliveries.c, tables.alert_events.c
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(
                    d.id.label("delivery_id"),
                    d.event_id,
                    d.attempts,
                    d.created_at,
                    d.payload,
                    e.event,
                    *alert_columns(),
                )
                .select_from(
                    tables.deliveries.outerjoin(tables.alert_events, e.id == d.event_id).outerjoin(
                        tables.alerts, tables.alerts.c.id == e.alert_id
                    )
                )
                .where(d.id.in_(ids), d.claim == token)
                .order_by(d.id)
            ).all()
        )


def _release(engine: Engine, token: str, ids: list[int]) -> None:
    d = tables.deliveries.c
    with engine.begin() as connection:
        connection.execute(
            update(tables.deliveries)
            .where(and_(d.id.in_(ids), d.claim == token))
            .values(claim=None, claimed_until=None)
        )


def _summary_message(row: Any) -> Message:
    stored = json.loads(row.payload)
    return Message(title=stored["title"], body=stored["body"], payload=stored["payload"], html=True)
