"""A job's zone and its state, as collector/state.py decides them, stored on its row;
smartcron_v_job_health reads them instead of deciding the state itself.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.sql_ops import apply_sql
from smartcron.collector.db.migrations.types import Micro

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows are due for review at once: the collector's first evaluation pass
    # decides and stores each job's state (until then they read healthy, no reason).
    with op.batch_alter_table("smartcron_jobs") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64)))
        batch.add_column(
            sa.Column("state", sa.String(16), nullable=False, server_default="healthy")
        )
        batch.add_column(
            sa.Column("state_reason", sa.String(512), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("missed_at", Micro))
        batch.add_column(sa.Column("review_at", Micro))
    op.execute("UPDATE smartcron_jobs SET review_at = '2000-01-01 00:00:00'")
    op.create_index("ix_jobs_review", "smartcron_jobs", ["review_at"])
    apply_sql("0005_job_health.sql")


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
