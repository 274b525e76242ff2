"""A database as smartcron v0.1.0 (commit 6ffefee) left it, for upgrade tests.

The schema comes from tests/collector/fixtures/v0_1_0/: for MySQL the SQL files that
v0.1.0's init-db applied, for SQLite the sqlite_master of a database its init-db made.
Rows go in with plain SQL in v0.1.0's columns, never through today's code.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from smartcron.collector.db.engine import is_mysql
from smartcron.collector.db.scripts import split_statements
from sqlalchemy import Engine, text

FIXTURES = Path(__file__).resolve().parent.parent / "collector" / "fixtures" / "v0_1_0"
MYSQL_FILES = ("001_tables.sql", "002_views.sql", "003_rollup.sql")
DAY = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0) - dt.timedelta(hours=3)
# The jobs' daily slot is the minute their runs started: the next slot is a day after DAY,
# so no job is owed a run when the test evaluates, whatever the time of day. (A fixed
# "0 3 * * *" made tidy late from 05:24 to 06:00 UTC every day: due at 03:00, past its
# grace of 10 % of a day, and its run at DAY before the slot.)
SCHEDULE = f"{DAY.minute} {DAY.hour} * * *"


def create_schema(engine: Engine, version: int = 2) -> None:
    """v0.1.0's schema, its version recorded as its init-db did (version 2; version 1 is
    the schema before the rollup: no rollup table, trigger or performance view)."""
    if is_mysql(engine):
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for name in MYSQL_FILES:
                for statement in split_statements((FIXTURES / "mysql" / name).read_text()):
                    cursor.execute(statement)  # no parameters: the views hold '%'
            cursor.close()
            raw.commit()
        finally:
            raw.close()
    else:
        database = engine.url.database
        assert database
        with sqlite3.connect(database) as raw_sqlite:
            raw_sqlite.executescript((FIXTURES / "sqlite" / "schema.sql").read_text())
        raw_sqlite.close()
    with engine.begin() as connection:
        if version < 2:
            connection.exec_driver_sql("DROP TRIGGER smartcron_runs_rollup")
            connection.exec_driver_sql("DROP VIEW smartcron_v_job_performance")
            connection.exec_driver_sql("DROP TABLE smartcron_run_rollup")
        connection.execute(
            text("INSERT INTO smartcron_schema_version (version, applied_at) VALUES (:v, :at)"),
            {"v": version, "at": dt.datetime(2026, 11, 1)},
        )


def run_row(run_id: str, job: str, status: str, started: dt.datetime, duration_s: float,
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    """A row of v0.1.0's smartcron_runs: a lost run's finished_at is when it was noticed."""
    row = {
        "run_id": run_id, "job": job, "host": "web1", "run_user": "deploy",
        "command": f"php /srv/{job}.php", "schedule": SCHEDULE, "priority": 5, "tags": "",
        "run_trigger": "cron", "status": status, "exit_code": 0 if status == "success" else 1,
        "signal_number": None, "started_at": started,
        "finished_at": started + dt.timedelta(seconds=duration_s), "duration_s": duration_s,
        "attempt_count": 1, "peak_rss_bytes": 50 * 2**20, "cpu_user_s": 0.5,
        "cpu_system_s": 0.1, "output_bytes": 3, "output_truncated": False,
        "breaker_state": "closed", "wrapper_version": "0.1.0", "received_at": started,
    }  # fmt: skip
    row.update(extra)
    return row


def sample_rows() -> dict[str, list[dict[str, Any]]]:
    """Rows for every table a v0.1.0 database holds data in (the rollup is the trigger's)."""
    at = DAY
    runs = [
        run_row("00000000-0000-4000-8000-000000000001", "backup", "success", at, 2.5),
        run_row(
            "00000000-0000-4000-8000-000000000002",
            "backup",
            "success",
            at,
            3.5,
            peak_rss_bytes=None,
        ),
        run_row("00000000-0000-4000-8000-000000000003", "backup", "failed", at, 0.25),
        # Noticed a day later: v0.1.0 gave it 86,400 s, which is no duration at all.
        run_row(
            "00000000-0000-4000-8000-000000000004",
            "backup",
            "lost",
            at,
            86_400.0,
            exit_code=None,
            peak_rss_bytes=None,
            cpu_user_s=None,
            cpu_system_s=None,
            attempt_count=0,
        ),
        run_row(
            "00000000-0000-4000-8000-000000000005",
            "report",
            "skipped_locked",
            at,
            0.0,
            exit_code=0,
            peak_rss_bytes=None,
            attempt_count=0,
        ),
        run_row(
            "00000000-0000-4000-8000-000000000006",
            "report",
            "lost",
            at,
            3_600.0,
            exit_code=None,
            peak_rss_bytes=None,
            attempt_count=0,
        ),
    ]
    job = {
        "host": "web1", "schedule": SCHEDULE, "priority": 5, "first_seen_at": at,
        "last_started_at": at, "last_success_at": at, "next_expected_at": None,
        "late_after_at": None, "breaker_state": "closed", "paused": False, "paused_at": None,
        "paused_by": None, "breaker_reset_at": None,
    }  # fmt: skip
    jobs = [
        dict(
            job,
            job="backup",
            command="php /srv/backup.php",
            last_run_id=runs[3]["run_id"],
            last_status="lost",
            last_finished_at=runs[3]["finished_at"],
            last_duration_s=86_400.0,
        ),
        dict(
            job,
            job="report",
            command="php /srv/report.php",
            last_run_id=runs[5]["run_id"],
            last_status="lost",
            last_finished_at=runs[5]["finished_at"],
            last_duration_s=3_600.0,
            paused=True,
            paused_at=at,
            paused_by="admin",
        ),
        dict(
            job,
            job="tidy",
            command="tidy --all",
            last_run_id=None,
            last_status=None,
            last_finished_at=None,
            last_duration_s=None,
        ),
    ]
    return {
        "smartcron_runs": runs,
        "smartcron_run_output": [
            {
                "run_id": run["run_id"],
                "attempts": "[]",
                "stdout_tail": "ok\n",
                "stderr_tail": "é ✓ \U0001f600",
            }
            for run in runs
        ],
        "smartcron_jobs": jobs,
        "smartcron_hosts": [
            {
                "host": "web1",
                "first_seen_at": at,
                "last_seen_at": at,
                "agent_version": "0.1.0",
                "health": '{"disk_free_pct": 40}',
            },
        ],
        "smartcron_alerts": [
            {
                "id": 7,
                "job": "backup",
                "host": "web1",
                "kind": "lost",
                "severity": "warning",
                "message": "run lost",
                "run_id": runs[3]["run_id"],
                "opened_at": at,
                "resolved_at": None,
            },
        ],
        "smartcron_tokens": [
            {
                "id": 3,
                "name": "web1",
                "kind": "ingest",
                "token_sha256": "a" * 64,
                "created_at": at,
                "revoked_at": None,
            },
            {
                "id": 4,
                "name": "old",
                "kind": "admin",
                "token_sha256": "b" * 64,
                "created_at": at,
                "revoked_at": at,
            },
        ],
        "smartcron_sessions": [
            {
                "session_sha256": "c" * 64,
                "csrf_token": "d" * 64,
                "username": "admin",
                "created_at": at,
                "expires_at": at + dt.timedelta(hours=12),
            },
        ],
        "smartcron_login_failures": [{"id": 1, "client": "192.0.2.7", "failed_at": at}],
        "smartcron_audit": [
            {
                "id": 1,
                "at": at,
                "actor": "admin",
                "action": "pause",
                "job": "report",
                "host": "web1",
                "detail": None,
            },
        ],
    }


def load_rows(engine: Engine, rows: dict[str, list[dict[str, Any]]]) -> None:
    with engine.begin() as connection:
        for table, table_rows in rows.items():
            columns = list(table_rows[0])
            statement = text(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + column for column in columns)})"
            )
            connection.execute(statement, table_rows)
