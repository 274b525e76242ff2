"""Connecting to the store: MySQL (production) or SQLite (the embedded default)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any

import pymysql
from pymysql import converters
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from .sqlite_file import secure_sqlite_file

SQLITE_FILE = "collector.db"
SQLITE_DIR = "collector"  # in the state directory: a directory of the collector's own


def default_url(state_dir: str) -> str:
    """STATE_DIR/collector/collector.db; where 0.1.0 kept it (STATE_DIR/collector.db)
    while only that one exists, so an upgrade finds its data."""
    path = os.path.join(state_dir, SQLITE_DIR, SQLITE_FILE)
    legacy = os.path.join(state_dir, SQLITE_FILE)
    if not os.path.exists(path) and os.path.exists(legacy):
        path = legacy
    return f"sqlite:///{path}"


def is_mysql(bind: Engine | Connection) -> bool:
    """MySQL or MariaDB (else SQLite), of an engine or of one of its connections."""
    return bind.dialect.name in ("mysql", "mariadb")


def create_db_engine(url: str, clock: Callable[[], float] = time.monotonic) -> Engine:
    """An engine with the settings each backend needs to survive real life. `clock`
    times how long a MySQL connection has idled in the pool (tests set it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            secure_sqlite_file(parsed.database)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        engine = create_engine(
            parsed.set(query=query),
            pool_recycle=3600,
            pool_size=32,
            max_overflow=8,
            pool_timeout=5,
            # The connection checked in last goes out first: under load a few stay in
            # use (and need no ping, below), the rest idle until recycled.
            pool_use_lifo=True,
            connect_args={
                "connect_timeout": 5,
                "read_timeout": 30,
                "write_timeout": 30,
                "init_command": MYSQL_SESSION,
                "conv": MYSQL_CONVERSIONS,
            },
        )
        _ping_idle_connections(engine, clock)
        return engine
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}; "
        "use sqlite:///PATH or mysql+pymysql://USER:PASSWORD@HOST/DB"
    )


# Every MySQL connection starts with this.
MYSQL_SESSION = (
    # The summary packs each job's recent runs with GROUP_CONCAT (queries.py): MySQL 8
    # would cut the result at 1,024 bytes, MariaDB at 1 MiB.
    "SET SESSION group_concat_max_len = 1048576, "
    # Strict, whatever the server's default: a server set to a lax sql_mode (common
    # where old PHP applications share it) would store a value too long for its column
    # cut short, with only a warning; strict mode refuses it, and ingest answers 422.
    "sql_mode = TRIM(BOTH ',' FROM CONCAT(@@SESSION.sql_mode, ',STRICT_TRANS_TABLES'))"
)


def escape_datetime(value: dt.datetime, mapping: Any = None) -> str:
    """A naive datetime as pymysql's own escape_datetime writes it ('YYYY-MM-DD
    HH:MM:SS[.ffffff]'), by isoformat() in C: pymysql's str.format() of seven fields
    took 1.6 µs a value against 0.4, a twentieth of a batch's CPU in bench/ingest.py
    (every run binds three). An aware one is pymysql's to write (it drops the zone)."""
    if value.tzinfo is not None:
        return str(converters.escape_datetime(value, mapping))
    return f"'{value.isoformat(' ')}'"


# pymysql's conversions (decoders by field type, encoders by Python type), with the
# encoder above for datetimes.
MYSQL_CONVERSIONS = {**converters.conversions, dt.datetime: escape_datetime}


# A MySQL restart or failover leaves dead connections in the pool: a connection idle
# for longer than this is pinged at checkout, and replaced if dead, rather than fail the
# request that gets it. SQLAlchemy's pool_pre_ping pinged at every checkout: a round trip
# in each transaction, a fifth of a heartbeat's. A connection back in the pool within
# the second was in use with the server just now; a restart takes longer than that, so
# the connection it left dead has idled past this when it goes out again.
IDLE_PING_S = 1.0
_USED_AT = "smartcron_used_at"  # in the pool record's info: when last connected or checked in


def _ping_idle_connections(engine: Engine, clock: Callable[[], float]) -> None:
    def note_use(_dbapi_connection: Any, record: Any) -> None:
        record.info[_USED_AT] = clock()

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        used_at = record.info.get(_USED_AT)
        if used_at is not None and clock() - used_at <= IDLE_PING_S:
            return
        try:
            dbapi_connection.ping(reconnect=False)
        except (pymysql.err.Error, OSError) as error:
            # The pool drops this connection and checks out another (a new one if needed).
            raise DisconnectionError(f"a pooled connection is dead: {error}") from error

    event.listen(engine.pool, "connect", note_use)
    event.listen(engine.pool, "checkin", note_use)
    event.listen(engine.pool, "checkout", ping_if_idle)


def _tune_sqlite(connection: object, _record: object) -> None:
    # WAL lets the page read while ingest writes; NORMAL sync is durable across
    # process crashes (the spool covers the rest); busy_timeout rides out writers.
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
