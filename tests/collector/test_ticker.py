"""serve's tick in a process of its own (collector/ticker.py): it runs there and not in
a worker, is started again when it dies, gives its lease up on a clean stop, and dies
with a killed parent."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from smartcron.collector import ticker as ticker_module
from smartcron.collector.ticker import Ticker

from tests.support.service import Service, start_collector, wait_for

from .test_serving import gone


def ticker_of(service: Service) -> psutil.Process | None:
    """serve's child that is neither a worker (they listen) nor multiprocessing's
    resource tracker."""
    for child in psutil.Process(service.process.pid).children():
        try:
            listens = any(c.status == psutil.CONN_LISTEN for c in child.net_connections("tcp"))
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if not listens and "resource_tracker" not in command:
            return child
    return None


def the_ticker(service: Service) -> psutil.Process:
    wait_for(lambda: ticker_of(service), "the ticker process")
    ticker = ticker_of(service)
    assert ticker is not None
    return ticker


def lease_holder(db: Path) -> str | None:
    with sqlite3.connect(db) as connection:
        row = connection.execute(
            "SELECT holder FROM smartcron_leases WHERE name = 'alerts'"
        ).fetchone()
    return row[0] if row else None


@pytest.fixture(params=["1", "2"], ids=["one-worker", "two-workers"])
def ticking(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Service, Path]]:
    db = tmp_path / "c.db"
    extra = ("--workers", request.param, "--evaluate-every", "0.2", "--alert-every", "0.2")
    with start_collector(f"sqlite:///{db}", tmp_path, extra=extra) as service:
        yield service, db


def test_the_alert_pass_runs_in_the_ticker_not_in_a_worker(ticking: tuple[Service, Path]) -> None:
    service, db = ticking
    ticker = the_ticker(service)
    wait_for(lambda: lease_holder(db), "a tick taking the alert lease")
    holder = lease_holder(db)
    assert holder is not None
    # holder_id(): host, pid, a random part. The pass ran in the ticker's process.
    assert int(holder.split(":")[1]) == ticker.pid, (holder, ticker.pid)
    assert service.session.get(f"{service.url}/healthz", timeout=5).status_code == 200


def test_sigterm_stops_the_ticker_and_gives_its_lease_up(ticking: tuple[Service, Path]) -> None:
    service, db = ticking
    wait_for(lambda: lease_holder(db), "a tick taking the alert lease")
    ticker = the_ticker(service)
    os.kill(service.process.pid, signal.SIGTERM)
    assert service.process.wait(timeout=40) == 0
    assert gone([ticker.pid])
    assert lease_holder(db) is None, "a clean stop gives the lease up for another replica"
    assert "Traceback" not in service.log()


def test_ctrl_c_stops_the_ticker_without_a_traceback(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with start_collector(f"sqlite:///{db}", tmp_path, extra=("--evaluate-every", "0.2")) as service:
        ticker = the_ticker(service)
        # A terminal's Ctrl-C: SIGINT to the whole process group.
        os.killpg(os.getpgid(service.process.pid), signal.SIGINT)
        service.process.wait(timeout=40)
        assert gone([ticker.pid])
        assert "Traceback" not in service.log(), service.log()


def test_the_ticker_dies_with_a_killed_parent(ticking: tuple[Service, Path]) -> None:
    service, _db = ticking
    ticker = the_ticker(service)
    os.kill(service.process.pid, signal.SIGKILL)
    service.process.wait(timeout=10)
    assert gone([ticker.pid]), "the ticker outlived its parent"


def test_no_ticker_when_evaluation_is_off(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with start_collector(f"sqlite:///{db}", tmp_path, extra=("--evaluate-every", "0")) as service:
        time.sleep(1)  # the ticker would have started with serve
        assert ticker_of(service) is None


def sleep_forever(parent: int) -> None:
    del parent
    time.sleep(300)


def test_a_ticker_that_dies_is_started_again_at_most_every_restart_interval() -> None:
    now = [1000.0]
    ticker = Ticker(target=sleep_forever, clock=lambda: now[0])
    ticker.start()
    try:
        first = ticker.process
        assert first is not None and first.pid is not None
        first.kill()
        first.join(10)
        now[0] += ticker_module.RESTART_EVERY_S / 2
        ticker.check()
        assert ticker.process is first, "started again at once: a ticker that cannot start spins"
        now[0] += ticker_module.RESTART_EVERY_S
        ticker.check()
        second = ticker.process
        assert second is not None and second is not first and second.is_alive()
        ticker.check()
        assert ticker.process is second, "a live ticker is left alone"
    finally:
        ticker.stop()
    assert not second.is_alive()
