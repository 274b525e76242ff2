"""The alert engine's tables, and an index on the moment a job becomes late.

smartcron_alerts as the engine writes it (rule, identity, one open per rule, job and
host, acknowledgement), its outbox smartcron_alert_events, smartcron_leases,
smartcron_maintenance and the engine's cursors; the index is how a pass finds the newly
late jobs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.sql_ops import apply_sql, dialect
from smartcron.collector.db.migrations.types import TABLE_OPTIONS, Id, Micro

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

C = sa.Column
ACTOR = 100  # smartcron_audit.actor: who acknowledged, resolved or created a window


def upgrade() -> None:
    _alerts()
    # Each transition of an alert, written in the transaction that makes it: the
    # delivery pass turns an event into one delivery per routed channel and marks it
    # dispatched (reminders it writes itself). Nothing is sent from the detecting pass.
    op.create_table(
        "smartcron_alert_events",
        C("id", Id, primary_key=True, autoincrement=True),
        C("alert_id", sa.BigInteger, nullable=False),
        C("event", sa.String(16), nullable=False),  # opened | resolved | reminder
        C("created_at", Micro, nullable=False),
        C("dispatched_at", Micro),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_alert_events_alert", "smartcron_alert_events", ["alert_id", "id"])
    op.create_index("ix_alert_events_pending", "smartcron_alert_events", ["dispatched_at", "id"])
    # One row per singleton duty (the alert pass, the delivery pass): whoever holds an
    # unexpired row does it; taken by a conditional UPDATE and its row count.
    op.create_table(
        "smartcron_leases",
        C("name", sa.String(64), primary_key=True),
        C("holder", sa.String(255), nullable=False),
        C("expires_at", Micro, nullable=False),
        **TABLE_OPTIONS,
    )
    # A window silences the opening of alerts in its scope: every non-null one of job,
    # host and tag must match (a job on one host, a job everywhere, a host, a tag of the
    # job's last run). One-off: starts_at to ends_at. Cron-shaped: each time `schedule`
    # fires in `timezone`, for duration_s, from starts_at until ends_at (null: forever).
    op.create_table(
        "smartcron_maintenance",
        C("id", Id, primary_key=True, autoincrement=True),
        C("job", sa.String(100)),
        C("host", sa.String(255)),
        C("tag", sa.String(100)),
        C("starts_at", Micro, nullable=False),
        C("ends_at", Micro),
        C("schedule", sa.String(255)),
        C("timezone", sa.String(64)),
        C("duration_s", sa.Integer),
        C("reason", sa.String(512), nullable=False),
        C("created_by", sa.String(ACTOR), nullable=False),
        C("created_at", Micro, nullable=False),
        C("cancelled_at", Micro),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_maintenance_ends", "smartcron_maintenance", ["ends_at"])
    # The engine's bookkeeping, one row per cursor: the last run id examined, the last
    # pass's time (how the engine knows the collector itself was down), and the like.
    op.create_table(
        "smartcron_alert_cursors",
        C("name", sa.String(64), primary_key=True),
        C("position", sa.BigInteger),
        C("at", Micro),
        C("updated_at", Micro, nullable=False),
        **TABLE_OPTIONS,
    )
    # A job becomes late when late_after_at passes: a pass reads the jobs whose moment
    # fell since the last one, from this index, whatever the fleet's size.
    op.create_index("ix_jobs_late_after", "smartcron_jobs", ["late_after_at"])


def _alerts() -> None:
    """smartcron_alerts, which no release wrote, as the engine writes it; a row an older
    collector left is kept (kind becomes rule, message detail and the summary's start)."""
    kind = dialect()
    if kind == "sqlite":
        op.execute("DROP VIEW IF EXISTS smartcron_v_active_alerts")  # it names the table
    with op.batch_alter_table("smartcron_alerts") as batch:
        batch.alter_column(
            "kind", new_column_name="rule", existing_type=sa.String(32), existing_nullable=False
        )
        batch.alter_column(
            "message", new_column_name="detail", existing_type=sa.Text, existing_nullable=False
        )
        batch.add_column(C("summary", sa.String(255), nullable=False, server_default=""))
        # The occurrence: the scheduled moment (UTC) of a missed run, else the start of
        # the first failing run (or the moment a host condition was first seen).
        batch.add_column(C("instant", Micro))
        batch.add_column(C("last_seen_at", Micro))
        batch.add_column(C("repeats", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(C("acknowledged_at", Micro))
        batch.add_column(C("acknowledged_by", sa.String(ACTOR)))
        batch.add_column(C("resolved_by", sa.String(ACTOR)))  # null: it resolved by itself
        # Why no 'opened' event was written (a pause, a maintenance window): null if none.
        batch.add_column(C("silenced", sa.String(255)))
        # 1 while open, NULL once resolved: unique with (rule, job, host), so at most one
        # is open per rule, job and host (MySQL has no partial index; NULLs never clash).
        batch.add_column(C("open_key", sa.SmallInteger))
    op.execute(
        "UPDATE smartcron_alerts SET summary = SUBSTR(detail, 1, 255), instant = opened_at,"
        " last_seen_at = opened_at"
    )
    # Only the newest of an older collector's open rows per rule, job and host stays
    # open; any other is resolved now, by the migration, so that the key can hold.
    op.execute(
        "UPDATE smartcron_alerts SET open_key = 1 WHERE id IN (SELECT id FROM ("
        "SELECT MAX(id) AS id FROM smartcron_alerts WHERE resolved_at IS NULL"
        " GROUP BY rule, job, host) AS newest)"
    )
    moment = "UTC_TIMESTAMP(6)" if kind == "mysql" else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    op.execute(
        f"UPDATE smartcron_alerts SET resolved_at = {moment}, resolved_by = 'migration 0008'"
        " WHERE resolved_at IS NULL AND open_key IS NULL"
    )
    with op.batch_alter_table("smartcron_alerts") as batch:
        batch.alter_column("instant", existing_type=Micro, nullable=False)
        batch.alter_column("last_seen_at", existing_type=Micro, nullable=False)
        batch.create_unique_constraint("uq_alerts_identity", ["rule", "job", "host", "instant"])
        # open_key first: the open alerts of one rule are a range of this index too.
        batch.create_unique_constraint("uq_alerts_open", ["open_key", "rule", "job", "host"])
    apply_sql("0008_active_alerts.sql")


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
