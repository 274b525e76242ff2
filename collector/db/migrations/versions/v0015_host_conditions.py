"""smartcron_host_conditions: when each condition a host's heartbeat shows began, so a
host alert's instant is the episode's start, not the latest heartbeat's arrival
(collector/alerting/hosts.py). Without it, an alert resolved by hand reopened at the
next heartbeat while the condition still held.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.types import TABLE_OPTIONS, Micro

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smartcron_host_conditions",
        sa.Column("rule", sa.String(32), primary_key=True),
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("since", Micro, nullable=False),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
