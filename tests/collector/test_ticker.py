"""serve's tick in a process of its own (collector/ticker.py): it runs there and not in
a worker, is started again when it dies, gives its lease up on a clean stop, and dies
with a killed parent."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import uvicorn
from smartcron.collector import serving
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


# serving._serve_alone in a process of its own, as `serve --workers 1` runs it, with a
# stand-in ticker and app: every request takes SLOW_S, so uvicorn's graceful stop
# waits that long for one in progress.
SLOW_S = 3.0


def ticker_until_signal(log: str, parent: int) -> None:
    """A ticker between two ticks: it notes its start, and stops at once on SIGTERM or
    SIGINT as the real one then does."""
    del parent
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    with open(log, "a") as started:
        started.write(f"{os.getpid()}\n")
    stopped.wait(120)


class SlowStart(Ticker):
    """A ticker whose start takes a second: the window before uvicorn takes the
    signals, which a spawn (and multiprocessing's resource tracker) otherwise makes a
    few milliseconds long."""

    def __init__(self, target: Callable[[int], object], flag: str) -> None:
        super().__init__(target)
        self.flag = flag

    def start(self) -> None:
        Path(self.flag).touch()
        time.sleep(1)
        super().start()


async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    Path(os.environ["SLOW_APP_SEEN"]).touch()
    await asyncio.sleep(SLOW_S)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


def serve_alone(tmp: str, slow_start: bool) -> None:
    os.environ["SLOW_APP_SEEN"] = f"{tmp}/seen"
    config = uvicorn.Config(slow_app, log_level="warning", lifespan="off")
    [sock] = serving.bind("127.0.0.1", 0, 1)
    Path(f"{tmp}/port").write_text(str(sock.getsockname()[1]))
    target = functools.partial(ticker_until_signal, f"{tmp}/tickers")
    ticker = SlowStart(target, f"{tmp}/starting") if slow_start else Ticker(target)
    # The restart interval passes in a hundredth of the time (injected): a ticker that
    # died is started again at the watcher's next look.
    ticker.clock = lambda: time.monotonic() * 100
    sys.exit(serving._serve_alone(config, sock, ticker))


def tickers_started(tmp: Path) -> list[int]:
    log = tmp / "tickers"
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def test_one_worker_told_to_stop_starts_no_ticker_while_it_finishes_a_request(
    tmp_path: Path,
) -> None:
    """Ctrl-C (or systemd's SIGTERM to the whole cgroup) reaches the ticker too, which
    stops at once; uvicorn meanwhile finishes the requests in progress. The watcher
    must not take the stopped ticker for a dead one and start another."""
    serve = multiprocessing.get_context("spawn").Process(
        target=serve_alone, args=(str(tmp_path), False)
    )
    serve.start()
    try:
        wait_for(lambda: tickers_started(tmp_path), "the ticker's start")
        port = int((tmp_path / "port").read_text())
        with ThreadPoolExecutor(1) as client:
            answer = client.submit(requests.get, f"http://127.0.0.1:{port}/", timeout=30)
            wait_for((tmp_path / "seen").exists, "the request at the app")
            [ticker] = tickers_started(tmp_path)
            assert serve.pid is not None
            for pid in (serve.pid, ticker):  # a terminal's Ctrl-C: the process group
                os.kill(pid, signal.SIGINT)
            serve.join(30)
            assert answer.result().text == "done", "the request in progress is answered"
        assert serve.exitcode == 0
        assert tickers_started(tmp_path) == [ticker], "a ticker started during the stop"
    finally:
        if serve.is_alive():
            serve.kill()
            serve.join()


def test_a_sigterm_while_the_ticker_starts_stops_one_worker(tmp_path: Path) -> None:
    """Before uvicorn takes SIGTERM and SIGINT, _serve_alone's own handler has them:
    one that only noted the signal lost it, and serve went on serving."""
    serve = multiprocessing.get_context("spawn").Process(
        target=serve_alone, args=(str(tmp_path), True)
    )
    serve.start()
    try:
        wait_for((tmp_path / "starting").exists, "the ticker's start")
        assert serve.pid is not None
        os.kill(serve.pid, signal.SIGTERM)
        serve.join(30)
        assert serve.exitcode == 0, "serve went on after its SIGTERM"
    finally:
        if serve.is_alive():
            serve.kill()
            serve.join()
    assert gone(tickers_started(tmp_path))


# serving.Supervisor in a process of its own, as `serve --workers 2` runs it, with a
# stand-in ticker that is in the middle of a tick when the stop comes.


def ticker_held_at_stop(tmp: str, parent: int) -> None:
    """A ticker told to stop during a tick: it finishes only when the test says so (the
    file `release`), as the real one may take half a minute (ticker.STOP_GRACE_S)."""
    del parent
    told = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: told.set())
    Path(f"{tmp}/ticker").write_text(str(os.getpid()))
    told.wait(120)
    Path(f"{tmp}/told").touch()
    deadline = time.monotonic() + 120
    while not Path(f"{tmp}/release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def supervise(tmp: str) -> None:
    config = uvicorn.Config(slow_app, log_level="warning", lifespan="off")
    ticker = Ticker(functools.partial(ticker_held_at_stop, tmp))
    sys.exit(serving.Supervisor(config, serving.bind("127.0.0.1", 0, 2), ticker).run())


def listening_children(pid: int) -> list[int]:
    found = []
    for child in psutil.Process(pid).children():
        with contextlib.suppress(psutil.Error):
            if any(c.status == psutil.CONN_LISTEN for c in child.net_connections("tcp")):
                found.append(child.pid)
    return found


def test_the_workers_stop_at_once_while_the_ticker_finishes_its_tick(tmp_path: Path) -> None:
    """systemd's SIGTERM to serve: the workers stop now, whatever the ticker is doing.
    They used to be told only once the ticker had finished, up to 35 s later, and
    served on meanwhile."""
    serve = multiprocessing.get_context("spawn").Process(target=supervise, args=(str(tmp_path),))
    serve.start()
    try:
        wait_for((tmp_path / "ticker").exists, "the ticker's start")
        ticker = int((tmp_path / "ticker").read_text())
        pid = serve.pid
        assert pid is not None
        wait_for(lambda: len(listening_children(pid)) == 2, "two listening workers")
        workers = listening_children(pid)
        os.kill(pid, signal.SIGTERM)
        wait_for((tmp_path / "told").exists, "the ticker told to stop")
        assert gone(workers), "the workers served on while the ticker finished its tick"
        assert psutil.pid_exists(ticker) and serve.is_alive(), "the tick was cut short"
        (tmp_path / "release").touch()
        serve.join(60)
        assert serve.exitcode == 0
        assert gone([ticker])
    finally:
        if serve.is_alive():
            serve.kill()
            serve.join()
