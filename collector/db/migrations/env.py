"""Alembic's environment: migrate.py hands over the connection (online) or the dialect
(offline, the MySQL DDL of sql/); nothing is read from an alembic.ini."""

from __future__ import annotations

from alembic import context
from smartcron.collector.db.migrations import VERSION_TABLE
from smartcron.collector.db.tables import metadata


def run_migrations() -> None:
    config = context.config
    if context.is_offline_mode():
        context.configure(
            dialect_name=config.attributes["dialect"],
            # named: a '%' in a view (LIKE 'skipped%') is written as it is, not doubled
            dialect_opts={"paramstyle": "named"},
            literal_binds=True,
            target_metadata=metadata,
            version_table=VERSION_TABLE,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    # migrate.py holds the lock on this connection and has begun its transaction;
    # Alembic then leaves the commit to it.
    context.configure(
        connection=config.attributes["connection"],
        target_metadata=metadata,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
