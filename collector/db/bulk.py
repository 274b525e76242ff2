"""Statements of many rows (or keys) each, with every value bound by the driver.

On MySQL the statement is SQLAlchemy's Core construct compiled once for the
connection's dialect, and its rows go to pymysql's own `executemany` as tuples: pymysql
writes one multi-row INSERT of them (split at 1 MB, under any max_allowed_packet),
escaping each value by its type for the session (NO_BACKSLASH_ESCAPES included), so
no value is ever spelled out here. Going through SQLAlchemy's executemany instead
(a parameter dictionary per row, its type processors, insertmanyvalues) halved the
batched ingest rate in bench/ingest.py. pymysql's escaping of 100 reports' rows costs
3.2 ms of CPU against 1.5 ms for the hand-written literals this replaced
(docs/collector.md has the figures). SQLite's driver binds in C:
it gets the construct and rows by name, SQLAlchemy's types storing times as it reads
them back.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, bindparam, select
from sqlalchemy.engine import Dialect

from .engine import is_mysql

# The VALUES (...) group of a compiled INSERT, and its placeholders, named as pymysql's
# SQLAlchemy dialect names them.
_VALUES = re.compile(r"\bVALUES \(%\(\w+\)s(?:, %\(\w+\)s)*\)")
_NAMED = re.compile(r"%\((\w+)\)s")


def insert_rows(
    connection: Connection, statement: Any, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> int:
    """Execute the INSERT `statement` (a Core construct) for `rows`, each a tuple of the
    values of `columns`; returns the affected-row count. (Tuples, not dictionaries: a
    dictionary per row was a tenth of a batch's CPU.)"""
    if not rows:
        return 0
    if not is_mysql(connection):
        named = [dict(zip(columns, row, strict=True)) for row in rows]
        return int(connection.execute(statement, named).rowcount)
    sql, order = _compiled(statement, columns, connection.dialect)
    ordered = rows if order is None else [tuple([row[i] for i in order]) for row in rows]
    # Through SQLAlchemy still, so that an error is wrapped like any other (DBAPIError).
    return int(connection.exec_driver_sql(sql, list(ordered)).rowcount)


def select_in(connection: Connection, column: Column[Any], values: Sequence[Any]) -> list[Any]:
    """SELECT column FROM its table WHERE column IN (values): which of `values` it holds.
    (SQLAlchemy's expanding IN cost 8 µs of CPU per value on MySQL, a fifth of a batch.)"""
    if not values:
        return []
    if not is_mysql(connection):
        query = select(column).where(column.in_(bindparam("values", expanding=True)))
        return list(connection.execute(query, {"values": list(values)}).scalars())
    marks = ",".join(["%s"] * len(values))
    sql = f"SELECT {column.name} FROM {column.table.name} WHERE {column.name} IN ({marks})"
    return [row[0] for row in connection.exec_driver_sql(sql, tuple(values))]


@functools.lru_cache(maxsize=64)
def _compiled(
    statement: Any, columns: tuple[str, ...], dialect: Dialect
) -> tuple[str, list[int] | None]:
    """The statement compiled for `dialect`, its placeholders made positional (%s), and
    where each of its values is in a row (None: in the row's own order). Keyed on the
    statement object, which each caller builds once."""
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    # pymysql's SQLAlchemy dialect names its placeholders (%(run_id)s): in their order.
    listed = tuple(_NAMED.findall(compiled.string))
    if len(_VALUES.findall(compiled.string)) != 1 or sorted(listed) != sorted(columns):
        # pymysql's executemany repeats only the VALUES (...) group: a bound value
        # elsewhere (after it, in ON DUPLICATE KEY UPDATE) would be sent once, not per row.
        raise ValueError(f"not a multi-row INSERT of {columns}: {compiled.string[:80]!r}…")
    order = None if listed == columns else [columns.index(name) for name in listed]
    return _NAMED.sub("%s", compiled.string), order
