"""Alert delivery's tables: deliveries, their attempts, and reminders.

The messages owed to each channel, every attempt to send one, and the reminders written
for open critical alerts (collector/alerting/).

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.types import TABLE_OPTIONS, Flag, Id, Micro

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None

C = sa.Column


def upgrade() -> None:
    op.create_table(
        "smartcron_deliveries",
        C("id", Id, primary_key=True, autoincrement=True),
        # "event:ID" or "summary:DAY": unique per channel, so that replicas fanning out
        # the same event, or writing the same day's summary, owe it once.
        C("delivery_key", sa.String(64), nullable=False),
        C("channel", sa.String(100), nullable=False),
        C("event_id", sa.BigInteger),
        C("status", sa.String(16), nullable=False),
        C("attempts", sa.Integer, nullable=False, server_default="0"),
        C("next_attempt_at", Micro, nullable=False),
        C("last_error", sa.String(512)),
        C("created_at", Micro, nullable=False),
        C("sent_at", Micro),
        C("claim", sa.String(36)),
        C("claimed_until", Micro),
        C("attempt_id", sa.BigInteger),
        C("payload", sa.Text),
        sa.UniqueConstraint("delivery_key", "channel", name="uq_deliveries_key"),
        **TABLE_OPTIONS,
    )
    # A channel's due messages, oldest first, from the index alone.
    op.create_index(
        "ix_deliveries_due", "smartcron_deliveries", ["status", "channel", "next_attempt_at"]
    )
    op.create_table(
        "smartcron_delivery_attempts",
        C("id", Id, primary_key=True, autoincrement=True),
        C("channel", sa.String(100), nullable=False),
        C("at", Micro, nullable=False),
        C("ok", Flag, nullable=False),
        C("kind", sa.String(16), nullable=False),
        C("deliveries", sa.Integer, nullable=False),
        C("error", sa.String(512)),
        **TABLE_OPTIONS,
    )
    # The rate limit's count of a channel's recent sends, and its latest attempts.
    op.create_index(
        "ix_delivery_attempts_channel", "smartcron_delivery_attempts", ["channel", "at"]
    )
    op.create_table(
        "smartcron_alert_reminders",
        C("alert_id", sa.BigInteger, primary_key=True, autoincrement=False),
        C("sent", sa.Integer, nullable=False),
        C("last_at", Micro, nullable=False),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
