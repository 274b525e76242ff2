"""POST /api/v1/heartbeat next to the other requests: storing a heartbeat waits for the
database off the event loop, so a heartbeat stuck behind a row lock holds up neither
/healthz nor ingest. Real service, real MariaDB; the lock is a real one."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, text

from tests.support.service import Service, make_report, start_collector

LOCKED_HOST = "locked-host"


@pytest.fixture
def mysql_collector(
    mysql_engine: Engine, clear_tables: Callable[[Engine], None], tmp_path: Path
) -> Iterator[Service]:
    clear_tables(mysql_engine)
    url = mysql_engine.url.render_as_string(hide_password=False)
    with start_collector(url, tmp_path) as service:
        yield service


def beat(service: Service, host: str) -> requests.Response:
    return requests.post(f"{service.url}/api/v1/heartbeat", json={"host": host},
                         headers=service.headers(service.ingest_token), timeout=120)  # fmt: skip


def waiting_for_a_lock(engine: Engine, table: str) -> bool:
    """Whether an UPDATE of `table` is waiting for a row lock (InnoDB's own view)."""
    with engine.connect() as connection:
        return bool(connection.execute(text(
            "SELECT COUNT(*) FROM information_schema.innodb_trx "
            "WHERE trx_state = 'LOCK WAIT' AND trx_query LIKE :update"
        ), {"update": f"UPDATE {table} %"}).scalar())  # fmt: skip


def test_a_heartbeat_waiting_on_the_database_holds_up_no_other_request(
    mysql_collector: Service, mysql_engine: Engine
) -> None:
    assert beat(mysql_collector, LOCKED_HOST).status_code == 200  # the host's row exists
    answers: list[requests.Response] = []
    holder = mysql_engine.connect()
    try:
        with holder.begin():
            holder.execute(
                text("SELECT host FROM smartcron_hosts WHERE host = :h FOR UPDATE"),
                {"h": LOCKED_HOST},
            ).all()
            stuck = threading.Thread(target=lambda: answers.append(beat(mysql_collector,
                                                                        LOCKED_HOST)))  # fmt: skip
            stuck.start()
            deadline = time.monotonic() + 60
            while not waiting_for_a_lock(mysql_engine, "smartcron_hosts"):
                assert time.monotonic() < deadline, "the heartbeat never reached the lock"
                time.sleep(0.05)
            # While that heartbeat waits for the row: other requests are answered.
            health = requests.get(f"{mysql_collector.url}/healthz", timeout=20)
            assert health.status_code == 200
            assert beat(mysql_collector, "another-host").status_code == 200
            ingest = mysql_collector.post_runs([make_report("beside", run_id=str(uuid.uuid4()))])
            assert ingest.status_code == 200 and ingest.json()["accepted"] == 1
            assert stuck.is_alive() and not answers  # still waiting for the lock
        stuck.join(timeout=60)  # the lock is gone with the transaction: it goes through
    finally:
        holder.close()
    assert [answer.status_code for answer in answers] == [200]


def test_the_first_heartbeats_of_many_new_hosts_at_once_are_all_stored(
    mysql_collector: Service, mysql_engine: Engine
) -> None:
    """A fleet's agents starting together: each host's first heartbeat inserts its row,
    and none of them deadlocks with another (which the collector would answer 503)."""
    hosts = [f"new-{n:03d}" for n in range(120)]
    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(lambda host: beat(mysql_collector, host).status_code, hosts))
    assert statuses == [200] * len(hosts)
    with mysql_engine.connect() as connection:
        stored = connection.execute(
            text("SELECT host FROM smartcron_hosts WHERE host LIKE 'new-%' ORDER BY host")
        ).scalars()
        assert list(stored) == hosts
