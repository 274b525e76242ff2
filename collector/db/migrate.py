"""`smartcron-collector init-db`: create or update the schema, record its version.

MySQL gets the numbered files of sql/ exactly as a person would apply them with
the mysql client; SQLite gets the same tables from the Core metadata and its own
copy of the views and the trigger (sql/sqlite/). A database from before the run
rollup (schema version 2) has it filled from its stored runs, once.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from importlib import resources

from sqlalchemy import Connection, Engine, func, inspect, select, text
from sqlalchemy.exc import OperationalError

from . import tables
from .engine import is_mysql

SCHEMA_VERSION = 2
ROLLUP_SINCE = 2  # the version that brought smartcron_run_rollup and its trigger


class SchemaError(RuntimeError):
    """The database has no smartcron schema, or an older one."""


def sql_files(subdir: str | None = None) -> list[tuple[str, str]]:
    """(name, text) of the numbered .sql files, in order."""
    root = resources.files("smartcron.sql")
    if subdir:
        root = root / subdir
    files = [f for f in root.iterdir() if f.name.endswith(".sql") and f.name[:1].isdigit()]
    return [(f.name, f.read_text(encoding="utf-8")) for f in sorted(files, key=lambda f: f.name)]


def split_statements(script: str) -> list[str]:
    """Split a SQL script on semicolons outside quotes and comments."""
    statements, current, quote = [], [], ""
    i = 0
    while i < len(script):
        char = script[i]
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in ("'", '"', "`"):
            quote = char
            current.append(char)
        elif script.startswith("--", i):
            end = script.find("\n", i)
            i = len(script) if end == -1 else end
            continue
        elif char == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
        else:
            current.append(char)
        i += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def sql_file(name: str, subdir: str | None = None) -> str:
    """One file of sql/ (or of sql/SUBDIR), numbered or not."""
    root = resources.files("smartcron.sql")
    if subdir:
        root = root / subdir
    return (root / name).read_text(encoding="utf-8")


def sqlite_statements(script: str) -> list[str]:
    """split_statements, but a trigger's BEGIN ... END body stays one statement: pieces
    are joined until SQLite itself says the statement is complete, as its shell does."""
    statements, pending = [], ""
    for piece in split_statements(script):
        pending = f"{pending};\n{piece}" if pending else piece
        if sqlite3.complete_statement(pending + ";"):
            statements.append(pending)
            pending = ""
    if pending:
        raise ValueError(f"an unfinished statement at the end of the script: {pending[:80]!r}")
    return statements


def init_db(engine: Engine) -> int:
    """Create what is missing (tables, views, the rollup trigger), fill the rollup if it
    is new, record the version. Idempotent."""
    with engine.begin() as connection:
        if is_mysql(engine):
            _apply_mysql_files(connection)
        else:
            _require_sqlite_math(connection)
            tables.metadata.create_all(connection)
            for _name, script in sql_files("sqlite"):
                for statement in sqlite_statements(script):
                    connection.exec_driver_sql(statement)
    _upgrade(engine)
    return SCHEMA_VERSION


_CREATE_TRIGGER = re.compile(r"CREATE\s+TRIGGER\s+`?(\w+)", re.IGNORECASE)


def _apply_mysql_files(connection: Connection) -> None:
    # The DB-API cursor directly, without parameters: the views hold '%'
    # (LIKE 'skipped%'), which a parameterised execute would take for a placeholder.
    cursor = connection.connection.cursor()
    cursor.execute(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
    )
    triggers = {row[0] for row in cursor.fetchall()}
    for _name, script in sql_files():
        for statement in split_statements(script):
            # MySQL 8 has no CREATE TRIGGER IF NOT EXISTS (before 8.0.29), and DROP then
            # CREATE would leave a moment in which runs go in uncounted: an existing
            # trigger is left as it is.
            created = _CREATE_TRIGGER.match(statement)
            if created and created.group(1) in triggers:
                continue
            cursor.execute(statement)
    cursor.close()


def _require_sqlite_math(connection: Connection) -> None:
    try:
        connection.exec_driver_sql("SELECT ln(2), ceil(0.5), pow(2, 3)")
    except OperationalError:
        raise SchemaError(
            f"this SQLite ({sqlite3.sqlite_version}) has no math functions (ln, ceil, pow), "
            "which the run rollup's trigger needs: use a Python whose sqlite3 library is "
            "3.35 or later built with SQLITE_ENABLE_MATH_FUNCTIONS (Debian's is), or MySQL"
        ) from None


def _upgrade(engine: Engine) -> None:
    """Record this version; a database from before the rollup first has it rebuilt. The
    version is recorded after the rebuild: an init-db stopped midway rebuilds again, and
    two at once both rebuild, one after the other (the rebuild locks the tables)."""
    with engine.connect() as connection:
        version = connection.execute(select(func.max(tables.schema_version.c.version))).scalar()
    if version is None or version < ROLLUP_SINCE:
        rebuild_rollup(engine)
    with engine.begin() as connection:
        _record_version(connection)


def rebuild_rollup(engine: Engine) -> None:
    """Count every stored run into smartcron_run_rollup afresh: sql/rebuild_rollup.sql (or
    its SQLite copy), run as its client would run it, own locking and all."""
    if is_mysql(engine):
        # A connection of its own, without the pool's 30 s read timeout: that would end
        # the rebuild of a database of more than a million or so runs (and roll it back,
        # each time). Closing it unlocks the tables, whatever happened.
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        connection = engine.dialect.loaded_dbapi.connect(*args, **kwargs)
        try:
            with connection.cursor() as cursor:
                for statement in split_statements(sql_file("rebuild_rollup.sql")):
                    cursor.execute(statement)
        finally:
            connection.close()
        return
    raw = engine.raw_connection()
    try:
        # executescript: BEGIN IMMEDIATE ... COMMIT exactly as the sqlite3 shell runs it.
        sqlite = raw.driver_connection
        assert sqlite is not None
        sqlite.executescript(sql_file("rebuild_rollup.sql", "sqlite"))
    finally:
        raw.close()


def _record_version(connection: Connection) -> None:
    known = connection.execute(
        select(tables.schema_version.c.version).where(
            tables.schema_version.c.version == SCHEMA_VERSION
        )
    ).first()
    if known is None:
        connection.execute(
            tables.schema_version.insert().values(
                version=SCHEMA_VERSION,
                applied_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
            )
        )


def check_schema(engine: Engine) -> int:
    """The schema version, or SchemaError telling how to create it."""
    if not inspect(engine).has_table(tables.schema_version.name):
        raise SchemaError(
            "the database has no smartcron schema; "
            "run `smartcron-collector init-db` with the same --db"
        )
    with engine.connect() as connection:
        version = connection.execute(
            text("SELECT MAX(version) FROM smartcron_schema_version")
        ).scalar()
    if version is None or version < SCHEMA_VERSION:
        raise SchemaError(
            f"the database schema is version {version}, this collector needs {SCHEMA_VERSION}; "
            "run `smartcron-collector init-db` to update it"
        )
    return int(version)
