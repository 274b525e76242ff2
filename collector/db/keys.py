"""Reading jobs rows by their key, (job, host) IN (...), so that MySQL uses the key.

MariaDB 10.11 plans `(job, host) IN ((...), ...)` on smartcron_jobs as a range of
ix_jobs_host_state on `host` alone (its key_len is host's), which reads every job of
every host named: with 200 hosts, the whole table for 400 keys (2.1 s against 0.2 s by
the primary key, 30,000 jobs, as measured for bench/alerts.py). The hint names the key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, Connection, select, tuple_
from sqlalchemy.engine import Dialect

from . import tables
from .engine import is_mysql

HINT = "FORCE INDEX (PRIMARY)"
Key = tuple[str, str]
# Keys per statement: SQLite allows 999 parameters (two a key) in older builds.
KEYS_PER_QUERY = 400


def rows_by_job_key(
    connection: Connection, columns: Sequence[Column[Any]], keys: Sequence[Key]
) -> list[dict[str, Any]]:
    """`columns` of the smartcron_jobs rows of `keys` ((job, host) pairs; a key without a
    row has none), in key order, by column name, each value of the type Core gives it;
    KEYS_PER_QUERY keys a statement.

    On MySQL the statement is written here and its values bound by pymysql: building and
    executing the Core construct (a tuple IN of literal keys) cost 880 µs of CPU for one
    key, in every ingest transaction (a tenth of a single-report POST's)."""
    ordered = sorted(set(keys))
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ordered), KEYS_PER_QUERY):
        rows += _rows(connection, columns, ordered[start : start + KEYS_PER_QUERY])
    return rows


def _rows(
    connection: Connection, columns: Sequence[Column[Any]], keys: Sequence[Key]
) -> list[dict[str, Any]]:
    if not is_mysql(connection):
        j = tables.jobs.c
        query = select(*columns).where(tuple_(j.job, j.host).in_(keys)).order_by(j.job, j.host)
        return [dict(row) for row in connection.execute(query).mappings()]
    names = tuple(column.name for column in columns)
    convert = _converters(tuple(columns), connection.dialect)
    pairs = ", ".join(["(%s, %s)"] * len(keys))
    table = tables.jobs.name
    sql = (f"SELECT {', '.join(f'{table}.{name}' for name in names)} FROM {table} {HINT}"
           f" WHERE (job, host) IN ({pairs}) ORDER BY job, host")  # fmt: skip
    values = tuple(value for key in keys for value in key)
    return [
        {name: value if value is None or to is None else to(value)
         for name, value, to in zip(names, row, convert, strict=True)}
        for row in connection.exec_driver_sql(sql, values)
    ]  # fmt: skip


@functools.lru_cache(maxsize=32)
def _converters(
    columns: tuple[Column[Any], ...], dialect: Dialect
) -> tuple[Callable[[Any], Any] | None, ...]:
    """Each column's result processor for `dialect` (None: the driver's value as it is),
    as Core applies them: a Boolean read back as 0 or 1 becomes False or True."""
    return tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                 for column in columns)  # fmt: skip
