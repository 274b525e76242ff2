"""INSERT ... ON DUPLICATE KEY UPDATE (MySQL) or ON CONFLICT DO UPDATE (SQLite), built
from one description: the row a conflict finds is updated with `assign(new)`, where
`new` names the values the INSERT tried to write."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import mysql, sqlite

# (column, value) pairs in order: MySQL evaluates ON DUPLICATE KEY UPDATE assignments in
# order, each later one seeing the earlier ones; SQLite evaluates them all on the old row.
Assignments = Sequence[tuple[str, Any]]


def upsert(
    table: Table, key: Sequence[str], mysql_dialect: bool, assign: Callable[[Any], Assignments]
) -> Any:
    """The upsert of `table` on its unique `key` columns, for MySQL or SQLite."""
    if mysql_dialect:
        statement: Any = mysql.insert(table)
        return statement.on_duplicate_key_update(list(assign(statement.inserted)))
    statement = sqlite.insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(key), set_=dict(assign(statement.excluded))
    )
