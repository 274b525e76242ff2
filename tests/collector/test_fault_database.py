"""The database goes away under a running collector (a private MariaDB, stopped and
crashed): ingest and reads answer 503 with Retry-After, /healthz says why, senders keep
their spool, and everything works again once the database is back, without restarting
the collector."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from smartcron.collector.db import tables
from smartcron.collector.db.engine import create_db_engine
from sqlalchemy import Engine

from tests.support.collector_api import assert_error, count_rows
from tests.support.service import Service, make_report, start_collector

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(mysql_private: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with start_collector(mysql_private.url, tmp_path_factory.mktemp("collector")) as running:
        yield running


@pytest.fixture
def store(mysql_private: Any) -> Iterator[Engine]:
    engine = create_db_engine(mysql_private.url)
    yield engine
    engine.dispose()


@pytest.fixture
def database(mysql_private: Any, service: Service) -> Iterator[Any]:
    """The private server, up at the start of the test and brought back at its end."""
    if not mysql_private.running():
        mysql_private.start()
    yield mysql_private
    if not mysql_private.running():
        mysql_private.start()


def assert_unavailable(answer: requests.Response) -> None:
    assert_error(answer, 503, "database")
    assert int(answer.headers["Retry-After"]) > 0, answer.headers


def assert_healthz_down(service: Service) -> None:
    health = service.get("/healthz", token=None)
    assert health.status_code == 503, health.text
    body = health.json()
    assert body["database"] == "unreachable", body
    assert body["error"], body


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_database_down_is_503_and_recovers_without_a_restart(
    service: Service, database: Any, store: Engine, how: str
) -> None:
    before = make_report("vend_sync")
    assert service.post_runs([before]).json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert service.get("/healthz", token=None).json()["database"] == "ok"
    stored = count_rows(store, tables.runs)
    store.dispose()  # the test's own connections must not outlive the server

    getattr(database, how)()
    during = make_report("vend_sync")
    assert_unavailable(service.post_runs([during]))
    # A token the collector has never seen cannot be checked either: 503, not 401,
    # so the sender keeps its report rather than think it was refused for good.
    assert_unavailable(service.post_runs([during], token="sct_never_seen_before"))
    assert_unavailable(service.get("/api/v1/status"))
    assert_unavailable(service.get("/api/v1/runs"))
    assert_healthz_down(service)
    assert service.process.poll() is None, "the collector must not exit"

    database.start()
    answer = service.post_runs([during, before])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "duplicates": 1, "rejected": []}
    assert count_rows(store, tables.runs) == stored + 1
    health = service.get("/healthz", token=None)
    assert health.status_code == 200 and health.json()["database"] == "ok", health.text
    status = service.get("/api/v1/status")
    assert status.status_code == 200, status.text
    assert service.process.poll() is None


def test_a_wrapped_job_keeps_its_report_while_the_database_is_down(
    service: Service, database: Any, wrap: Any, state: Any
) -> None:
    database.stop()
    job = [sys.executable, "-c", "raise SystemExit(3)"]
    done = wrap("--name", "nightly", "--collector", service.url, "--token",
                service.ingest_token, "--", *job)  # fmt: skip
    assert done.returncode == 3, done.stderr
    report = state.report()  # still in the spool, for the agent to ship later
    assert report["job"] == "nightly" and report["status"] == "failed"
    # Safely spooled: nothing printed (cron would mail it); the per-job log says why.
    assert "smartcron-wrap: warning" not in done.stderr, done.stderr
    delivery = state.log_with_deliveries("nightly")[-1]["delivery"]
    assert delivery["result"] == "kept" and "503" in delivery["reason"], delivery

    database.start()
    assert service.post_runs([report]).json() == {"accepted": 1, "duplicates": 0, "rejected": []}
