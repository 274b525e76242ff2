"""No trigger on smartcron_runs: ingest writes the aggregates of its runs, by batch.

Six AFTER INSERT triggers counted each run into smartcron_run_rollup, _run_hourly,
_host_hourly, _run_daily, _perf_daily and _recent_failures, one row at a time: on
MariaDB they held a batched ingest to 2,660 rows/s against 22,460 without them (8.4x,
bench/ingest.py's raw peer). collector/aggregates.py now adds a batch's new runs up in
Python, per key, and writes one multi-row upsert per table in the same transaction as
the runs (collector/ingest.py). smartcron_run_rollup goes with its trigger: nothing
has read it since revision 0014. The other tables keep their rows: they are exact up
to this revision, and ingest keeps them so from here on.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TRIGGERS = (
    "smartcron_runs_rollup",
    "smartcron_runs_hourly",
    "smartcron_runs_host_hourly",
    "smartcron_runs_daily",
    "smartcron_runs_perf_daily",
    "smartcron_runs_recent_failures",
)


def upgrade() -> None:
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.drop_index("ix_rollup_job_day", table_name="smartcron_run_rollup")
    op.drop_table("smartcron_run_rollup")


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
