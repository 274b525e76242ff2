"""A transaction done again when MySQL rolled it back as a deadlock victim.

InnoDB breaks a deadlock by rolling back one of the transactions in it, whole, and
telling its client so (error 1213) the moment it finds the cycle; the other goes on.
Nothing of the victim is left, and its client, having been told, knows it did not
commit (a deadlock is found when a statement asks for a lock, never at the COMMIT).
Doing it again at once is what the server expects: the victim holds no locks any
more, so its next try waits for the winner's and then goes through. No pause: the
winner's locks are what it waits for, and a pause would only add to the wait.

A lock wait timeout (1205) is not done again. Each try would wait the whole
innodb_lock_wait_timeout once more (50 s by default, which the pool's 30 s read
timeout cuts short anyway as a lost connection), holding a worker thread, a
connection and, for a group of reports, every request in it; the sender tries again
later on its own, which is what the 503 asks of it.

The transaction is begun here, so what is done again is always the whole of it, and
`work` starts over from the database as the winner left it: work that reads what it
needs inside the transaction, and depends otherwise only on its arguments, is safe
to do again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")

# A transaction is done again at most this often (so tried RETRIES + 1 times).
RETRIES = 3
# MySQL's error numbers, as pymysql raises them (the first of the error's args).
ER_LOCK_WAIT_TIMEOUT = 1205  # not done again: see above
ER_LOCK_DEADLOCK = 1213


def mysql_code(error: BaseException | None) -> int | None:
    """MySQL's error number of `error` (wrapped by SQLAlchemy or not); None for any
    other error, SQLite's among them."""
    args = getattr(getattr(error, "orig", error), "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_deadlock(error: BaseException | None) -> bool:
    """Whether the server rolled the transaction back as a deadlock's victim."""
    return mysql_code(error) == ER_LOCK_DEADLOCK


def run_transaction(
    engine: Engine,
    work: Callable[[Connection], T],
    retry_also: Callable[[DBAPIError], bool] | None = None,
) -> T:
    """`work` in a transaction of its own, committed; what it returns. Done again, in a
    new transaction, when the server picked it as a deadlock victim, or when
    `retry_also` says so of the error (another reason its caller has to try again,
    after the transaction was rolled back), up to RETRIES times in all; then the error
    is raised, as any other at once."""
    for attempt in range(RETRIES + 1):
        try:
            with engine.begin() as connection:
                return work(connection)
        except DBAPIError as error:
            if attempt == RETRIES or not (
                is_deadlock(error) or (retry_also is not None and retry_also(error))
            ):
                raise
    raise AssertionError("unreachable")  # pragma: no cover
