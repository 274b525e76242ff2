"""Hourly and daily run rollups, kept by triggers as the run rollup is: the 24-hour
counts of each job and of the fleet, and the daily trends, are read from them instead of
the runs, so that what a page or a view costs follows the jobs it shows. The recent
failures view finds its runs with ix_runs_status_started.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.sql_ops import apply_sql
from smartcron.collector.db.migrations.types import TABLE_OPTIONS, Double

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

C = sa.Column


def _counts() -> list[sa.Column[int]]:
    # Real runs (skips are not), successes, failures (lost runs among them) and skips.
    return [C(name, sa.Integer, nullable=False) for name in ("runs", "successes", "failures",
                                                            "skips")]  # fmt: skip


def upgrade() -> None:
    # epoch_hour: hours since 1970-01-01 00:00 UTC (sql/*/0009_rollups.sql says why).
    # Job and host first: a job's last 24 hours are one range of the key.
    op.create_table(
        "smartcron_run_hourly",
        C("job", sa.String(100), primary_key=True),
        C("host", sa.String(255), primary_key=True),
        C("epoch_hour", sa.Integer, primary_key=True, autoincrement=False),
        *_counts(),
        **TABLE_OPTIONS,
    )
    # The hours past keeping, for the evaluation pass to delete (collector/rollups.py).
    op.create_index("ix_run_hourly_hour", "smartcron_run_hourly", ["epoch_hour"])
    # Hour first: the fleet's last 24 hours are one range of the key.
    op.create_table(
        "smartcron_host_hourly",
        C("epoch_hour", sa.Integer, primary_key=True, autoincrement=False),
        C("host", sa.String(255), primary_key=True),
        *_counts(),
        **TABLE_OPTIONS,
    )
    # Day first: 90 days are one range of the key.
    op.create_table(
        "smartcron_run_daily",
        C("day", sa.Date, primary_key=True),
        C("job", sa.String(100), primary_key=True),
        C("host", sa.String(255), primary_key=True),
        *_counts(),
        C("timed", sa.Integer, nullable=False),  # real runs with a duration
        C("duration_sum", Double, nullable=False),
        C("duration_max", Double),
        C("rss_max", sa.BigInteger),
        **TABLE_OPTIONS,
    )
    # The triggers, and every stored run counted once (the file's locking says how).
    apply_sql("0009_rollups.sql")
    apply_sql("0009_views.sql")


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
