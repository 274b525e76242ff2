"""Who the caller is comes from the database (a session, a token not yet cached), and
that read waits in the thread pool, never on the event loop: a request whose session
or token read is stuck behind a lock holds up no other request. Real service, real
MariaDB; the lock is a real one (LOCK TABLES ... WRITE blocks every other reader)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests
from sqlalchemy import Engine, text

from tests.support.collector_api import login, session_csrf
from tests.support.service import Service, make_report


def waiting_for_table(engine: Engine, table: str) -> bool:
    """Whether a statement on `table` is waiting for a table lock (the server's view)."""
    with engine.connect() as connection:
        return bool(connection.execute(text(
            "SELECT COUNT(*) FROM information_schema.processlist "
            "WHERE state LIKE 'Waiting for table%' AND info LIKE :table"
        ), {"table": f"%{table}%"}).scalar())  # fmt: skip


def while_locked(
    engine: Engine, table: str, request: Callable[[], requests.Response], others: Callable[[], None]
) -> list[requests.Response]:
    """Send `request` while `table` is write-locked; once it waits for the lock, run
    `others` (the requests that must still be answered); then unlock. Its answer."""
    answers: list[requests.Response] = []
    holder = engine.connect()
    try:
        holder.execute(text(f"LOCK TABLES {table} WRITE"))
        stuck = threading.Thread(target=lambda: answers.append(request()))
        stuck.start()
        deadline = time.monotonic() + 60
        while not waiting_for_table(engine, table):
            assert time.monotonic() < deadline, f"the request never reached the lock on {table}"
            time.sleep(0.05)
        others()
        assert stuck.is_alive() and not answers  # still waiting for the lock
        holder.execute(text("UNLOCK TABLES"))
        stuck.join(timeout=60)
    finally:
        holder.close()
    return answers


def test_an_action_whose_session_read_waits_holds_up_no_other_request(
    mysql_collector: Service, mysql_engine: Engine
) -> None:
    mysql_collector.post_runs([make_report("nightly", host="web-1")])
    client = login(mysql_collector)
    token = session_csrf(mysql_collector, client)

    def pause() -> requests.Response:
        return client.post(f"{mysql_collector.url}/api/v1/jobs/nightly/pause",
                           headers={"X-CSRF-Token": token}, timeout=120)  # fmt: skip

    def others() -> None:
        health = requests.get(f"{mysql_collector.url}/healthz", timeout=20)
        assert health.status_code == 200, health.text
        status = mysql_collector.get("/api/v1/status")  # a token, not a session
        assert status.status_code == 200 and status.json()["jobs"] == 1

    answers = while_locked(mysql_engine, "smartcron_sessions", pause, others)
    assert [answer.status_code for answer in answers] == [200]
    assert answers[0].json()["changed"]


def test_a_sender_whose_token_read_waits_holds_up_no_other_request(
    mysql_collector: Service, mysql_engine: Engine
) -> None:
    # The ingest token is not cached yet (the service has not seen it): its first use
    # reads smartcron_tokens.
    def heartbeat() -> requests.Response:
        return requests.post(f"{mysql_collector.url}/api/v1/heartbeat", json={"host": "h1"},
                             headers=mysql_collector.headers(mysql_collector.ingest_token),
                             timeout=120)  # fmt: skip

    def others() -> None:
        health = requests.get(f"{mysql_collector.url}/healthz", timeout=20)
        assert health.status_code == 200, health.text

    answers = while_locked(mysql_engine, "smartcron_tokens", heartbeat, others)
    assert [answer.status_code for answer in answers] == [200]
