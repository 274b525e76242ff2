"""The engine's MySQL sessions, on a private MariaDB whose server settings the test
may change: strict whatever the server's default sql_mode."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest
from smartcron.collector.db.engine import create_db_engine
from sqlalchemy.exc import DataError

pytestmark = pytest.mark.slow


def global_sql_mode(server: Any, new: str | None = None) -> str:
    """The server's sql_mode, after setting it to `new` if given."""
    with pymysql.connect(host="127.0.0.1", port=server.port, user="root") as connection:
        cursor = connection.cursor()
        if new is not None:
            cursor.execute("SET GLOBAL sql_mode = %s", (new,))
        cursor.execute("SELECT @@GLOBAL.sql_mode")
        row = cursor.fetchone()
        assert row is not None
        return str(row[0])


def test_sessions_are_strict_on_a_lax_server(mysql_private: Any) -> None:
    server_mode = global_sql_mode(mysql_private)
    global_sql_mode(mysql_private, "")  # lax: too long a value is cut, with a warning
    engine = create_db_engine(mysql_private.url)
    try:
        with engine.connect() as connection:
            mode = connection.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar_one()
            assert "STRICT_TRANS_TABLES" in mode.split(","), mode
            assert (
                connection.exec_driver_sql("SELECT @@SESSION.group_concat_max_len").scalar()
                == 1048576
            )
            connection.exec_driver_sql("CREATE TEMPORARY TABLE t (v VARCHAR(3))")
            with pytest.raises(DataError, match="1406"):  # Data too long
                connection.exec_driver_sql("INSERT INTO t VALUES ('abcd')")
    finally:
        engine.dispose()
        global_sql_mode(mysql_private, server_mode)


def test_a_strict_server_keeps_its_own_modes(mysql_private: Any) -> None:
    engine = create_db_engine(mysql_private.url)
    try:
        with engine.connect() as connection:
            mode = connection.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar_one()
    finally:
        engine.dispose()
    server_mode = global_sql_mode(mysql_private)
    assert set(mode.split(",")) == set(server_mode.split(",")) | {"STRICT_TRANS_TABLES"}
