"""Per-job summaries for the performance and health views, so that they follow the jobs.

smartcron_v_job_performance sums a daily row per job with a duration histogram
(smartcron_perf_daily, kept by a trigger, filled from the last 31 days of runs);
smartcron_v_job_health sums the hourly rollup a job at a time before it meets the jobs.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.duration_buckets import COLUMNS, fragments
from smartcron.collector.db.migrations.sql_ops import apply_sql, dialect
from smartcron.collector.db.migrations.types import TABLE_OPTIONS, Double

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

C = sa.Column


def upgrade() -> None:
    # Job and host first: the view sums a job's days in the order of the key, without
    # sorting; the day's index is for deleting the days past keeping (collector/rollups.py).
    op.create_table(
        "smartcron_perf_daily",
        C("job", sa.String(100), primary_key=True),
        C("host", sa.String(255), primary_key=True),
        C("day", sa.Date, primary_key=True),
        C("runs", sa.Integer, nullable=False),  # real runs: skips are not
        C("successes", sa.Integer, nullable=False),
        C("timed", sa.Integer, nullable=False),  # runs with a duration (not the lost ones)
        C("duration_sum", Double, nullable=False),
        C("duration_min", Double),
        C("duration_max", Double),
        C("rss_sum", sa.Numeric(38, 0), nullable=False),  # a BIGINT could overflow
        C("rss_count", sa.Integer, nullable=False),
        C("rss_max", sa.BigInteger),
        # Cumulative: dNN counts the timed runs that lasted at most 2^(NN/4 - 6) s.
        *(C(name, sa.Integer, nullable=False) for name in COLUMNS),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_perf_daily_day", "smartcron_perf_daily", ["day"])
    fill = fragments(dialect())
    apply_sql("0014_perf_daily.sql", fill)
    apply_sql("0014_views.sql", fill)


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
