"""What the revisions share: applying a file of SQL text (views, triggers, a rebuild)
online or offline, on the dialect at hand."""

from __future__ import annotations

from collections.abc import Mapping

from alembic import op

from ..scripts import migration_sql, statements


def dialect() -> str:
    """'mysql' (MySQL or MariaDB) or 'sqlite'."""
    name = op.get_context().dialect.name
    return "mysql" if name in ("mysql", "mariadb") else name


def apply_sql(name: str, fill: Mapping[str, str] | None = None) -> None:
    """Run sql/DIALECT/NAME statement by statement, as its client would; with `fill`, its
    names in braces ({columns}) are replaced first (a file written with them has no other
    braces)."""
    kind = dialect()
    script = migration_sql(name, kind)
    if fill is not None:
        script = script.format_map(fill)
    for statement in statements(script, kind):
        if op.get_context().as_sql:
            op.execute(statement)
        else:
            # Without parameters, straight to the driver: the views hold '%'
            # (LIKE 'skipped%'), which a parameterised execute would take for a placeholder.
            op.get_bind().exec_driver_sql(statement, execution_options={"no_parameters": True})
