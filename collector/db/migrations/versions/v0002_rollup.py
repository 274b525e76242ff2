"""The run rollup, kept by a trigger, and the performance view that reads it (what
v0.1.0 called schema version 2; the database v0.1.0 leaves is at this revision).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.sql_ops import apply_sql
from smartcron.collector.db.migrations.types import TABLE_OPTIONS, Double

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

C = sa.Column


def upgrade() -> None:
    # One row per UTC day, job, host and log-scale duration bucket, filled by the trigger
    # (sql/*/0002_rollup.sql says why and how). Day first: a month is one range of the key.
    op.create_table(
        "smartcron_run_rollup",
        C("day", sa.Date, primary_key=True),
        C("job", sa.String(100), primary_key=True),
        C("host", sa.String(255), primary_key=True),
        C("bucket", sa.SmallInteger, primary_key=True, autoincrement=False),
        C("runs", sa.Integer, nullable=False),
        C("successes", sa.Integer, nullable=False),
        C("duration_sum", Double, nullable=False),
        C("duration_min", Double, nullable=False),
        C("duration_max", Double, nullable=False),
        C("rss_sum", sa.Numeric(38, 0), nullable=False),  # a BIGINT could overflow
        C("rss_count", sa.Integer, nullable=False),
        C("rss_max", sa.BigInteger),
        **TABLE_OPTIONS,
    )
    # The jobs seen in the last 30 days, one index dive each (a loose index scan).
    op.create_index("ix_rollup_job_day", "smartcron_run_rollup", ["job", "host", "day"])
    apply_sql("0002_rollup.sql")
    # A database that already holds runs has them counted now, once; the trigger counts
    # every run inserted from here on (the rebuild's locking says why none is missed).
    apply_sql("0002_rebuild_rollup.sql")


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
