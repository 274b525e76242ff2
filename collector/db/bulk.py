"""Multi-row INSERTs for ingest's hot path on MySQL, rendered in one pass.

pymysql's executemany turns every value into SQL through several layers of
calls (escape, escape_item, a converter per type), and SQLAlchemy builds a
parameter dictionary per row before that: for a batch of 100 reports, some 4,000
values, that was most of the collector's CPU per batch. Here each row is a
tuple and each value goes through one function that knows the few types ingest
stores. Strings are escaped by pymysql's own escape_string, or by doubling
quotes when the session runs with NO_BACKSLASH_ESCAPES, exactly as pymysql
itself does; anything else is refused rather than guessed at.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pymysql
from pymysql.constants import ER, SERVER_STATUS
from pymysql.converters import escape_float, escape_string

# Characters per statement: well under max_allowed_packet (4 MiB on old servers) even
# if every character took four bytes in UTF-8. pymysql's executemany stops at 1 MB too.
MAX_STATEMENT_CHARS = 1_000_000

Literal = Callable[[Any], str]


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
        raise TypeError(f"no SQL literal for {kind.__name__} value {value!r}")

    return literal


def insert_rows(
    dbapi_connection: Any,
    head: str,
    rows: Iterable[Sequence[Any]],
    tail: str = "",
    max_chars: int = MAX_STATEMENT_CHARS,
) -> int:
    """Execute `head` VALUES-list `tail` for all rows, in as few statements as fit.

    `head` ends with "VALUES "; `tail` may hold an ON DUPLICATE KEY UPDATE clause.
    Returns the affected-row count summed over the statements.
    """
    literal = literal_writer(dbapi_connection)
    affected = 0
    cursor = dbapi_connection.cursor()
    try:
        chunk: list[str] = []
        size = 0
        for row in rows:
            text = "(" + ",".join([literal(value) for value in row]) + ")"
            if chunk and size + len(text) > max_chars:
                affected += _execute(cursor, head, chunk, tail)
                chunk, size = [], 0
            chunk.append(text)
            size += len(text) + 1
        if chunk:
            affected += _execute(cursor, head, chunk, tail)
    finally:
        cursor.close()
    return affected


def _execute(cursor: Any, head: str, values: list[str], tail: str) -> int:
    # No parameters: pymysql sends the text as it is (a '%' in the data stays a '%').
    affected = int(cursor.execute(head + ",".join(values) + tail))
    # IGNORE skips duplicates, but it also turns what strict mode refuses (a value too
    # long or out of range for its column) into a warning and stores the value cut or
    # clamped. Each skipped duplicate leaves one warning: more means something else.
    skipped = len(values) - affected
    if head.startswith("INSERT IGNORE") and cursor.warning_count > skipped:
        _refuse_altered_values(cursor, cursor.warning_count, skipped)
    return affected


def _refuse_altered_values(cursor: Any, warnings: int, skipped: int) -> None:
    """Raise the first warning that is not a skipped duplicate, as strict mode would;
    notes (level Note) change no value. The server lists at most max_error_count (64)
    warnings: if those are all duplicates or notes but there were more, the rest are
    unknown, and the batch is refused all the same (fail closed)."""
    cursor.execute("SHOW WARNINGS")
    listed = cursor.fetchall()
    for level, code, message in listed:
        if code != ER.DUP_ENTRY and level != "Note":
            raise pymysql.err.DataError(code, message)
    if len(listed) < warnings:
        raise pymysql.err.DataError(
            ER.WARN_DATA_TRUNCATED,
            f"{warnings} warnings for {skipped} duplicate runs, and only {len(listed)} "
            "could be read: a value may have been cut; send smaller batches",
        )
