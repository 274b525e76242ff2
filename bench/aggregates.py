"""What a bulk load of runs by SQL needs to leave a database as ingest would: the
triggers on smartcron_runs and the tables' secondary keys set aside while the rows go in
(a trigger per row and a random-order index insert per row are what made 1 M runs take
378-802 s), the keys built again by sorting, and the aggregate tables filled from the
runs with one INSERT ... SELECT ... GROUP BY each, the statements the migrations'
backfills run (collector/db/migrations/sql/mysql/), so that the two cannot drift apart.

Works whether or not the schema still has the triggers (revision 0017 replaces them with
aggregates that ingest writes per batch): what is there is set aside and put back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from smartcron.collector.db.migrations.duration_buckets import fragments
from smartcron.collector.db.scripts import migration_sql, split_statements

# The latest backfill of each aggregate table: run_rollup (0004 recounts lost runs; gone
# since 0017, and skipped where it is),
# run_hourly, host_hourly and run_daily (0009), perf_daily (0014), recent_failures (0016),
# run_totals (0020).
BACKFILLS = ("0004_rollup.sql", "0009_rollups.sql", "0014_perf_daily.sql",
             "0016_recent_failures.sql", "0020_run_totals.sql")  # fmt: skip


def backfill_statements() -> list[str]:
    """The DELETE and INSERT ... SELECT statements of the backfills, in order; not their
    LOCK TABLES (nothing else writes during a bench load), triggers or ANALYZE."""
    fill = fragments("mysql")
    found = []
    for name in BACKFILLS:
        for statement in split_statements(migration_sql(name, "mysql").format_map(fill)):
            if statement.upper().startswith(("DELETE FROM ", "INSERT INTO ")):
                found.append(statement)
    return found


def existing_tables(cursor: Any) -> set[str]:
    cursor.execute("SELECT table_name FROM information_schema.tables"
                   " WHERE table_schema = DATABASE()")  # fmt: skip
    return {name for (name,) in cursor.fetchall()}


def table_columns(cursor: Any, table: str) -> dict[str, bool]:
    """`table`'s columns in this schema, each with whether it takes a null: an older
    build's schema (--compare) lacks some, or refuses a null."""
    cursor.execute("SELECT column_name, is_nullable FROM information_schema.columns"
                   " WHERE table_schema = DATABASE() AND table_name = %s", (table,))  # fmt: skip
    return {name: nullable == "YES" for name, nullable in cursor.fetchall()}


def target_table(statement: str) -> str:
    """smartcron_run_hourly of 'INSERT INTO smartcron_run_hourly (...' or 'DELETE FROM ...'."""
    return statement.split()[2].rstrip(";")


def fill_aggregates(cursor: Any) -> list[str]:
    """Refill every aggregate table from the runs stored; the tables this schema lacks
    (an older build's) are skipped and named."""
    tables = existing_tables(cursor)
    skipped = []
    for statement in backfill_statements():
        table = target_table(statement)
        if table not in tables:
            skipped.append(table)
            continue
        cursor.execute(statement)  # no arguments: pymysql leaves its "%" alone
    filled = sorted({target_table(statement) for statement in backfill_statements()} & tables)
    cursor.execute("ANALYZE TABLE " + ", ".join(filled))
    cursor.fetchall()
    return sorted(set(skipped))


@contextmanager
def triggers_set_aside(cursor: Any, table: str) -> Iterator[list[str]]:
    """`table`'s triggers dropped for the block and created again, as they were, after."""
    cursor.execute("SELECT trigger_name FROM information_schema.triggers"
                   " WHERE event_object_schema = DATABASE() AND event_object_table = %s"
                   " ORDER BY action_order", (table,))  # fmt: skip
    names = [name for (name,) in cursor.fetchall()]
    created = []
    for name in names:
        cursor.execute(f"SHOW CREATE TRIGGER `{name}`")
        created.append(cursor.fetchone()[2])
    for name in names:
        cursor.execute(f"DROP TRIGGER `{name}`")
    yield names
    for text in created:
        cursor.execute(text)


def key_lines(cursor: Any, table: str, *, primary: bool) -> list[str]:
    """The key definitions of SHOW CREATE TABLE (`KEY ix (a, b)`, `UNIQUE KEY ...`), with
    the primary key's when `primary`."""
    cursor.execute(f"SHOW CREATE TABLE `{table}`")
    lines = [line.strip().rstrip(",") for line in cursor.fetchone()[1].splitlines()]
    kinds = ("KEY ", "UNIQUE KEY ") + (("PRIMARY KEY ",) if primary else ())
    return [line for line in lines if line.startswith(kinds)]


def key_name(line: str) -> str:
    """`ix_runs_started` of "KEY `ix_runs_started` (`started_at`,`id`)"."""
    return line[line.index("`") : line.index("`", line.index("`") + 1) + 1]


@contextmanager
def keys_set_aside(cursor: Any, table: str, *, primary: bool = False) -> Iterator[list[str]]:
    """`table` without its secondary keys (and its primary key, with `primary`: rows then
    go in in any order at the cost of one sorted rebuild) for the block; one ALTER TABLE
    builds them all again after, each by a sort, not by an insert per row."""
    lines = key_lines(cursor, table, primary=primary)
    if lines:
        drops = ", ".join(
            "DROP PRIMARY KEY" if line.startswith("PRIMARY") else f"DROP INDEX {key_name(line)}"
            for line in lines
        )
        cursor.execute(f"ALTER TABLE `{table}` {drops}")
    yield lines
    if lines:
        cursor.execute(f"ALTER TABLE `{table}` " + ", ".join(f"ADD {line}" for line in lines))
