"""The collector's engine outlives its database: a MariaDB stopped, crashed and restarted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from smartcron.collector.db import tables
from smartcron.collector.db.engine import create_db_engine
from smartcron.collector.db.migrate import check_schema, head_revision, migrate
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

pytestmark = pytest.mark.slow


@pytest.fixture
def private_engine(mysql_private: Any) -> Iterator[Engine]:
    engine = create_db_engine(mysql_private.url)
    migrate(engine)
    yield engine
    engine.dispose()


def count_hosts(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(tables.hosts)).scalar_one())


def add_host(engine: Engine, host: str) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(
            tables.hosts.insert().values(host=host, first_seen_at=now, last_seen_at=now)
        )


def test_pooled_connections_survive_a_restart(mysql_private: Any, private_engine: Engine) -> None:
    add_host(private_engine, "before-restart")
    assert count_hosts(private_engine) == 1  # the pool now holds a live connection

    mysql_private.restart()

    # pool_pre_ping finds the dead connection on checkout and replaces it.
    add_host(private_engine, "after-restart")
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
