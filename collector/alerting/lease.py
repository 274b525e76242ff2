"""A lease on a singleton duty (the alert pass, the delivery pass) in smartcron_leases.

Whoever holds an unexpired row does the duty; the others skip it. The lease is taken
with a conditional UPDATE and its row count, as healthchecks' sendalerts does: the
database decides between two replicas racing for it, never an in-process lock. A
holder that dies simply lets its lease expire.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket

from sqlalchemy import Engine, and_, delete, or_, update
from sqlalchemy.exc import OperationalError

from ..db import tables
from ..db.retry import is_deadlock
from .store import insert_ignore

_l = tables.leases.c


def holder_id() -> str:
    """This process, as a lease's holder: host, pid and a random part (a pid is reused)."""
    return f"{socket.gethostname()[:200]}:{os.getpid()}:{secrets.token_hex(4)}"


def take(engine: Engine, name: str, holder: str, now: dt.datetime, ttl: dt.timedelta) -> bool:
    """Hold `name` until now + ttl if it is free, expired or already `holder`'s."""
    expires = now + ttl
    try:
        with engine.begin() as connection:
            taken = connection.execute(
                update(tables.leases)
                .where(_l.name == name, or_(_l.holder == holder, _l.expires_at <= now))
                .values(holder=holder, expires_at=expires)
            ).rowcount
            if taken == 1:
                return True
            # No row yet: the first to insert it holds it; a replica that lost that race
            # sees its row in the next take.
            inserted = connection.execute(
                insert_ignore(tables.leases).values(name=name, holder=holder, expires_at=expires)
            ).rowcount
            return bool(inserted == 1)
    except OperationalError as error:
        # Two first takes racing on MariaDB: each UPDATE of the missing row gap-locks
        # where it would be, and the two INSERTs deadlock; InnoDB rolls one back, and that
        # one has lost the race (tests/collector/test_alerts_replicas.py found it).
        if is_deadlock(error):
            return False
        raise


def renew(engine: Engine, name: str, holder: str, now: dt.datetime, ttl: dt.timedelta) -> bool:
    """Extend `holder`'s lease; False when another has taken it meanwhile."""
    with engine.begin() as connection:
        renewed = connection.execute(
            update(tables.leases)
            .where(and_(_l.name == name, _l.holder == holder))
            .values(expires_at=now + ttl)
        ).rowcount
    return bool(renewed == 1)


def release(engine: Engine, name: str, holder: str) -> bool:
    """Give the lease up (on a clean stop) so that another replica takes it at once."""
    with engine.begin() as connection:
        gone = connection.execute(
            delete(tables.leases).where(_l.name == name, _l.holder == holder)
        ).rowcount
    return bool(gone == 1)
