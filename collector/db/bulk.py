"""Ingest's statements, many rows (or keys) each: on MySQL with the values written
into the SQL in one pass, elsewhere bound by the driver.

Why by hand on MySQL: pymysql, a pure-Python driver, escapes each value through
several calls (escape, escape_item, an encoder per type), after SQLAlchemy has
built a parameter dictionary per row. For a batch of 100 reports, some 2,400
values, that cost 8 to 9 ms of the collector's CPU against 3.5 ms rendered here,
and halved the batched ingest rate in bench/ingest.py (see docs/collector.md).
SQLite's driver binds in C: it gets the same statement and rows as parameters.

The statement is still SQLAlchemy's (a Core construct, compiled for the connection's
dialect), so each is written once for both backends; only the VALUES list is rendered
here. Strings are escaped by pymysql's own escape_string, or by doubling quotes when
the session runs with NO_BACKSLASH_ESCAPES, exactly as pymysql itself does; a value of
any other type than ingest stores is refused rather than guessed at.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

from pymysql.constants import SERVER_STATUS
from pymysql.converters import escape_float, escape_string
from sqlalchemy import Column, Connection, bindparam, select
from sqlalchemy.engine import Dialect

# Characters per statement: well under max_allowed_packet (4 MiB on old servers) even
# if every character took four bytes in UTF-8. pymysql's executemany stops at 1 MB too.
MAX_STATEMENT_CHARS = 1_000_000
# The VALUES (...) group of a compiled INSERT, placeholders in either of pymysql's styles.
_VALUES = re.compile(r"\bVALUES \((?:%s|%\(\w+\)s)(?:, (?:%s|%\(\w+\)s))*\)")

Literal = Callable[[Any], str]


def insert_rows(
    connection: Connection,
    statement: Any,
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    max_chars: int = MAX_STATEMENT_CHARS,
) -> int:
    """Execute the INSERT `statement` (a Core construct) for `rows`, each a tuple of the
    values of `columns`; returns the affected-row count. (Tuples, not dictionaries: a
    dictionary per row was a tenth of a batch's CPU.)"""
    if not rows:
        return 0
    if connection.dialect.name not in ("mysql", "mariadb"):
        named = [dict(zip(columns, row, strict=True)) for row in rows]
        return int(connection.execute(statement, named).rowcount)
    head, order, tail = _split(statement, columns, connection.dialect)
    literal = literal_writer(connection.connection.dbapi_connection)
    affected, size = 0, 0
    chunk: list[str] = []
    for row in rows:
        values = row if order is None else [row[index] for index in order]
        text = "(" + ",".join([literal(value) for value in values]) + ")"
        if chunk and size + len(text) > max_chars:
            affected += _execute(connection, head + ",".join(chunk) + tail)
            chunk, size = [], 0
        chunk.append(text)
        size += len(text) + 1
    return affected + _execute(connection, head + ",".join(chunk) + tail)


def select_in(connection: Connection, column: Column[Any], values: Sequence[Any]) -> list[Any]:
    """SELECT column FROM its table WHERE column IN (values): which of `values` it holds.
    (SQLAlchemy's expanding IN cost 8 µs of CPU per value on MySQL, a fifth of a batch.)"""
    if not values:
        return []
    if connection.dialect.name not in ("mysql", "mariadb"):
        query = select(column).where(column.in_(bindparam("values", expanding=True)))
        return list(connection.execute(query, {"values": list(values)}).scalars())
    literal = literal_writer(connection.connection.dbapi_connection)
    listed = ",".join([literal(value) for value in values])
    sql = f"SELECT {column.name} FROM {column.table.name} WHERE {column.name} IN ({listed})"
    result = connection.exec_driver_sql(sql, execution_options={"no_parameters": True})
    return [row[0] for row in result]


@functools.lru_cache(maxsize=64)
def _split(
    statement: Any, columns: tuple[str, ...], dialect: Dialect
) -> tuple[str, list[int] | None, str]:
    """The compiled statement around its VALUES list, and where each value of that list
    is in a row (None: in the row's own order): ("INSERT ... VALUES ", [1, 0, ...],
    " ON DUPLICATE KEY UPDATE ...")."""
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    found = list(_VALUES.finditer(compiled.string))
    listed = tuple(compiled.positiontup or compiled.binds)
    if len(found) != 1 or sorted(listed) != sorted(columns):
        # A bound value after VALUES (...) would have no value to take here.
        raise ValueError(f"cannot render the rows of {compiled.string[:80]!r}…")
    order = None if listed == columns else [columns.index(name) for name in listed]
    text = compiled.string
    return text[: found[0].start()] + "VALUES ", order, text[found[0].end() :]


def _execute(connection: Connection, sql: str) -> int:
    # No parameters at all: the driver sends the text as it is (a '%' in it stays a '%').
    result = connection.exec_driver_sql(sql, execution_options={"no_parameters": True})
    return int(result.rowcount)


def literal_writer(dbapi_connection: Any) -> Literal:
    """A function from a Python value to its SQL literal, for this connection's session."""
    if dbapi_connection.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES:

        def quote(text: str) -> str:
            return "'" + str(text.replace("'", "''")) + "'"

    else:

        def quote(text: str) -> str:
            return "'" + str(escape_string(text)) + "'"

    def literal(value: Any) -> str:
        kind = type(value)
        if kind is str:
            return quote(value)
        if value is None:
            return "NULL"
        if kind is int:
            return str(value)
        if kind is bool:
            return "1" if value else "0"
        if kind is float:
            return str(escape_float(value))  # refuses inf and nan, as pymysql does
        if kind is dt.datetime:
            if value.tzinfo is not None:
                raise TypeError(f"{value!r}: store naive UTC times")
            stamp: str = value.isoformat(" ", "microseconds")
            return "'" + stamp + "'"
        if kind is dt.date:  # the aggregates' days (aggregates.py)
            day: str = value.isoformat()
            return "'" + day + "'"
        raise TypeError(f"no SQL literal for {kind.__name__} value {value!r}")

    return literal
