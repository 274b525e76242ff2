"""The schema: the migrated database on MySQL and SQLite and tables.py describe one schema
(tests/collector/test_migrations.py proves the upgrades)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from smartcron.collector.db import tables
from smartcron.collector.db.migrate import check_schema, head_revision, migrate
from smartcron.collector.db.migrations import VERSION_TABLE
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

PREFIX, VIEW_PREFIX = "smartcron_", "smartcron_v_"
EXPECTED_VIEWS = {
    "smartcron_v_job_performance",
    "smartcron_v_daily_trends",
    "smartcron_v_job_health",
    "smartcron_v_recent_failures",
    "smartcron_v_active_alerts",
}

TABLES = [table.name for table in tables.metadata.sorted_tables]

# (name, nullable, kind) of one column; kind is the portable part of its type.
Column = tuple[str, bool, str]


def type_kind(type_: TypeEngine[Any]) -> str:
    """What a column holds: 'string(36)', 'datetime(6)', 'mediumtext', 'integer', ...

    Integer and float widths are left out (SQLite has one of each); what loses data when
    it differs is kept: string lengths, fractional seconds, text sizes. Order matters:
    Text is a String, Float is Numeric, and MySQL spells a boolean TINYINT(1).
    """
    if isinstance(type_, Boolean) or (
        isinstance(type_, mysql.TINYINT) and getattr(type_, "display_width", None) == 1
    ):
        return "boolean"
    if isinstance(type_, Integer):
        return "integer"
    if isinstance(type_, Float):
        return "float"
    if isinstance(type_, Numeric):
        return "decimal"
    if isinstance(type_, DateTime):
        fsp = getattr(type_, "fsp", None)
        return f"datetime({fsp})" if fsp else "datetime"
    if isinstance(type_, Date):
        return "date"
    for text_type in (mysql.TINYTEXT, mysql.MEDIUMTEXT, mysql.LONGTEXT, Text):
        if isinstance(type_, text_type):
            return text_type.__name__.lower()
    if isinstance(type_, String):
        return f"string({type_.length})"
    return type(type_).__name__.lower()


def family(kind: str) -> str:
    """The kind without its size: what both backends must agree on."""
    return "text" if kind.endswith("text") else kind.split("(", maxsplit=1)[0]


def table_names(engine: Engine) -> set[str]:
    names = inspect(engine).get_table_names()
    return {name for name in names if name.startswith(PREFIX)}


def test_alembic_finds_no_difference_from_tables_py(schema_engine: Engine) -> None:
    # What `alembic check` does: a column, index or table in tables.py that no revision
    # creates (or the other way round) shows here. Types are compared by test_table_*.
    with schema_engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE, "compare_type": False}
        )
        assert compare_metadata(context, tables.metadata) == []


def view_names(engine: Engine) -> set[str]:
    return {name for name in inspect(engine).get_view_names() if name.startswith(VIEW_PREFIX)}


def reflected_columns(engine: Engine, name: str) -> list[Column]:
    return [
        (column["name"], bool(column["nullable"]), type_kind(column["type"]))
        for column in inspect(engine).get_columns(name)
    ]


def declared_columns(table: Table, engine: Engine) -> list[Column]:
    """tables.py's columns as this engine's dialect spells them (with_variant applied)."""
    kinds = []
    for column in table.columns:
        nullable = bool(column.nullable) and not column.primary_key
        kinds.append((column.name, nullable, type_kind(column.type.dialect_impl(engine.dialect))))
    return kinds


def keys(engine: Engine, name: str) -> dict[str, Any]:
    """Primary key and every named index or unique constraint, as (columns, unique)."""
    inspector = inspect(engine)
    found: dict[str, Any] = {
        "PRIMARY": tuple(inspector.get_pk_constraint(name)["constrained_columns"])
    }
    for index in inspector.get_indexes(name):
        found[str(index["name"])] = (tuple(index["column_names"]), bool(index["unique"]))
    for unique in inspector.get_unique_constraints(name):
        found[str(unique["name"])] = (tuple(unique["column_names"]), True)
    return found


def declared_keys(table: Table) -> dict[str, Any]:
    found: dict[str, Any] = {"PRIMARY": tuple(column.name for column in table.primary_key)}
    for index in table.indexes:
        found[str(index.name)] = (tuple(column.name for column in index.columns), index.unique)
    for constraint in table.constraints:
        if constraint.name and constraint is not table.primary_key:
            columns = tuple(column.name for column in constraint.columns)  # type: ignore[attr-defined]
            found[str(constraint.name)] = (columns, True)
    return found


# ---------------------------------------------------------------- migrate


def test_migrate_creates_everything_and_is_idempotent(empty_engine: Engine) -> None:
    assert migrate(empty_engine) == head_revision()
    first = (table_names(empty_engine), view_names(empty_engine))
    assert migrate(empty_engine) == head_revision()

    assert (table_names(empty_engine), view_names(empty_engine)) == first
    assert first[0] == {table.name for table in tables.metadata.sorted_tables} | {
        "smartcron_alembic_version"
    }
    assert first[1] == EXPECTED_VIEWS
    assert check_schema(empty_engine) == head_revision()


def test_migrate_again_keeps_the_data(engine: Engine) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(
            tables.hosts.insert().values(host="db1", first_seen_at=now, last_seen_at=now)
        )
    migrate(engine)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tables.hosts)).scalar() == 1
    assert check_schema(engine) == head_revision()


# ---------------------------------------------------------------- one schema, two backends


def test_both_backends_have_the_same_tables_and_views(
    sqlite_engine: Engine, mysql_engine: Engine
) -> None:
    assert table_names(sqlite_engine) == table_names(mysql_engine)
    assert view_names(sqlite_engine) == view_names(mysql_engine) == EXPECTED_VIEWS


@pytest.mark.parametrize("table", TABLES)
def test_table_columns_agree_across_backends(
    table: str, sqlite_engine: Engine, mysql_engine: Engine
) -> None:
    def portable(engine: Engine) -> list[tuple[str, bool, str]]:
        return [(name, null, family(kind)) for name, null, kind in reflected_columns(engine, table)]

    assert portable(sqlite_engine) == portable(mysql_engine)


@pytest.mark.parametrize("table", TABLES)
def test_table_columns_match_tables_py(table: str, schema_engine: Engine) -> None:
    declared = declared_columns(tables.metadata.tables[table], schema_engine)
    assert reflected_columns(schema_engine, table) == declared


@pytest.mark.parametrize("table", TABLES)
def test_keys_and_indexes_match_tables_py(table: str, schema_engine: Engine) -> None:
    assert keys(schema_engine, table) == declared_keys(tables.metadata.tables[table])


@pytest.mark.parametrize("view", sorted(EXPECTED_VIEWS))
def test_view_columns_agree(view: str, sqlite_engine: Engine, mysql_engine: Engine) -> None:
    # Names and order only: SQLite cannot type or constrain a computed view column, so
    # its kinds and nullability say nothing (test_views.py checks the values instead).
    mysql_columns = [column[0] for column in reflected_columns(mysql_engine, view)]
    sqlite_columns = [column[0] for column in reflected_columns(sqlite_engine, view)]
    assert sqlite_columns == mysql_columns
