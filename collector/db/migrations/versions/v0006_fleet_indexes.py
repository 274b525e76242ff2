"""Indexes on the stored state, so that a page of jobs, filtered by state or host, and
the counts per state are read from an index in the order shown, whatever the fleet's size.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The order the fleet is listed in (collector/fleet.py): worst state first, then
    # priority, name and host; the GROUP BY of /api/v1/status reads the first column.
    op.create_index("ix_jobs_state_order", "smartcron_jobs", ["state", "priority", "job", "host"])
    # One host's jobs in the same order.
    op.create_index("ix_jobs_host_state", "smartcron_jobs", ["host", "state", "priority", "job"])


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
