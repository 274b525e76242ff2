"""`smartcron-collector init-db`: create or update the schema, record its version.

MySQL gets the numbered files of sql/ exactly as a person would apply them with
the mysql client; SQLite gets the same tables from the Core metadata and its own
copy of the views (sql/sqlite/).
"""

from __future__ import annotations

import datetime as dt
from importlib import resources

from sqlalchemy import Connection, Engine, inspect, select, text

from . import tables
from .engine import is_mysql

SCHEMA_VERSION = 1


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


def init_db(engine: Engine) -> int:
    """Create what is missing (tables, views), record the version. Idempotent."""
    with engine.begin() as connection:
        if is_mysql(engine):
            # The DB-API cursor directly, without parameters: the views hold '%'
            # (LIKE 'skipped%'), which a parameterised execute would take for a placeholder.
            cursor = connection.connection.cursor()
            for _name, script in sql_files():
                for statement in split_statements(script):
                    cursor.execute(statement)
            cursor.close()
        else:
            tables.metadata.create_all(connection)
            for _name, script in sql_files("sqlite"):
                for statement in split_statements(script):
                    connection.exec_driver_sql(statement)
        _record_version(connection)
    return SCHEMA_VERSION


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
