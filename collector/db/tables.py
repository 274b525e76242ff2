"""The tables as SQLAlchemy Core sees them, used for every query: the schema at the
newest revision of collector/db/migrations/, which alone creates and changes it.
tests/collector/test_schema.py proves the migrated database and this metadata agree."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql

metadata = MetaData()
# MEDIUMTEXT on MySQL (64 KiB tails, and commands of 65,536 characters, exceed TEXT's
# 65,535 bytes), TEXT elsewhere.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
Micro = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only

runs = Table(
    "smartcron_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False),
    Column("job", String(100), nullable=False),
    Column("host", String(255), nullable=False),
    Column("run_user", String(255), nullable=False),
    Column("command", LongText, nullable=False),
    Column("schedule", String(255)),
    Column("priority", SmallInteger, nullable=False),
    Column("tags", String(1024), nullable=False),
    Column("run_trigger", String(16), nullable=False),
    Column("status", String(20), nullable=False),
    Column("exit_code", Integer),
    Column("signal_number", Integer),
    Column("started_at", Micro, nullable=False),
    # Null for a lost run only: when it ended, and so its duration, are unknown.
    Column("finished_at", Micro),
    Column("duration_s", Float),
    Column("attempt_count", Integer, nullable=False),
    Column("peak_rss_bytes", BigInteger),
    Column("cpu_user_s", Float),
    Column("cpu_system_s", Float),
    Column("output_bytes", BigInteger, nullable=False),
    Column("output_truncated", Boolean, nullable=False),
    Column("breaker_state", String(16), nullable=False),
    Column("wrapper_version", String(32), nullable=False),
    Column("received_at", Micro, nullable=False),
    UniqueConstraint("run_id", name="uq_runs_run_id"),
    # Covering indexes (migrations/versions/v0001_tables.py): a job's recent runs and the
    # rollup's rebuild come from the first without touching the table, the last 24 hours'
    # counts from the second, whose (started_at, id) order also pages /api/v1/runs.
    Index(
        "ix_runs_job_started", "job", "host", "started_at", "status", "duration_s", "peak_rss_bytes"
    ),
    Index("ix_runs_started", "started_at", "id", "job", "host", "status"),
    Index("ix_runs_status_started", "status", "started_at"),
    Index("ix_runs_host_started", "host", "started_at"),
)

# Filled by a trigger on smartcron_runs, never by the collector's code: one row per UTC
# day, job, host and log-scale duration bucket (migrations/sql/mysql/0002_rollup.sql and
# 0004_rollup.sql say why and how; a lost run, without a duration, is in bucket -32768).
run_rollup = Table(
    "smartcron_run_rollup",
    metadata,
    Column("day", Date, primary_key=True),
    Column("job", String(100), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("bucket", SmallInteger, primary_key=True, autoincrement=False),
    Column("runs", Integer, nullable=False),
    Column("successes", Integer, nullable=False),
    Column("duration_sum", Float, nullable=False),
    Column("duration_min", Float, nullable=False),
    Column("duration_max", Float, nullable=False),
    Column("rss_sum", Numeric(38, 0), nullable=False),  # a BIGINT could overflow
    Column("rss_count", Integer, nullable=False),
    Column("rss_max", BigInteger),
    Index("ix_rollup_job_day", "job", "host", "day"),
)

run_output = Table(
    "smartcron_run_output",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("attempts", LongText, nullable=False),
    Column("stdout_tail", LongText, nullable=False),
    Column("stderr_tail", LongText, nullable=False),
)

jobs = Table(
    "smartcron_jobs",
    metadata,
    Column("job", String(100), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("schedule", String(255)),
    Column("priority", SmallInteger, nullable=False),
    Column("command", LongText, nullable=False),
    Column("first_seen_at", Micro, nullable=False),
    Column("last_run_id", String(36)),
    Column("last_status", String(20)),
    Column("last_started_at", Micro),
    Column("last_finished_at", Micro),
    Column("last_success_at", Micro),
    Column("last_duration_s", Float),
    Column("next_expected_at", Micro),
    Column("late_after_at", Micro),
    Column("breaker_state", String(16), nullable=False),
    Column("paused", Boolean, nullable=False, server_default="0"),
    Column("paused_at", Micro),
    Column("paused_by", String(255)),
    Column("breaker_reset_at", Micro),
    # The job's zone and its state as collector/state.py decided it (state_store.py).
    Column("timezone", String(64)),
    Column("state", String(16), nullable=False, server_default="healthy"),
    Column("state_reason", String(512), nullable=False, server_default=""),
    Column("missed_at", Micro),
    Column("review_at", Micro),
    Index("ix_jobs_review", "review_at"),
    # Revision 0006: a page of the fleet in the order shown, by state or by host.
    Index("ix_jobs_state_order", "state", "priority", "job", "host"),
    Index("ix_jobs_host_state", "host", "state", "priority", "job"),
)

hosts = Table(
    "smartcron_hosts",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("first_seen_at", Micro, nullable=False),
    Column("last_seen_at", Micro, nullable=False),
    Column("agent_version", String(32)),
    Column("health", Text),
)

alerts = Table(
    "smartcron_alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("job", String(100), nullable=False),
    Column("host", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("run_id", String(36)),
    Column("opened_at", Micro, nullable=False),
    Column("resolved_at", Micro),
    Index("ix_alerts_open", "resolved_at", "opened_at"),
    Index("ix_alerts_job", "job", "host", "kind", "resolved_at"),
)

tokens = Table(
    "smartcron_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("token_sha256", String(64), nullable=False),
    Column("created_at", Micro, nullable=False),
    Column("revoked_at", Micro),
    UniqueConstraint("token_sha256", name="uq_tokens_digest"),
)

sessions = Table(
    "smartcron_sessions",
    metadata,
    Column("session_sha256", String(64), primary_key=True),
    Column("csrf_token", String(64), nullable=False),
    Column("username", String(100), nullable=False),
    Column("created_at", Micro, nullable=False),
    Column("expires_at", Micro, nullable=False),
)

login_failures = Table(
    "smartcron_login_failures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("client", String(64), nullable=False),
    Column("failed_at", Micro, nullable=False),
    Index("ix_login_failures_client", "client", "failed_at"),
)

audit = Table(
    "smartcron_audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", Micro, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(32), nullable=False),
    Column("job", String(100)),
    Column("host", String(255)),
    Column("detail", Text),
    Index("ix_audit_at", "at"),
)
