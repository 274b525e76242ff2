"""db/retry.run_transaction, the one way ingest and heartbeats do a transaction again:
a deadlock's victim (a real deadlock on MariaDB, two connections locking two rows in
opposite orders) is done again in a new transaction and commits; one that is the
victim every time is raised after RETRIES more tries; any other error is raised at
once, unless the caller's own reason says to try again."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from smartcron.collector.db import tables
from smartcron.collector.db.retry import RETRIES, is_deadlock, run_transaction
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from tests.support.deadlocks import Deadlocker, wait_until_running

# The victim updates host A's row, then host B's; each opponent locks B, then A.
ROWS = ("deadlock-a", "deadlock-b")
VICTIM_AT_A = "UPDATE smartcron_hosts SET agent_version = 'a'"
VICTIM_AT_B = "UPDATE smartcron_hosts SET agent_version = 'b'"


def lock(host: str) -> str:
    return f"SELECT host FROM smartcron_hosts WHERE host = '{host}' FOR UPDATE"


class Victim(threading.Thread):
    """run_transaction on a thread: each try (counted) updates A's row, then B's."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.tries = 0
        self.outcome: list[Any] = []

    def work(self, connection: Connection) -> int:
        self.tries += 1
        connection.execute(text(f"{VICTIM_AT_A} WHERE host = '{ROWS[0]}'"))
        connection.execute(text(f"{VICTIM_AT_B} WHERE host = '{ROWS[1]}'"))
        return self.tries

    def run(self) -> None:
        try:
            self.outcome.append(run_transaction(self.engine, self.work))
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            self.outcome.append(error)


@pytest.fixture
def two_rows(mysql_engine: Engine, clear_tables: Any) -> Engine:
    clear_tables(mysql_engine)
    with mysql_engine.begin() as connection:
        for host in ROWS:
            connection.execute(
                text("INSERT INTO smartcron_hosts (host, first_seen_at, last_seen_at)"
                     " VALUES (:h, NOW(6), NOW(6))"), {"h": host},
            )  # fmt: skip
    return mysql_engine


def versions(engine: Engine) -> list[str | None]:
    h = tables.hosts.c
    query = select(h.agent_version).where(h.host.in_(ROWS)).order_by(h.host)
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def deadlocker(engine: Engine, victim: Victim) -> Deadlocker:
    return Deadlocker(engine, lock(ROWS[0]), lock(ROWS[1]), VICTIM_AT_B,
                      done=lambda: victim.outcome)  # fmt: skip


def test_a_deadlock_victim_is_done_again_and_commits(two_rows: Engine) -> None:
    victim = Victim(two_rows)
    with deadlocker(two_rows, victim) as deadlocks:
        victim.start()
        deadlocks.deadlock()
        # Its next try, in a new transaction, waits for A: the opponent holds it now.
        wait_until_running(two_rows, VICTIM_AT_A, done=lambda: victim.outcome)
    victim.join(timeout=60)  # the opponent rolled back: the try goes through
    assert (victim.outcome, victim.tries) == ([2], 2)
    assert versions(two_rows) == ["a", "b"]


def test_a_transaction_that_is_the_victim_every_time_is_raised_after_the_retries(
    two_rows: Engine,
) -> None:
    victim = Victim(two_rows)
    with deadlocker(two_rows, victim) as deadlocks:
        victim.start()
        for _ in range(RETRIES):
            deadlocks.deadlock()
            deadlocks.hand_over()
        deadlocks.deadlock()
        # Raised while the last opponent still holds A: no further try waited for it.
        victim.join(timeout=60)
        assert not victim.is_alive(), "the victim tried again"
    [error] = victim.outcome
    assert isinstance(error, DBAPIError) and is_deadlock(error), error
    assert victim.tries == deadlocks.deadlocks == RETRIES + 1
    assert versions(two_rows) == [None, None]


def test_another_error_is_raised_at_once_unless_the_caller_retries_it(engine: Engine) -> None:
    """A host inserted twice: IntegrityError, on either backend. Without `retry_also`
    (or with one that says no) it is raised at the first try; with one that says yes,
    after RETRIES more tries, each asked about its own error."""
    insert = text(
        "INSERT INTO smartcron_hosts (host, first_seen_at, last_seen_at)"
        " VALUES ('twice', '2030-01-01 00:00:00', '2030-01-01 00:00:00')"
    )
    with engine.begin() as connection:
        connection.execute(insert)
    tries: list[int] = []
    asked: list[DBAPIError] = []

    def insert_again(connection: Connection) -> None:
        tries.append(1)
        connection.execute(insert)

    def answer(yes: bool) -> Callable[[DBAPIError], bool]:
        def retry_also(error: DBAPIError) -> bool:
            asked.append(error)
            return yes

        return retry_also

    for retry_also, expected in ((None, 1), (answer(False), 1), (answer(True), RETRIES + 1)):
        tries.clear()
        with pytest.raises(IntegrityError):
            run_transaction(engine, insert_again, retry_also=retry_also)
        assert len(tries) == expected
    # Asked once after the refusal, and after each try but the last (nothing is left then).
    assert len(asked) == 1 + RETRIES
    assert all(isinstance(error, IntegrityError) for error in asked)
