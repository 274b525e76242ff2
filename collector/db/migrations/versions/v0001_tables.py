"""The tables and reporting views (what v0.1.0 called schema version 1).

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.sql_ops import apply_sql
from smartcron.collector.db.migrations.types import (
    TABLE_OPTIONS,
    Digest,
    Double,
    Flag,
    Id,
    LongText,
    Micro,
    Priority,
    RunId,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

C = sa.Column


def upgrade() -> None:
    op.create_table(
        "smartcron_schema_version",
        C("version", sa.Integer, primary_key=True, autoincrement=False),
        C("applied_at", Micro, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "smartcron_runs",
        C("id", Id, primary_key=True, autoincrement=True),
        C("run_id", RunId, nullable=False),
        C("job", sa.String(100), nullable=False),
        C("host", sa.String(255), nullable=False),
        C("run_user", sa.String(255), nullable=False),
        C("command", LongText, nullable=False),
        C("schedule", sa.String(255)),
        C("priority", Priority, nullable=False),
        C("tags", sa.String(1024), nullable=False),
        C("run_trigger", sa.String(16), nullable=False),
        C("status", sa.String(20), nullable=False),
        C("exit_code", sa.Integer),
        C("signal_number", sa.Integer),
        C("started_at", Micro, nullable=False),
        C("finished_at", Micro, nullable=False),
        C("duration_s", Double, nullable=False),
        C("attempt_count", sa.Integer, nullable=False),
        C("peak_rss_bytes", sa.BigInteger),
        C("cpu_user_s", Double),
        C("cpu_system_s", Double),
        C("output_bytes", sa.BigInteger, nullable=False),
        C("output_truncated", Flag, nullable=False),
        C("breaker_state", sa.String(16), nullable=False),
        C("wrapper_version", sa.String(32), nullable=False),
        C("received_at", Micro, nullable=False),
        sa.UniqueConstraint("run_id", name="uq_runs_run_id"),
        **TABLE_OPTIONS,
    )
    # Covering: a job's recent runs and the rollup's rebuild read the first alone, never
    # the table (a million runs do not fit a small buffer pool); the last 24 hours'
    # counts the second, whose (started_at, id) order also pages /api/v1/runs.
    op.create_index(
        "ix_runs_job_started",
        "smartcron_runs",
        ["job", "host", "started_at", "status", "duration_s", "peak_rss_bytes"],
    )
    op.create_index(
        "ix_runs_started", "smartcron_runs", ["started_at", "id", "job", "host", "status"]
    )
    op.create_index("ix_runs_status_started", "smartcron_runs", ["status", "started_at"])
    op.create_index("ix_runs_host_started", "smartcron_runs", ["host", "started_at"])
    op.create_table(
        "smartcron_run_output",
        C("run_id", RunId, primary_key=True),
        C("attempts", LongText, nullable=False),
        C("stdout_tail", LongText, nullable=False),
        C("stderr_tail", LongText, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "smartcron_jobs",
        C("job", sa.String(100), primary_key=True),
        C("host", sa.String(255), primary_key=True),
        C("schedule", sa.String(255)),
        C("priority", Priority, nullable=False),
        C("command", LongText, nullable=False),
        C("first_seen_at", Micro, nullable=False),
        C("last_run_id", RunId),
        C("last_status", sa.String(20)),
        C("last_started_at", Micro),
        C("last_finished_at", Micro),
        C("last_success_at", Micro),
        C("last_duration_s", Double),
        C("next_expected_at", Micro),
        C("late_after_at", Micro),
        C("breaker_state", sa.String(16), nullable=False),
        C("paused", Flag, nullable=False, server_default="0"),
        C("paused_at", Micro),
        C("paused_by", sa.String(255)),
        C("breaker_reset_at", Micro),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "smartcron_hosts",
        C("host", sa.String(255), primary_key=True),
        C("first_seen_at", Micro, nullable=False),
        C("last_seen_at", Micro, nullable=False),
        C("agent_version", sa.String(32)),
        C("health", sa.Text),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "smartcron_alerts",
        C("id", Id, primary_key=True, autoincrement=True),
        C("job", sa.String(100), nullable=False),
        C("host", sa.String(255), nullable=False),
        C("kind", sa.String(32), nullable=False),
        C("severity", sa.String(16), nullable=False),
        C("message", sa.Text, nullable=False),
        C("run_id", RunId),
        C("opened_at", Micro, nullable=False),
        C("resolved_at", Micro),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_alerts_open", "smartcron_alerts", ["resolved_at", "opened_at"])
    op.create_index("ix_alerts_job", "smartcron_alerts", ["job", "host", "kind", "resolved_at"])
    # Tokens are stored as SHA-256 digests; the token itself is shown once, at creation.
    op.create_table(
        "smartcron_tokens",
        C("id", Id, primary_key=True, autoincrement=True),
        C("name", sa.String(100), nullable=False),
        C("kind", sa.String(16), nullable=False),
        C("token_sha256", Digest, nullable=False),
        C("created_at", Micro, nullable=False),
        C("revoked_at", Micro),
        sa.UniqueConstraint("token_sha256", name="uq_tokens_digest"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "smartcron_sessions",
        C("session_sha256", Digest, primary_key=True),
        C("csrf_token", Digest, nullable=False),
        C("username", sa.String(100), nullable=False),
        C("created_at", Micro, nullable=False),
        C("expires_at", Micro, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "smartcron_login_failures",
        C("id", Id, primary_key=True, autoincrement=True),
        C("client", sa.String(64), nullable=False),
        C("failed_at", Micro, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_login_failures_client", "smartcron_login_failures", ["client", "failed_at"])
    op.create_table(
        "smartcron_audit",
        C("id", Id, primary_key=True, autoincrement=True),
        C("at", Micro, nullable=False),
        C("actor", sa.String(100), nullable=False),
        C("action", sa.String(32), nullable=False),
        C("job", sa.String(100)),
        C("host", sa.String(255)),
        C("detail", sa.Text),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_audit_at", "smartcron_audit", ["at"])
    apply_sql("0001_views.sql")


def downgrade() -> None:
    raise NotImplementedError("the first revision is not undone: drop the database instead")
