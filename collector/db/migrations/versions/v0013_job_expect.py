"""What a job expects of its runs (the report's `expect`), stored on its row: the
grace a run may start late by, the durations outside which a successful run alerts,
and the consecutive failures that alert. Null grace and durations: not set (the
grace then defaults by the schedule, collector/state.py); alert_after defaults to 3.
And when the host's agent last listed a run of the job in flight: from then on, a
run the agent does not list has not started (collector/state.py, report_allowance).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.types import Micro

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows take the defaults, as reports from wrappers before `expect` do.
    with op.batch_alter_table("smartcron_jobs") as batch:
        batch.add_column(sa.Column("grace_s", sa.Double))
        batch.add_column(sa.Column("min_duration_s", sa.Double))
        batch.add_column(sa.Column("max_duration_s", sa.Double))
        batch.add_column(
            sa.Column("alert_after", sa.SmallInteger, nullable=False, server_default="3")
        )
        batch.add_column(sa.Column("in_flight_seen_at", Micro))


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
