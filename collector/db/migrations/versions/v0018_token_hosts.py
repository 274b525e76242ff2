"""Ingest tokens bound to a host, in smartcron_tokens.host.

The column names the one host a token may report for (its runs, its heartbeat, its
control pull); null is a fleet token, which may report for every host, as every
token did before. Existing tokens stay fleet
tokens, so no host stops reporting on the upgrade; `create-token --host NAME` makes
the bound ones. A host name is compared exactly, as the tables keep it (binary
collation on MySQL): the same String(255) as every host column.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("smartcron_tokens") as batch:
        batch.add_column(sa.Column("host", sa.String(255)))


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
