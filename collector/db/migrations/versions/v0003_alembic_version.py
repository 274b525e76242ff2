"""The schema's version is Alembic's (smartcron_alembic_version): the old version table
goes. Its rows said 1 or 2, which migrate.py read to adopt a v0.1.0 database.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("smartcron_schema_version")


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
