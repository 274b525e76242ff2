"""smartcron_v_job_health counts each job's last 24 hours per job, from the index,
instead of joining a derived table of every job's counts (10 s on 10,000 jobs).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from smartcron.collector.db.migrations.sql_ops import apply_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0007_job_health.sql")


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
