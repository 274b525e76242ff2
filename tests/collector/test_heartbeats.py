"""POST /api/v1/heartbeat next to the other requests: storing a heartbeat waits for the
database off the event loop, so a heartbeat stuck behind a row lock holds up neither
/healthz nor ingest; it takes its row locks in ingest's order (jobs, then the host); and
one that changes nothing but the health costs a read and an upsert. Real service, real
MariaDB, real locks."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from smartcron.collector.db import tables
from smartcron.collector.heartbeats import Heartbeat, store_heartbeat
from sqlalchemy import Engine, event, select, text

from tests.support.deadlocks import wait_until_running
from tests.support.service import Service, make_report

LOCKED_HOST = "locked-host"


def beat(service: Service, host: str, **fields: Any) -> requests.Response:
    return requests.post(f"{service.url}/api/v1/heartbeat", json={"host": host, **fields},
                         headers=service.headers(service.ingest_token), timeout=120)  # fmt: skip


def answered(answers: list[requests.Response]) -> Callable[[], list[str]]:
    """What a heartbeat on a thread has been answered so far (for wait_until_running)."""
    return lambda: [answer.text for answer in answers]


def a_late_job_now_running(service: Service) -> dict[str, Any]:
    """A yearly job that missed its last run on LOCKED_HOST (which has sent a
    heartbeat): late, until a run is in flight, and not up for review before next year
    (so the evaluation pass leaves its row alone). Its run in flight, as a heartbeat
    lists it: one that does writes the job's row (its state) before the host's."""
    two_years_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=730)
    job = make_report("nightly", host=LOCKED_HOST, started=two_years_ago,
                      schedule="0 0 1 1 *")  # fmt: skip
    assert service.post_runs([job]).json()["accepted"] == 1
    assert beat(service, LOCKED_HOST).status_code == 200
    return {"job": "nightly", "pid": 4242, "started_at": job["started_at"]}


def stored_health(engine: Engine) -> dict[str, Any]:
    """LOCKED_HOST's health as stored."""
    with engine.connect() as connection:
        health = connection.execute(
            text("SELECT health FROM smartcron_hosts WHERE host = :h"), {"h": LOCKED_HOST}
        ).scalar_one()
    stored: dict[str, Any] = json.loads(health)
    return stored


def test_a_heartbeat_waiting_on_the_database_holds_up_no_other_request(
    mysql_collector: Service, mysql_engine: Engine
) -> None:
    assert beat(mysql_collector, LOCKED_HOST).status_code == 200  # the host's row exists
    answers: list[requests.Response] = []
    holder = mysql_engine.connect()
    try:
        with holder.begin():
            # A heartbeat that lists nothing new writes the host's row and nothing else:
            # that row is the one to hold.
            holder.execute(
                text("SELECT host FROM smartcron_hosts WHERE host = :h FOR UPDATE"),
                {"h": LOCKED_HOST},
            ).all()
            stuck = threading.Thread(target=lambda: answers.append(beat(mysql_collector,
                                                                        LOCKED_HOST)))  # fmt: skip
            stuck.start()
            wait_until_running(
                mysql_engine,
                "INSERT INTO smartcron_hosts",
                answered(answers),
            )
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


def test_a_heartbeat_takes_the_jobs_rows_before_the_hosts_as_ingest_does(
    mysql_collector: Service, mysql_engine: Engine
) -> None:
    """Ingest locks a host's jobs rows, then the host's row (its clock). A heartbeat whose
    run in flight changes a job's state waits for that job's row while holding nothing
    the batch needs: the batch takes the host's row and commits, then the heartbeat goes
    through. (In the other order the two deadlocked: one of them answered 503.)"""
    running = a_late_job_now_running(mysql_collector)
    answers: list[requests.Response] = []
    holder = mysql_engine.connect()
    try:
        with holder.begin():  # as a batch of LOCKED_HOST does, jobs first
            holder.execute(
                text("SELECT job FROM smartcron_jobs WHERE host = :h FOR UPDATE"),
                {"h": LOCKED_HOST},
            ).all()
            stuck = threading.Thread(target=lambda: answers.append(
                beat(mysql_collector, LOCKED_HOST, running=[running])))  # fmt: skip
            stuck.start()
            # The heartbeat decides the job's state again: it waits for the job's row.
            wait_until_running(mysql_engine, "UPDATE smartcron_jobs", answered(answers))
            # Then the host's row: free, since the heartbeat has not taken it yet.
            holder.execute(
                text("UPDATE smartcron_hosts SET last_seen_at = last_seen_at WHERE host = :h"),
                {"h": LOCKED_HOST},
            )
            assert stuck.is_alive() and not answers  # it waited for the job's row
        stuck.join(timeout=60)
    finally:
        holder.close()
    assert [answer.status_code for answer in answers] == [200]
    assert stored_health(mysql_engine)["running"][0]["job"] == "nightly"


def test_a_heartbeat_whose_runs_are_noted_already_waits_for_no_jobs_row(
    mysql_collector: Service, mysql_engine: Engine
) -> None:
    """A batch holds its jobs' rows until it commits (a group of a busy collector, for
    a second or more). A heartbeat whose runs in flight were noted as seen today writes
    no job's row and reads them without a lock: answered while the batch holds them.
    (Its UPDATE that changed nothing took the row's lock all the same, and waited.)"""
    host = "noted-host"
    job = make_report("nightly", host=host)
    assert mysql_collector.post_runs([job]).json()["accepted"] == 1
    running = [{"job": "nightly", "pid": 4242, "started_at": job["started_at"]}]
    assert beat(mysql_collector, host, running=running).status_code == 200  # noted now
    holder = mysql_engine.connect()
    try:
        with holder.begin():  # as a batch of that host's does
            locked = holder.execute(
                text("SELECT job FROM smartcron_jobs WHERE host = :h FOR UPDATE"), {"h": host}
            ).all()
            assert len(locked) == 1
            # Answered with the lock held (the timeout only bounds a failing test).
            answer = requests.post(f"{mysql_collector.url}/api/v1/heartbeat",
                                   json={"host": host, "running": running},
                                   headers=mysql_collector.headers(mysql_collector.ingest_token),
                                   timeout=20)  # fmt: skip
            assert answer.status_code == 200, answer.text
    finally:
        holder.close()


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


def statements_of(engine: Engine, action: Callable[[], None]) -> list[str]:
    """The first words of each statement `action` sends through the engine."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()[:3]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent


def test_a_heartbeat_that_changes_nothing_but_the_health_reads_once_and_writes_once(
    engine: Engine,
) -> None:
    """The same runs in flight and no jobs list (the agent sends it only when it
    changed): no job's state is decided again; the host's row is read, then upserted,
    and the runs' jobs read for whether they are due to be noted as seen (written at
    most daily, and then by an UPDATE of its own). Every
    heartbeat of a quiet fleet is this one."""
    running = [{"job": "nightly", "pid": 4242, "started_at": "2030-06-11T00:00:01Z"}]
    jobs = [{"name": "nightly", "wrapped": True, "schedule": "0 2 * * *"}]
    at = dt.datetime(2030, 6, 11, 0, 1, 30)
    store_heartbeat(engine, Heartbeat.model_validate(
        {"host": "web1", "running": running, "jobs": jobs}), now=at)  # fmt: skip
    again = Heartbeat.model_validate({"host": "web1", "running": running, "load": [0.5]})
    sent = statements_of(engine, lambda: store_heartbeat(engine, again, now=at + SECONDS_30))
    assert sent == ["SELECT smartcron_hosts.health FROM", "SELECT smartcron_jobs.job FROM",
                    "INSERT INTO smartcron_hosts"]  # fmt: skip
    # Without runs in flight (most hosts, most of the time): a read and an upsert.
    idle = Heartbeat.model_validate({"host": "web2"})
    store_heartbeat(engine, idle, now=at)
    sent = statements_of(engine, lambda: store_heartbeat(engine, idle, now=at + SECONDS_30))
    assert sent == ["SELECT smartcron_hosts.health FROM", "INSERT INTO smartcron_hosts"]
    with engine.connect() as connection:
        health = connection.execute(
            select(tables.hosts.c.health).where(tables.hosts.c.host == "web1")
        ).scalar_one()
    assert json.loads(health)["load"] == [0.5]
    assert json.loads(health)["jobs"] == jobs  # kept from the heartbeat that sent them
    # A run that stops is a change: its job's state is decided again.
    stopped = Heartbeat.model_validate({"host": "web1"})
    sent = statements_of(engine, lambda: store_heartbeat(engine, stopped, now=at + SECONDS_30))
    assert any(statement.startswith("SELECT smartcron_jobs") for statement in sent), sent


SECONDS_30 = dt.timedelta(seconds=30)


# A job nested 40 levels: MariaDB before 12.2 reads no JSON past 32, MySQL fails the
# statement past 100 (pydantic's parser takes 150).
DEEP_JOB = '{"name":"deep","x":' + "[" * 40 + "]" * 40 + "}"


@pytest.mark.parametrize("job", ['{"name":"n","x":NaN}', '{"name":"n","x":1e400}', DEEP_JOB],
                         ids=["NaN", "1e400", "40 levels"])  # fmt: skip
def test_a_heartbeat_whose_jobs_no_database_reads_as_json_is_one_line_and_stores_nothing(
    service: Service, schema_engine: Engine, job: str
) -> None:
    """The stored health is read by the database's JSON functions too (the host rules,
    ingest's clock merge), which take neither NaN nor Infinity (json.dumps wrote them as
    Python read them) nor a document nested past 32 levels on MariaDB: such a host read
    as {}, never silent. The heartbeat is refused, its field named, and the one before
    stays."""
    host = f"nan-{uuid.uuid4().hex[:8]}"
    assert beat(service, host, disk_free_pct={"state_dir": 50.0}).status_code == 200
    body = f'{{"host":"{host}","disk_free_pct":{{"state_dir":1.0}},"jobs":[{job}]}}'
    answer = requests.post(f"{service.url}/api/v1/heartbeat", data=body, timeout=60,
                           headers={**service.headers(service.ingest_token),
                                    "Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error.startswith("jobs.0: ") and "\n" not in error, error
    with schema_engine.connect() as connection:
        health = connection.execute(
            text("SELECT health FROM smartcron_hosts WHERE host = :h"), {"h": host}
        ).scalar_one()
    assert json.loads(health)["disk_free_pct"] == {"state_dir": 50.0}
