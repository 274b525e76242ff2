"""A lost run's finished_at and duration_s are unknown (null), and it stays out of every
duration figure: until now they said when the loss was noticed, so a daily job's lost
run lasted 24 h and skewed avg, p95 and max. Existing lost runs get null too; the
rollup counts them apart (bucket -32768) and is counted afresh.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op
from smartcron.collector.db.migrations.sql_ops import apply_sql, dialect
from smartcron.collector.db.migrations.types import Double, Micro

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The views that read smartcron_runs: SQLite re-creates the table below, and renaming
# the new one into place fails while a view names a table that is not there.
RUNS_VIEWS = ("smartcron_v_daily_trends", "smartcron_v_job_health", "smartcron_v_recent_failures")


def upgrade() -> None:
    if dialect() == "mysql":
        # One ALTER, one copy of the table (two would copy a million runs twice).
        op.execute(
            "ALTER TABLE smartcron_runs MODIFY finished_at DATETIME(6) NULL, "
            "MODIFY duration_s DOUBLE NULL"
        )
    else:
        # SQLite alters no column: the table is re-created and copied (Alembic's batch
        # mode), without its trigger and views meanwhile (re-created below).
        op.execute("DROP TRIGGER IF EXISTS smartcron_runs_rollup")
        for view in RUNS_VIEWS:
            op.execute(f"DROP VIEW IF EXISTS {view}")
        with op.batch_alter_table("smartcron_runs", recreate="always") as batch:
            batch.alter_column("finished_at", existing_type=Micro, nullable=True)
            batch.alter_column("duration_s", existing_type=Double, nullable=True)
        apply_sql("0001_views.sql")
    op.execute(
        "UPDATE smartcron_runs SET finished_at = NULL, duration_s = NULL WHERE status = 'lost'"
    )
    op.execute(
        "UPDATE smartcron_jobs SET last_finished_at = NULL, last_duration_s = NULL "
        "WHERE last_status = 'lost'"
    )
    apply_sql("0004_performance.sql")
    apply_sql("0004_rollup.sql")


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
