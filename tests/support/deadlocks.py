"""Real deadlocks on MariaDB, made on purpose, one for each try of a transaction.

The transaction under test (the victim) locks a row A, then a row B. An opponent, a
connection of the test's own, locks B, waits until the victim waits for B, and asks
for A: a cycle, which InnoDB breaks at once by rolling back one of the two, the one
that has written less. Each opponent writes FILLER rows first, so that it is never
the one (the victim has written a row or two). For the victim's next try, the next
opponent asks for B before the last one lets go of A and B: InnoDB hands B to it as
the last one's locks go, so the victim, which takes A first, finds B held again.

    deadlocks = Deadlocker(engine, LOCK_A, LOCK_B, victim_at_b="UPDATE t SET b")
    with deadlocks:                 # the first opponent holds B
        start the victim            # on a thread, or in another process
        deadlocks.deadlock()        # its first try rolled back
        deadlocks.hand_over()       # the next opponent holds B
        deadlocks.deadlock()        # its second try too
    ...                             # the last opponent rolled back: the victim goes on
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Connection, Engine, text

# Rows each opponent writes before it locks anything: far more than any victim here.
FILLER = 50


def running_now(engine: Engine, statement: str) -> list[str]:
    """The statements starting with `statement` that another connection to this
    database is running now (the server may be shared: only this test's database
    counts). Not InnoDB's lock views: a statement that waits for a row lock while
    MariaDB's optimizer reads it (an UPDATE ... JOIN's constant row, in state
    "Statistics") is in neither information_schema.innodb_trx nor innodb_lock_waits,
    and the test that looked there failed now and then ("never reached the lock")."""
    with engine.connect() as connection:
        return list(connection.execute(text(
            "SELECT CONCAT(COALESCE(state, ''), ': ', LEFT(info, 60))"
            " FROM information_schema.processlist"
            " WHERE db = DATABASE() AND id <> CONNECTION_ID() AND command = 'Query'"
            " AND info LIKE :statement"
        ), {"statement": statement + "%"}).scalars())  # fmt: skip


def wait_until_running(engine: Engine, statement: str, done: Callable[[], object]) -> None:
    """Until another connection runs `statement` (held up by a lock, it stays running).
    A victim `done` meanwhile (what it returns is true: its answer, say) never got
    there: said at once, with that. The deadline only bounds the loop."""
    deadline = time.monotonic() + 60
    while not running_now(engine, statement):
        outcome = done()
        assert not outcome, f"done without running {statement!r}: {outcome}"
        assert time.monotonic() < deadline, f"{statement!r} never ran"
        time.sleep(0.05)


class Deadlocker:
    """Opponents that make tries of a victim transaction deadlock victims (see above).
    `lock_a` and `lock_b` lock the rows the victim locks, in its order; `victim_at_b`
    is how the victim's statement that locks B begins (as the processlist shows it);
    `done` says whether the victim has finished (answered, returned or raised)."""

    def __init__(
        self, engine: Engine, lock_a: str, lock_b: str, victim_at_b: str, done: Callable[[], object]
    ) -> None:
        self.engine = engine
        self.lock_a, self.lock_b = text(lock_a), text(lock_b)
        self.victim_at_b = victim_at_b
        self.done = done
        self.deadlocks = 0
        self._opponents = 0
        self._holder: Connection | None = None

    def __enter__(self) -> Deadlocker:
        self._holder = self._opponent()
        self._holder.execute(self.lock_b)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._let_go()

    def deadlock(self) -> None:
        """Once the victim waits for B: ask for A, which rolls the victim's try back
        (an opponent picked instead raises here, failing the test)."""
        assert self._holder is not None
        wait_until_running(self.engine, self.victim_at_b, self.done)
        self._holder.execute(self.lock_a)
        self.deadlocks += 1

    def hand_over(self) -> None:
        """A new opponent takes B as the one holding it lets go, before the victim's
        next try can reach B."""
        successor = self._opponent()
        locked: list[BaseException | None] = []

        def lock_b() -> None:
            try:
                successor.execute(self.lock_b)
                locked.append(None)
            except BaseException as error:  # noqa: BLE001 - raised below, in the test
                locked.append(error)

        taking = threading.Thread(target=lock_b)
        taking.start()
        # Its lock on B waits for the holder's (the holder lets go only after this).
        wait_until_running(self.engine, self.lock_b.text, lambda: bool(locked))
        self._let_go()
        taking.join(timeout=60)
        assert locked == [None], f"the next opponent did not get B: {locked}"
        self._holder = successor

    def _opponent(self) -> Connection:
        """A connection in a transaction that has written FILLER rows (hosts that sort
        after every host of the tests, away from the rows and gaps they lock)."""
        self._opponents += 1
        connection = self.engine.connect()
        connection.begin()
        connection.execute(
            text("INSERT INTO smartcron_hosts (host, first_seen_at, last_seen_at)"
                 " VALUES (:host, NOW(6), NOW(6))"),
            [{"host": f"zz-filler-{self._opponents}-{n:03d}"} for n in range(FILLER)],
        )  # fmt: skip
        return connection

    def _let_go(self) -> None:
        if self._holder is not None:
            self._holder.rollback()
            self._holder.close()
            self._holder = None
