"""Two collector replicas (two `serve` processes) on one database, SQLite file and MySQL,
as behind a load balancer without sticky sessions: concurrent replays of one batch to
both store each run once, and a session or form token from one works on the other."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from smartcron.collector.db import tables
from sqlalchemy import Engine, select

from tests.support.collector_api import (
    SESSION_COOKIE,
    assert_error,
    count_rows,
    login,
    login_form,
    post_login,
    reset_store,
    session_csrf,
)
from tests.support.service import Service, make_report, start_replica

ROUNDS = 3
SENDERS = 8  # half to each replica
BATCH = 50
REPLAYED = 10  # runs of the round before, sent again with each later round


@pytest.fixture(scope="module")
def replica(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A second `serve` on the module service's database and tokens."""
    with start_replica(service, tmp_path_factory.mktemp("replica")) as running:
        yield running


@pytest.fixture
def pair(
    service: Service,
    replica: Service,
    schema_engine: Engine,
    clear_tables: Callable[[Engine], None],
) -> tuple[Service, Service]:
    reset_store(schema_engine, clear_tables)
    return service, replica


def send(target: Service, runs: list[dict[str, Any]]) -> requests.Response:
    # A request of its own per thread: a requests.Session is not meant to be shared.
    return requests.post(f"{target.url}/api/v1/runs", json={"runs": runs},
                         headers=target.headers(target.ingest_token), timeout=60)  # fmt: skip


def replay_at_once(
    replicas: tuple[Service, Service], batch: list[dict[str, Any]]
) -> list[requests.Response]:
    """SENDERS posts of `batch` released together, alternating between the replicas,
    each sender holding the runs in its own order (as agents replaying a spool would)."""
    start = threading.Barrier(SENDERS)

    def replay(sender: int) -> requests.Response:
        runs = random.Random(sender).sample(batch, len(batch))
        start.wait(timeout=30)
        return send(replicas[sender % 2], runs)

    with ThreadPoolExecutor(SENDERS) as pool:
        return list(pool.map(replay, range(SENDERS)))


def last_runs(engine: Engine) -> dict[tuple[str, str], str]:
    j = tables.jobs.c
    with engine.connect() as connection:
        rows = connection.execute(select(j.job, j.host, j.last_run_id))
        return {(job, host): run_id for job, host, run_id in rows}


def test_concurrent_replays_to_both_replicas_store_each_run_once(
    pair: tuple[Service, Service], schema_engine: Engine
) -> None:
    base = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)
    distinct: dict[str, dict[str, Any]] = {}
    previous: list[dict[str, Any]] = []
    accepted_overall = 0
    for round_number in range(ROUNDS):
        fresh = [
            make_report(f"job{i % 5}", host=f"web{i % 2}", duration_s=1.0,
                        started=base + dt.timedelta(seconds=100 * round_number + i))
            for i in range(BATCH - (REPLAYED if previous else 0))
        ]  # fmt: skip
        # A spool replayed by a sender that never heard back holds older runs as well.
        batch = previous[:REPLAYED] + fresh
        distinct |= {report["run_id"]: report for report in batch}
        answers = replay_at_once(pair, batch)
        assert [a.status_code for a in answers] == [200] * SENDERS, [a.text for a in answers]
        counts = [a.json() for a in answers]
        assert sum(c["accepted"] for c in counts) == len(fresh), (round_number, counts)
        assert sum(c["duplicates"] for c in counts) == SENDERS * BATCH - len(fresh), counts
        accepted_overall += sum(c["accepted"] for c in counts)
        previous = fresh

    assert accepted_overall == len(distinct) == BATCH + (ROUNDS - 1) * (BATCH - REPLAYED)
    with schema_engine.connect() as connection:
        stored = list(connection.execute(select(tables.runs.c.run_id)).scalars())
    assert len(stored) == len(distinct) and set(stored) == set(distinct)
    assert count_rows(schema_engine, tables.run_output) == len(distinct)
    # Each job's row names its newest run, whichever replica stored which run first.
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for report in distinct.values():
        key = (report["job"], report["host"])
        if key not in newest or report["started_at"] > newest[key]["started_at"]:
            newest[key] = report
    assert last_runs(schema_engine) == {key: r["run_id"] for key, r in newest.items()}


def paused(engine: Engine) -> dict[str, bool]:
    j = tables.jobs.c
    with engine.connect() as connection:
        rows = connection.execute(select(j.host, j.paused).where(j.job == "vend_sync")).all()
    return {host: bool(flag) for host, flag in rows}


def test_a_session_from_one_replica_acts_on_the_other(
    pair: tuple[Service, Service], schema_engine: Engine
) -> None:
    a, b = pair
    reports = [make_report("vend_sync", host="web1"), make_report("vend_sync", host="web2")]
    assert a.post_runs(reports).json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    # The login form from A, posted to B: its CSRF token lives in a cookie, not in A.
    client = requests.Session()
    token = login_form(a, client)
    answer = post_login(b, client, csrf_token=token)
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    assert SESSION_COOKIE in client.cookies
    assert client.get(f"{a.url}/api/v1/status", timeout=30).status_code == 200

    # Logged in on A, read on B (cookies are per host, not per port: B gets A's cookie).
    client = login(a)
    assert client.get(f"{b.url}/api/v1/status", timeout=30).status_code == 200
    page = client.get(f"{b.url}/", headers={"Accept": "text/html"}, allow_redirects=False,
                      timeout=30)  # fmt: skip
    assert page.status_code == 200 and "vend_sync" in page.text, page.status_code
    csrf = session_csrf(a, client, "/jobs/vend_sync")
    assert session_csrf(b, client, "/jobs/vend_sync") == csrf

    answer = client.post(f"{b.url}/jobs/vend_sync/action",
                         data={"action": "pause", "host": "web2", "csrf_token": csrf},
                         allow_redirects=False, timeout=30)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/jobs/vend_sync"
    assert paused(schema_engine) == {"web1": False, "web2": True}
    a_ = tables.audit.c
    with schema_engine.connect() as connection:
        audit = connection.execute(select(a_.actor, a_.action, a_.job, a_.host)).all()
    assert [tuple(row) for row in audit] == [("admin", "pause", "vend_sync", "web2")]
    # A sees what was done on B.
    job_page = client.get(f"{a.url}/jobs/vend_sync", headers={"Accept": "text/html"},
                          timeout=30)  # fmt: skip
    assert "Resume on web2" in job_page.text


def test_logout_on_one_replica_ends_the_session_on_the_other(
    pair: tuple[Service, Service], schema_engine: Engine
) -> None:
    a, b = pair
    client = login(a)
    cookie = str(client.cookies[SESSION_COOKIE])
    assert client.get(f"{b.url}/api/v1/status", timeout=30).status_code == 200
    csrf = session_csrf(b, client)

    answer = client.post(f"{a.url}/logout", data={"csrf_token": csrf}, allow_redirects=False,
                         timeout=30)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert count_rows(schema_engine, tables.sessions) == 0
    # The old cookie, replayed to B at once: no replica remembers a session on its own.
    replay = requests.get(f"{b.url}/api/v1/status", cookies={SESSION_COOKIE: cookie},
                          timeout=30)  # fmt: skip
    assert_error(replay, 401, "log in")
    page = requests.get(f"{b.url}/", cookies={SESSION_COOKIE: cookie},
                        headers={"Accept": "text/html"}, allow_redirects=False,
                        timeout=30)  # fmt: skip
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def run_counters(target: Service) -> str:
    """The run counter and the duration histogram as one replica's /metrics has them."""
    answer = target.get("/metrics")
    assert answer.status_code == 200, answer.text[:300]
    families = ("smartcron_runs_total", "smartcron_run_duration_seconds_")
    return "\n".join(line for line in answer.text.splitlines() if line.startswith(families))


def test_both_replicas_give_the_same_counters(
    pair: tuple[Service, Service], schema_engine: Engine
) -> None:
    # A load balancer that alternates scrapes must see one series, to the last digit of
    # _sum: both replicas sum the same totals rows, in whole microseconds.
    durations = [0.1 * n + 0.001 for n in range(1, 60)]  # sums that floats add unevenly
    first, second = pair
    for number, chunk in enumerate((durations[:20], durations[20:40], durations[40:])):
        runs = [make_report("sum_job", duration_s=d, status="success" if n % 7 else "failed")
                for n, d in enumerate(chunk)]  # fmt: skip
        assert send((first, second)[number % 2], runs).status_code == 200
        assert run_counters(first) == run_counters(second)
    text = run_counters(first)
    assert 'smartcron_runs_total{job="sum_job",status="success"}' in text
    assert 'smartcron_run_duration_seconds_count{job="sum_job"} 59.0' in text
