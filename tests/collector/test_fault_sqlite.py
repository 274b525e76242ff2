"""The SQLite file cannot be written (another process holds its write lock): ingest waits
out SQLite's busy timeout, then answers 503 with Retry-After, stores nothing, and takes
the resend once the lock is gone. Reads go on meanwhile (WAL)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from smartcron.collector.db import tables
from smartcron.collector.db.engine import create_db_engine

from tests.support.collector_api import assert_error, count_rows
from tests.support.service import make_report, start_collector

pytestmark = pytest.mark.slow

# PRAGMA busy_timeout in collector/db/engine.py: how long a write waits for the lock.
BUSY_TIMEOUT_S = 30.0


def test_a_locked_sqlite_file_is_503_and_the_resend_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "collector.db"
    batch = [make_report("vend_sync", host=f"web{i}") for i in range(3)]
    with start_collector(f"sqlite:///{path}", tmp_path) as service:
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")  # in WAL mode: no other writer, readers go on
            assert service.get("/healthz", token=None).status_code == 200
            assert service.get("/api/v1/status").status_code == 200
            started = time.monotonic()
            # A client timeout past the busy timeout: the collector's own answer is wanted.
            answer = service.session.post(
                f"{service.url}/api/v1/runs", json={"runs": batch},
                headers=service.headers(service.ingest_token), timeout=BUSY_TIMEOUT_S + 30,
            )  # fmt: skip
            waited = time.monotonic() - started
        finally:
            holder.close()  # rolls the open transaction back: the lock is gone
        assert_error(answer, 503, "retry later")
        assert answer.headers["Retry-After"] == "5"
        # The write waited out the busy timeout (not failed at once, not hung).
        assert BUSY_TIMEOUT_S - 1 < waited < BUSY_TIMEOUT_S + 15, waited

        engine = create_db_engine(f"sqlite:///{path}")
        try:
            assert count_rows(engine, tables.runs) == 0
            resend = service.post_runs(batch)
            assert resend.status_code == 200, resend.text
            assert resend.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
            assert count_rows(engine, tables.runs) == 3
            assert count_rows(engine, tables.jobs) == 3
        finally:
            engine.dispose()
        assert service.post_runs(batch).json() == {"accepted": 0, "duplicates": 3, "rejected": []}
        assert "Traceback" not in service.log(), service.log()
