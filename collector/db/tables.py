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
    Double,
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

from .migrations.duration_buckets import COLUMNS as DURATION_COLUMNS

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


# The aggregates of the runs, which ingest writes with the runs (collector/aggregates.py;
# triggers did until revision 0017). Revision 0009's: runs (skips are not runs),
# successes, failures (lost runs among them) and skips per UTC hour, job and host, and
# per UTC hour and host; epoch_hour is
# the hour since 1970-01-01 00:00 UTC. collector/rollups.py reads the last 24 hours from
# them and deletes the hours past keeping.
def _outcome_counts() -> list[Column[int]]:
    # Real runs (skips are not), successes, failures (lost runs among them) and skips.
    return [Column(name, Integer, nullable=False)
            for name in ("runs", "successes", "failures", "skips")]  # fmt: skip


run_hourly = Table(
    "smartcron_run_hourly",
    metadata,
    Column("job", String(100), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("epoch_hour", Integer, primary_key=True, autoincrement=False),
    *_outcome_counts(),
    Index("ix_run_hourly_hour", "epoch_hour"),
)

host_hourly = Table(
    "smartcron_host_hourly",
    metadata,
    Column("epoch_hour", Integer, primary_key=True, autoincrement=False),
    Column("host", String(255), primary_key=True),
    *_outcome_counts(),
)

# The same counts per UTC day, job and host, with the real runs' durations (`timed`:
# those with one) and peak memory: what smartcron_v_daily_trends shows.
run_daily = Table(
    "smartcron_run_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("job", String(100), primary_key=True),
    Column("host", String(255), primary_key=True),
    *_outcome_counts(),
    Column("timed", Integer, nullable=False),
    Column("duration_sum", Float, nullable=False),
    Column("duration_max", Float),
    Column("rss_max", BigInteger),
)

# Per job, host and UTC day, what smartcron_v_job_performance shows (revision 0014):
# the real runs, their durations and memory, and d00..d88, cumulative counts of the
# timed runs that lasted at most 2^(NN/4 - 6) s (migrations/duration_buckets.py).
# collector/rollups.py deletes the days past keeping.
perf_daily = Table(
    "smartcron_perf_daily",
    metadata,
    Column("job", String(100), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("runs", Integer, nullable=False),
    Column("successes", Integer, nullable=False),
    Column("timed", Integer, nullable=False),
    Column("duration_sum", Float, nullable=False),
    Column("duration_min", Float),
    Column("duration_max", Float),
    Column("rss_sum", Numeric(38, 0), nullable=False),
    Column("rss_count", Integer, nullable=False),
    Column("rss_max", BigInteger),
    *(Column(name, Integer, nullable=False) for name in DURATION_COLUMNS),
    Index("ix_perf_daily_day", "day"),
)

# All-time run totals per job, host and status, for /metrics (revision 0020): the runs
# and, of the real ones (a skip's row counts runs only), those with a duration (`timed`:
# not the lost ones), the sum of their durations in whole microseconds and le_N, how
# many lasted at most N seconds, for N in TOTAL_BUCKETS. Ingest adds to it with the runs
# (collector/aggregates.py); nothing deletes from it: a counter does not go down.
TOTAL_BUCKETS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600)
TOTAL_BUCKET_COLUMNS = tuple(f"le_{bound}" for bound in TOTAL_BUCKETS)
run_totals = Table(
    "smartcron_run_totals",
    metadata,
    Column("job", String(100), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("status", String(20), primary_key=True),
    Column("runs", BigInteger, nullable=False),
    Column("timed", BigInteger, nullable=False),
    Column("duration_us", BigInteger, nullable=False),
    *(Column(name, BigInteger, nullable=False) for name in TOTAL_BUCKET_COLUMNS),
)

run_output = Table(
    "smartcron_run_output",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("attempts", LongText, nullable=False),
    Column("stdout_tail", LongText, nullable=False),
    Column("stderr_tail", LongText, nullable=False),
)

# The failed runs of the last KEEP_HOURS (collector/rollups.py) with the last 300
# characters of their stderr, for smartcron_v_recent_failures (revision 0016); ingest
# adds a failure's row with the run (collector/aggregates.py).
recent_failures = Table(
    "smartcron_recent_failures",
    metadata,
    Column("started_at", Micro, primary_key=True),
    Column("run_id", String(36), primary_key=True),
    Column("job", String(100), nullable=False),
    Column("host", String(255), nullable=False),
    Column("status", String(20), nullable=False),
    Column("exit_code", Integer),
    Column("signal_number", Integer),
    Column("duration_s", Float),
    Column("attempt_count", Integer, nullable=False),
    Column("stderr_end", String(300)),
    Index("ix_recent_failures_run", "run_id", unique=True),
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
    # Revision 0012: when the host's crontabs stopped listing this wrapped job
    # (collector/registry.py); null while listed, or never listed.
    Column("unlisted_at", Micro),
    # Revision 0013: the report's `expect`, as the job's latest run set it. Null: not
    # set (the grace then defaults by the schedule, collector/state.py).
    # DOUBLE, not MySQL's single-precision FLOAT: a minimum of 0.1 s must compare as 0.1.
    Column("grace_s", Double),
    Column("min_duration_s", Double),
    Column("max_duration_s", Double),
    Column("alert_after", SmallInteger, nullable=False, server_default="3"),
    # When the host's agent last listed a run of the job in flight (heartbeats.py).
    Column("in_flight_seen_at", Micro),
    # Revision 0019: the start of the job's newest failed run (ingest.py writes it with
    # the run), which makes it degraded for a day (collector/state.py).
    Column("last_failure_at", Micro),
    Index("ix_jobs_review", "review_at"),
    # Revision 0006: a page of the fleet in the order shown, by state or by host.
    Index("ix_jobs_state_order", "state", "priority", "job", "host"),
    Index("ix_jobs_host_state", "host", "state", "priority", "job"),
    # Revision 0008: the alert pass finds the jobs that became late since its last pass.
    Index("ix_jobs_late_after", "late_after_at"),
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

# The alert engine's (collector/alerting/, revision 0008). One row per occurrence of a
# condition: its identity is (rule, job, host, instant), and open_key (1 while open, NULL
# once resolved) makes at most one open per rule, job and host on MySQL and SQLite alike.
# Host-level rules (host_silent, host_disk_low, ...) have job ''.
alerts = Table(
    "smartcron_alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("job", String(100), nullable=False),
    Column("host", String(255), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("run_id", String(36)),
    Column("opened_at", Micro, nullable=False),
    Column("resolved_at", Micro),
    Column("summary", String(255), nullable=False, server_default=""),  # one line
    # The scheduled moment (UTC) of a missed run, else the first failing run's start (or
    # when a host's condition was first seen).
    Column("instant", Micro, nullable=False),
    Column("last_seen_at", Micro, nullable=False),
    Column("repeats", Integer, nullable=False, server_default="0"),
    Column("acknowledged_at", Micro),
    Column("acknowledged_by", String(100)),
    Column("resolved_by", String(100)),  # null when it resolved by itself
    Column("silenced", String(255)),  # why no 'opened' event was written, if none was
    Column("open_key", SmallInteger),
    Index("ix_alerts_open", "resolved_at", "opened_at"),
    Index("ix_alerts_job", "job", "host", "rule", "resolved_at"),
    UniqueConstraint("rule", "job", "host", "instant", name="uq_alerts_identity"),
    UniqueConstraint("open_key", "rule", "job", "host", name="uq_alerts_open"),
)

# When each condition a host's heartbeat shows began (revision 0015): the instant of
# its alert for the whole episode; the row goes when a fresh heartbeat no longer shows it.
host_conditions = Table(
    "smartcron_host_conditions",
    metadata,
    Column("rule", String(32), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("since", Micro, nullable=False),
)

# The outbox: each transition of an alert, written in the transaction that makes it;
# delivery fans an event out to its channels and sets dispatched_at.
alert_events = Table(
    "smartcron_alert_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, nullable=False),
    Column("event", String(16), nullable=False),  # opened | resolved | reminder
    Column("created_at", Micro, nullable=False),
    Column("dispatched_at", Micro),
    Index("ix_alert_events_alert", "alert_id", "id"),
    Index("ix_alert_events_pending", "dispatched_at", "id"),
)

# A singleton duty's holder until expires_at (collector/alerting/lease.py).
leases = Table(
    "smartcron_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("expires_at", Micro, nullable=False),
)

# Windows that silence the opening of alerts: every non-null one of job, host and tag
# must match. One-off: starts_at to ends_at; cron-shaped: `schedule` in `timezone` for
# duration_s each time, from starts_at until ends_at (null: forever).
maintenance = Table(
    "smartcron_maintenance",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("job", String(100)),
    Column("host", String(255)),
    Column("tag", String(100)),
    Column("starts_at", Micro, nullable=False),
    Column("ends_at", Micro),
    Column("schedule", String(255)),
    Column("timezone", String(64)),
    Column("duration_s", Integer),
    Column("reason", String(512), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", Micro, nullable=False),
    Column("cancelled_at", Micro),
    Index("ix_maintenance_ends", "ends_at"),
)

# The alert engine's bookkeeping: one row per cursor (the last run id examined, the
# last pass's time, ...).
alert_cursors = Table(
    "smartcron_alert_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger),
    Column("at", Micro),
    Column("updated_at", Micro, nullable=False),
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
    # The one host an ingest token may report for; null: any host (a fleet token).
    Column("host", String(255)),
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

# Alert delivery (collector/alerting/, revision 0011). One row per message owed to one
# channel: an alert event's (key "event:ID") or a daily summary's ("summary:DAY"), unique
# per channel so that two replicas fanning out the same event owe it once. A sender
# claims a row (claim, claimed_until) with a conditional UPDATE before it sends.
deliveries = Table(
    "smartcron_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_key", String(64), nullable=False),
    Column("channel", String(100), nullable=False),
    Column("event_id", BigInteger),  # null for a summary
    Column("status", String(16), nullable=False),  # pending | sent | expired
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Micro, nullable=False),
    Column("last_error", String(512)),
    Column("created_at", Micro, nullable=False),
    Column("sent_at", Micro),
    Column("claim", String(36)),
    Column("claimed_until", Micro),
    Column("attempt_id", BigInteger),  # the attempt that sent it
    Column("payload", Text),  # a summary's message, made once, sent as made
    UniqueConstraint("delivery_key", "channel", name="uq_deliveries_key"),
    Index("ix_deliveries_due", "status", "channel", "next_attempt_at"),
)

# Every send to a channel, successful or not: one message (an alert, a digest of many, a
# summary). The rate limit counts them; a channel's health is its latest ones.
delivery_attempts = Table(
    "smartcron_delivery_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(100), nullable=False),
    Column("at", Micro, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("kind", String(16), nullable=False),  # alert | digest | summary
    Column("deliveries", Integer, nullable=False),
    Column("error", String(512)),
    Index("ix_delivery_attempts_channel", "channel", "at"),
)

# How many reminders an open alert has had: the next one is written by whichever
# replica moves `sent` on with a conditional UPDATE (the row count says who did).
alert_reminders = Table(
    "smartcron_alert_reminders",
    metadata,
    Column("alert_id", BigInteger, primary_key=True, autoincrement=False),
    Column("sent", Integer, nullable=False),
    Column("last_at", Micro, nullable=False),
)
