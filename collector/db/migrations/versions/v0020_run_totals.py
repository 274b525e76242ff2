"""All-time run totals per job, host and status, for /metrics: smartcron_run_totals.

/metrics counts every run ever stored (a counter, and a histogram of durations). Each
collector process counted them from smartcron_runs itself, the settled runs once and the
newer ones at every scrape: its first scrape read every run, 37.3 s at 10 M runs
(bench/page.py), past a Prometheus scrape timeout, and every process (each --workers
worker, each replica) paid it again. Ingest now adds a batch's runs to this table in the
runs' transaction (collector/aggregates.py), and a scrape sums its rows by job and status.

A row per job, host and status, not per job and status: the same job name on 200 hosts
would make every host's batch wait for one row's lock. Per row: the runs, and for the
real ones (a skip ran nothing: its row counts runs only) how many have a duration
(`timed`: a lost run has none), the sum of the durations in whole microseconds (integers,
so that no order of addition changes the sum) and, for each of BUCKETS, how many lasted
at most that many seconds (cumulative, as Prometheus' buckets are).

Filled from every stored run, in one INSERT ... SELECT ... GROUP BY. Runs that a
collector older than this revision stores after it (one left running through the
upgrade) are not counted: stop the collectors for the upgrade.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from smartcron.collector.db.migrations.sql_ops import apply_sql
from smartcron.collector.db.migrations.types import TABLE_OPTIONS

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

C = sa.Column

# collector/metrics.py's histogram bounds as of this revision, in seconds: a migration
# does not change when the code does (sql/*/0020_run_totals.sql spells them too).
BUCKETS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 10800, 43200)


def upgrade() -> None:
    # All-time counts, never pruned: BIGINT, whatever a job's rate and age.
    op.create_table(
        "smartcron_run_totals",
        C("job", sa.String(100), primary_key=True),
        C("host", sa.String(255), primary_key=True),
        C("status", sa.String(20), primary_key=True),
        C("runs", sa.BigInteger, nullable=False),
        C("timed", sa.BigInteger, nullable=False),
        C("duration_us", sa.BigInteger, nullable=False),
        *(C(f"le_{bound}", sa.BigInteger, nullable=False) for bound in BUCKETS),
        **TABLE_OPTIONS,
    )
    apply_sql("0020_run_totals.sql")


def downgrade() -> None:
    raise NotImplementedError("smartcron migrations go forward only")
