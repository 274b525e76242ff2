"""A job's latest failure on its row, smartcron_jobs.last_failure_at.

The start of the newest run that failed (failed, timeout, killed_memory, error, lost),
written by ingest with the run, as last_success_at is.

collector/state.py calls a job degraded for DEGRADED_FOR after a failure. That failure
was read from smartcron_runs for every job a batch touched, a range of
ix_runs_job_started as long as the job's runs of the last 24 hours: ingest slowed as
the runs table grew (bench/ingest.py lost half its batched rate in three rounds), and a
job run every minute cost 1,440 index entries per report. From the row it costs nothing.

The existing rows are filled from the runs they have (the newest failure of each job
not dated ahead of now, however old: one range of ix_runs_job_started per job, once).
A collector older than this revision left running through it stores failures without
the column: stop the collectors for the upgrade.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.sql_ops import dialect
from smartcron.collector.db.migrations.types import Micro

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# wrapper/schema.py's FAILED_STATUSES as of this revision: a migration does not change
# when the code does.
FAILED = ("failed", "timeout", "killed_memory", "error", "lost")


def upgrade() -> None:
    with op.batch_alter_table("smartcron_jobs") as batch:
        batch.add_column(sa.Column("last_failure_at", Micro))
    failed = ", ".join(f"'{status}'" for status in FAILED)
    # Not a failure dated ahead of now: v0.1.0 stored reports from a host's wrong clock,
    # and one from 2031 would keep its job degraded until then (only a later failure
    # replaces the column).
    now = "UTC_TIMESTAMP(6)" if dialect() == "mysql" else "DATETIME('now')"
    op.execute(
        "UPDATE smartcron_jobs SET last_failure_at = ("
        " SELECT MAX(r.started_at) FROM smartcron_runs r"
        " WHERE r.job = smartcron_jobs.job AND r.host = smartcron_jobs.host"
        f" AND r.status IN ({failed}) AND r.started_at <= {now})"
    )


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
