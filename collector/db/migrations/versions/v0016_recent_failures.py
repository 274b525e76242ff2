"""The last day's failed runs in a table of their own, for smartcron_v_recent_failures.

The view read each failed run of the day through ix_runs_status_started and then its
output row by run_id: a random UUID key, so one page read per failure at the far end of
a big table (3.8 s for 23,308 failures at 10,000 jobs). smartcron_recent_failures holds
what the view shows, the last 300 characters of stderr included, clustered by start
time: the view reads one range of a small table. A trigger on smartcron_runs (only ever
inserted into) keeps it, the stderr read from the output row that ingest writes just
before the run; the evaluation pass deletes rows older than the view reads
(collector/rollups.py).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.sql_ops import apply_sql
from smartcron.collector.db.migrations.types import TABLE_OPTIONS, Double, Micro, RunId

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

C = sa.Column


def upgrade() -> None:
    # Start time first in the key: the view's range and order are the table's own.
    op.create_table(
        "smartcron_recent_failures",
        C("started_at", Micro, primary_key=True),
        C("run_id", RunId, primary_key=True),
        C("job", sa.String(100), nullable=False),
        C("host", sa.String(255), nullable=False),
        C("status", sa.String(20), nullable=False),
        C("exit_code", sa.Integer),
        C("signal_number", sa.Integer),
        C("duration_s", Double),
        C("attempt_count", sa.Integer, nullable=False),
        C("stderr_end", sa.String(300)),  # null: no output row (yet)
        **TABLE_OPTIONS,
    )
    # The output trigger finds its run's row by run_id.
    op.create_index("ix_recent_failures_run", "smartcron_recent_failures", ["run_id"], unique=True)
    apply_sql("0016_recent_failures.sql")
    apply_sql("0016_views.sql")


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
