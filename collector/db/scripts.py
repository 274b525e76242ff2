"""The SQL the migrations apply as text: views and triggers, one file per revision and
dialect (collector/db/migrations/sql/), split into statements as their clients do."""

from __future__ import annotations

import sqlite3
from importlib import resources


def migration_sql(name: str, dialect: str) -> str:
    """One file of collector/db/migrations/sql/DIALECT/ (dialect: mysql or sqlite)."""
    root = resources.files("smartcron.collector.db.migrations") / "sql" / dialect
    return (root / name).read_text(encoding="utf-8")


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


def statements(script: str, dialect: str) -> list[str]:
    """The statements of a script written for this dialect."""
    return sqlite_statements(script) if dialect == "sqlite" else split_statements(script)
