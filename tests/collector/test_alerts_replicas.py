"""Two alert engines at once on one MariaDB (two engines, two connection pools, truly
concurrent passes at the same injected moment), and the lease that keeps serve's
replicas to one pass at a time; `smartcron-collector alerts --once` as installed."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from smartcron.collector.alerting import lease
from smartcron.collector.alerting.engine import PassResult, run_pass
from smartcron.collector.db.engine import create_db_engine
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from tests.support.alerts import alerts, beat, events, store_run
from tests.support.service import run_cli

T0 = dt.datetime(2030, 6, 10, 8, 0, 0)
MINUTE = dt.timedelta(minutes=1)
ROUNDS = 6
JOBS = 40


@pytest.fixture
def second_engine(mysql_engine: Engine, clear_tables: Callable[[Engine], None]) -> Iterator[Engine]:
    """Another pool on the same MariaDB database (emptied), as a second replica has."""
    clear_tables(mysql_engine)
    other = create_db_engine(mysql_engine.url.render_as_string(hide_password=False))
    yield other
    other.dispose()


def pass_as_the_loop_would(engine: Engine, now: dt.datetime) -> PassResult:
    """A pass; a deadlock between the two replicas' transactions rolls one back whole,
    and the loop's next tick does it again (here at once)."""
    for _attempt in range(10):
        try:
            return run_pass(engine, now)
        except OperationalError as error:
            if "Deadlock" not in str(error) and "Lock wait" not in str(error):
                raise
    raise AssertionError("ten deadlocks in a row")


def race(engines: list[Engine], now: dt.datetime) -> None:
    """The engines' passes at `now`, started together on threads of their own (an error
    in either is raised here, by result())."""
    start = threading.Barrier(len(engines))

    def one(engine: Engine) -> PassResult:
        start.wait()
        return pass_as_the_loop_would(engine, now)

    with ThreadPoolExecutor(len(engines)) as pool:
        for future in [pool.submit(one, engine) for engine in engines]:
            future.result(timeout=120)


def test_two_replicas_on_mariadb_open_and_resolve_each_alert_once(
    mysql_engine: Engine, second_engine: Engine
) -> None:
    engine = mysql_engine
    for job in range(JOBS):
        store_run(engine, f"job{job:02d}", T0, schedule="*/5 * * * *")
    beat(engine, "web1", T0)
    race([engine, second_engine], T0 + MINUTE)
    for round_ in range(1, ROUNDS + 1):
        at = T0 + round_ * 4 * MINUTE
        # Each round: a third of the jobs fail, a third succeed, a third stay silent.
        for job in range(JOBS):
            status = ("failed", "success", None)[(job + round_) % 3]
            if status is not None:
                store_run(engine, f"job{job:02d}", at - MINUTE, status=status,
                          schedule="*/5 * * * *")  # fmt: skip
        race([engine, second_engine], at)

    rows = alerts(engine)
    assert rows, "the rounds opened alerts"
    identities = Counter((r["rule"], r["job"], r["host"], r["instant"]) for r in rows)
    assert max(identities.values()) == 1
    open_keys = Counter((r["rule"], r["job"], r["host"]) for r in rows if r["resolved_at"] is None)
    assert max(open_keys.values()) == 1
    per_alert = Counter(events(engine))
    assert set(per_alert.values()) == {1}, "one event per transition, whoever made it"
    for row in rows:
        kinds = {event for (alert_id, event) in per_alert if alert_id == row["id"]}
        assert kinds == ({"opened", "resolved"} if row["resolved_at"] else {"opened"})


def test_the_lease_is_held_by_one_until_it_expires_or_is_released(mysql_engine: Engine) -> None:
    engine, ttl = mysql_engine, dt.timedelta(minutes=1)
    assert lease.take(engine, "alerts", "a", T0, ttl)
    assert not lease.take(engine, "alerts", "b", T0 + 30 * dt.timedelta(seconds=1), ttl)
    assert lease.take(engine, "alerts", "a", T0 + 30 * dt.timedelta(seconds=1), ttl), "kept"
    assert not lease.renew(engine, "alerts", "b", T0 + MINUTE, ttl)
    assert lease.take(engine, "alerts", "b", T0 + 2 * MINUTE, ttl), "a's lease expired"
    assert not lease.renew(engine, "alerts", "a", T0 + 2 * MINUTE, ttl)
    assert lease.release(engine, "alerts", "b")
    assert lease.take(engine, "alerts", "a", T0 + 2 * MINUTE, ttl), "released: free at once"


def test_racing_for_a_new_lease_gives_it_to_one(
    mysql_engine: Engine, second_engine: Engine
) -> None:
    start = threading.Barrier(2)
    won: list[str] = []

    def take(engine: Engine, name: str) -> None:
        start.wait()
        if lease.take(engine, "race", name, T0, dt.timedelta(minutes=1)):
            won.append(name)

    threads = [threading.Thread(target=take, args=(e, n))
               for e, n in ((mysql_engine, "a"), (second_engine, "b"))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(won) == 1


def test_the_alerts_command_runs_one_pass(engine: Engine, db_url: str) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    store_run(engine, "vend_sync", now - 2 * MINUTE, status="failed", schedule=None)
    out = run_cli("alerts", "--db", db_url, "--once")
    assert "alert pass: 1 opened" in out
    assert [row["rule"] for row in alerts(engine)] == ["failed"]
    out = run_cli("alerts", "--db", db_url, "--once")
    assert "alert pass: 0 opened" in out
