"""POST /api/v1/heartbeat whose transaction MariaDB picks as a deadlock's victim: done
again, it is stored and answered 200; the victim of every try is answered 503 as
before, after RETRIES more tries. Real service, real MariaDB, real deadlocks: a
connection of the test's own locks the host's row, then, once the heartbeat holds its
job's row and waits for the host's, asks for the job's (tests/support/deadlocks.py)."""

from __future__ import annotations

import threading
from typing import Any

import requests
from smartcron.collector.db.retry import RETRIES
from sqlalchemy import Engine

from tests.collector.test_heartbeats import (
    LOCKED_HOST,
    a_late_job_now_running,
    answered,
    beat,
    stored_health,
)
from tests.support.deadlocks import Deadlocker, running_now, wait_until_running
from tests.support.service import Service

# The heartbeat's lock order (heartbeats.store_heartbeat): its job's row, then its host's.
LOCK_JOB = (
    f"SELECT job FROM smartcron_jobs WHERE job = 'nightly' AND host = '{LOCKED_HOST}' FOR UPDATE"
)
LOCK_HOST = f"SELECT host FROM smartcron_hosts WHERE host = '{LOCKED_HOST}' FOR UPDATE"
AT_JOB = "UPDATE smartcron_jobs"  # its note that the run in flight is seen
AT_HOST = "INSERT INTO smartcron_hosts"  # its upsert of the host's row


def send(service: Service, running: list[dict[str, Any]]) -> tuple[threading.Thread, list[Any]]:
    """The heartbeat, on a thread (it waits for the test's locks); its answer comes in
    the list."""
    answers: list[requests.Response] = []
    sending = threading.Thread(
        target=lambda: answers.append(beat(service, LOCKED_HOST, running=running))
    )
    return sending, answers


def test_a_heartbeat_picked_as_a_deadlock_victim_once_is_stored(
    mysql_collector: Service, mysql_engine: Engine
) -> None:
    running = [a_late_job_now_running(mysql_collector)]
    sending, answers = send(mysql_collector, running)
    with Deadlocker(mysql_engine, LOCK_JOB, LOCK_HOST, AT_HOST, answered(answers)) as lock:
        sending.start()
        lock.deadlock()
        # Done again, in a new transaction: it waits for the job's row, which the
        # opponent took from the rolled-back try.
        wait_until_running(mysql_engine, AT_JOB, answered(answers))
    sending.join(timeout=60)  # the opponent rolled back: the second try goes through
    assert [answer.status_code for answer in answers] == [200], answered(answers)()
    assert stored_health(mysql_engine)["running"][0]["job"] == "nightly"


def test_a_heartbeat_picked_as_the_victim_of_every_try_is_answered_503(
    mysql_collector: Service, mysql_engine: Engine
) -> None:
    running = [a_late_job_now_running(mysql_collector)]
    before = stored_health(mysql_engine)
    sending, answers = send(mysql_collector, running)
    with Deadlocker(mysql_engine, LOCK_JOB, LOCK_HOST, AT_HOST, answered(answers)) as lock:
        sending.start()
        for _ in range(RETRIES):
            lock.deadlock()
            lock.hand_over()
        lock.deadlock()
        # Answered while the last opponent holds the job's row: a further try would wait
        # for it (until the pool's read timeout), and be seen waiting here.
        while sending.is_alive():
            assert not running_now(mysql_engine, AT_JOB), "the heartbeat was tried again"
            sending.join(timeout=0.05)
    assert lock.deadlocks == RETRIES + 1
    [answer] = answers
    assert answer.status_code == 503
    assert answer.json() == {"error": "database unavailable; retry later"}
    assert answer.headers["Retry-After"] == "5"
    assert stored_health(mysql_engine) == before  # nothing of it stored
