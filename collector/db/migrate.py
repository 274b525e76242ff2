"""`smartcron-collector migrate` (and `init-db`, its old name): bring the database to the
newest revision of collector/db/migrations/, in place, on MySQL and SQLite.

Alembic does the versioning; this module picks the connection and the lock. One
migration at a time: MySQL's GET_LOCK on the migrating connection, SQLite's own write
lock (the whole migration is one BEGIN IMMEDIATE transaction, so on SQLite it also
happens completely or not at all). The connection is one of its own, without the
pool's read timeout: a rollup rebuild of a million runs outlasts it. A database of
v0.1.0, which recorded a schema version of its own, is adopted at its revision first.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from .engine import MYSQL_SESSION, is_mysql
from .migrations import VERSION_TABLE

LOCK_PREFIX = "smartcron.migrate:"
LOCK_WAIT_S = 600  # another replica's migration, rollup rebuild and all
LEGACY_VERSION_TABLE = "smartcron_schema_version"  # v0.1.0's own version, gone in 0003
# v0.1.0's schema versions as revisions: 2 is v0.1.0 itself, 1 came before the rollup.
LEGACY_REVISIONS = {1: "0001", 2: "0002"}


class SchemaError(RuntimeError):
    """The database has no smartcron schema, or an older one."""


def alembic_config(**attributes: Any) -> Config:
    """The migrations as Alembic sees them, without an alembic.ini."""
    config = Config(output_buffer=attributes.pop("output_buffer", None))
    config.set_main_option("script_location", "smartcron.collector.db:migrations")
    config.set_main_option("path_separator", "os")
    config.attributes.update(attributes)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "collector/db/migrations/versions/ holds no revision"
    return head


def migrate(engine: Engine, lock_wait_s: int = LOCK_WAIT_S, to: str = "head") -> str:
    """Upgrade the database of `engine` to the newest revision (or to revision `to`, as
    tests build a database an older collector left); return that revision.
    Idempotent, and safe with several collectors starting at once: each waits up to
    `lock_wait_s` for another's migration to end."""
    migrating = _migration_engine(engine, lock_wait_s)
    try:
        # Closing the connection (NullPool) releases MySQL's lock, whatever happened.
        with migrating.connect() as connection:
            if is_mysql(engine):
                _take_mysql_lock(connection, lock_wait_s)
            else:
                _require_sqlite_math(connection)
            with connection.begin():  # SQLite: BEGIN IMMEDIATE, the writer's lock
                _adopt_legacy_schema(connection)
                command.upgrade(alembic_config(connection=connection), to)
    finally:
        migrating.dispose()
    return head_revision() if to == "head" else to


def offline_sql(start: str | None, end: str = "head") -> str:
    """The MySQL DDL of the revisions after `start` (None: from nothing) up to `end`, as
    Alembic's offline mode writes it: what sql/ holds, for the mysql client."""
    buffer = io.StringIO()
    config = alembic_config(output_buffer=buffer, dialect="mysql")
    command.upgrade(config, f"{start}:{end}" if start else end, sql=True)
    return buffer.getvalue()


def _migration_engine(engine: Engine, lock_wait_s: int) -> Engine:
    """An engine of one connection to the same database, for the migration alone."""
    url = engine.url
    if is_mysql(engine):
        # No read_timeout: the pool's 30 s would end a long rebuild (and roll it back).
        return create_engine(
            url,
            poolclass=NullPool,
            connect_args={"connect_timeout": 5, "init_command": MYSQL_SESSION},
        )
    migrating = create_engine(
        url, poolclass=NullPool, connect_args={"timeout": lock_wait_s, "check_same_thread": False}
    )

    # The driver's own transaction handling off, so that each transaction begins with
    # BEGIN IMMEDIATE: the write lock is taken before the version is read.
    @event.listens_for(migrating, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(migrating, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return migrating


def lock_name(database: str) -> str:
    """The migration lock of one database. GET_LOCK names are server-wide: collectors of
    other databases on the same server must not wait for each other's migrations. A name
    may have 64 characters, a database name as many: a long one is hashed."""
    name = LOCK_PREFIX + database
    if len(name) <= 64:
        return name
    return LOCK_PREFIX + hashlib.sha256(database.encode()).hexdigest()[:32]


def _take_mysql_lock(connection: Connection, wait_s: int) -> None:
    name = lock_name(str(connection.execute(text("SELECT DATABASE()")).scalar()))
    taken = connection.execute(
        text("SELECT GET_LOCK(:name, :wait)"), {"name": name, "wait": wait_s}
    ).scalar()
    connection.commit()
    if taken != 1:
        raise SchemaError(
            f"another migrate has held the lock {name!r} for {wait_s} s; "
            "let it finish, then run `smartcron-collector migrate` again"
        )


def _require_sqlite_math(connection: Connection) -> None:
    try:
        connection.exec_driver_sql("SELECT ln(2), ceil(0.5), pow(2, 3)")
    except OperationalError:
        raise SchemaError(
            f"this SQLite ({sqlite3.sqlite_version}) has no math functions (ln, ceil, pow), "
            "which the run rollup's trigger needs: use a Python whose sqlite3 library is "
            "3.35 or later built with SQLITE_ENABLE_MATH_FUNCTIONS (Debian's is), or MySQL"
        ) from None
    connection.rollback()


def _current(connection: Connection) -> tuple[str, ...]:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return tuple(context.get_current_heads())


def _adopt_legacy_schema(connection: Connection) -> None:
    """Stamp a database of v0.1.0 at the revision its own version table names.

    Version 2 is revision 0002 exactly. Anything less (version 1, or no version row: an
    init-db stopped before it recorded one) is taken as 0001: whatever it has of the
    rollup is dropped, since 0002 creates the rollup and fills it from the runs.
    """
    if _current(connection) or not inspect(connection).has_table(LEGACY_VERSION_TABLE):
        return
    version = connection.exec_driver_sql(f"SELECT MAX(version) FROM {LEGACY_VERSION_TABLE}")
    found = version.scalar()
    if found is not None and int(found) not in LEGACY_REVISIONS:
        raise SchemaError(
            f"{LEGACY_VERSION_TABLE} says version {found}, which no smartcron release wrote; "
            "restore the database from a backup of a smartcron release"
        )
    revision = LEGACY_REVISIONS[int(found)] if found is not None else "0001"
    if revision == "0001":
        connection.exec_driver_sql("DROP TRIGGER IF EXISTS smartcron_runs_rollup")
        connection.exec_driver_sql("DROP VIEW IF EXISTS smartcron_v_job_performance")
        connection.exec_driver_sql("DROP TABLE IF EXISTS smartcron_run_rollup")
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    context.stamp(ScriptDirectory.from_config(alembic_config()), revision)


def check_schema(engine: Engine) -> str:
    """The database's revision if it is the newest, else SchemaError telling what to do."""
    head = head_revision()
    with engine.connect() as connection:
        current = _current(connection)
        legacy = inspect(connection).has_table(LEGACY_VERSION_TABLE)
    if not current:
        if legacy:
            raise SchemaError(
                "the database has the schema of smartcron 0.1.0; "
                "run `smartcron-collector migrate` with the same --db to upgrade it"
            )
        raise SchemaError(
            "the database has no smartcron schema; "
            "run `smartcron-collector migrate` with the same --db"
        )
    if current == (head,):
        return head
    known = {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }
    if not set(current) <= known:
        raise SchemaError(
            f"the database schema is at revision {', '.join(current)}, which this collector "
            f"does not know (a newer smartcron migrated it); upgrade smartcron here"
        )
    raise SchemaError(
        f"the database schema is at revision {', '.join(current)}, this collector needs "
        f"{head}; run `smartcron-collector migrate` to update it"
    )
