"""The collector's engine outlives its database: a MariaDB stopped, crashed and restarted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from smartcron.collector.db import tables
from smartcron.collector.db.engine import IDLE_PING_S, create_db_engine
from smartcron.collector.db.migrate import check_schema, head_revision, migrate
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError

pytestmark = pytest.mark.slow


class Clock:
    """The pool's clock: it moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def idle(self) -> None:
        """As long passes as a connection may idle unpinged, and a little more."""
        self.now += IDLE_PING_S + 0.5


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def private_engine(mysql_private: Any, clock: Clock) -> Iterator[Engine]:
    engine = create_db_engine(mysql_private.url, clock=clock)
    migrate(engine)
    with engine.begin() as connection:  # the server is the module's: start with no hosts
        connection.execute(tables.hosts.delete())
    engine.dispose()  # the connections counted from here on are the tests' own
    yield engine
    engine.dispose()


def counted_pings(engine: Engine) -> list[int]:
    """How many times the pool pings its connections, from now on: [n]."""
    pings = [0]

    def count(dbapi_connection: Any, _record: Any) -> None:
        ping = dbapi_connection.ping

        def counting(*args: Any, **kwargs: Any) -> Any:
            pings[0] += 1
            return ping(*args, **kwargs)

        dbapi_connection.ping = counting

    event.listen(engine.pool, "connect", count)
    return pings


def count_hosts(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(tables.hosts)).scalar_one())


def add_host(engine: Engine, host: str) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(
            tables.hosts.insert().values(host=host, first_seen_at=now, last_seen_at=now)
        )


def test_a_connection_in_steady_use_is_not_pinged_and_an_idle_one_is(
    private_engine: Engine, clock: Clock
) -> None:
    pings = counted_pings(private_engine)
    for n in range(3):
        add_host(private_engine, f"busy-{n}")
    assert pings == [0], "a connection back in the pool within the second needs no ping"
    clock.idle()
    add_host(private_engine, "after-a-pause")
    assert pings == [1]
    assert count_hosts(private_engine) == 4  # no ping: the last use was just now
    assert pings == [1]


def test_pooled_connections_survive_a_restart(
    mysql_private: Any, private_engine: Engine, clock: Clock
) -> None:
    add_host(private_engine, "before-restart")
    assert count_hosts(private_engine) == 1  # the pool now holds a live connection

    mysql_private.restart()
    clock.idle()  # a restart takes longer than a connection may idle unpinged

    # The ping at checkout finds the dead connection and the pool replaces it.
    add_host(private_engine, "after-restart")
    assert count_hosts(private_engine) == 2


def test_a_connection_used_just_before_a_failover_fails_one_statement_only(
    mysql_private: Any, private_engine: Engine
) -> None:
    """The price of pinging idle connections only: a server replaced within the second
    (a failover, here a restart the pool's clock does not see) fails the statement of
    a connection used just before it, whose request answers 503 and is sent again. The
    failure invalidates the pool: the next request gets a new connection."""
    add_host(private_engine, "before-failover")
    mysql_private.restart()

    with pytest.raises(OperationalError):
        count_hosts(private_engine)
    add_host(private_engine, "after-failover")
    assert count_hosts(private_engine) == 2


def test_committed_rows_survive_a_crash(mysql_private: Any, private_engine: Engine) -> None:
    add_host(private_engine, "before-crash")
    mysql_private.kill()

    with pytest.raises(OperationalError):
        count_hosts(private_engine)

    mysql_private.start()
    assert check_schema(private_engine) == head_revision()
    with private_engine.connect() as connection:
        hosts = connection.execute(select(tables.hosts.c.host)).scalars().all()
    assert "before-crash" in hosts
