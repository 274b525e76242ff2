"""smartcron_jobs.unlisted_at: when the host's crontabs stopped listing a wrapped job
that its agent had listed (collector/registry.py). The row and its runs stay; the job
is no longer expected to run from then on, unless it runs again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.types import Micro

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("smartcron_jobs") as batch:
        batch.add_column(sa.Column("unlisted_at", Micro))


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
