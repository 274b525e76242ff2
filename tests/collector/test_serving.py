"""`serve --workers N` (collector/serving.py): a socket per worker, connections spread
over the workers, a dead worker replaced, and nothing left behind on stop."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from multiprocessing.context import SpawnProcess
from pathlib import Path

import psutil
import pytest
import requests
import uvicorn
from smartcron.collector import serving

from tests.support.service import Service, collector_bin, free_port, start_collector, workers_of


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Service]:
    with start_collector(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, extra=("--workers", "2")) as s:
        yield s


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def gone(pids: list[int], limit_s: float = 15.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def test_each_worker_listens_on_its_own_socket_and_takes_connections(
    two_workers: Service,
) -> None:
    workers = workers_of(two_workers)
    assert len(workers) == 2
    port = int(two_workers.url.rsplit(":", 1)[1])
    # Keep-alive connections, as agents and load balancers hold them.
    connections = []
    for _ in range(24):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        connections.append(connection)
    try:
        held = [
            sum(c.status == psutil.CONN_ESTABLISHED for c in worker.net_connections("tcp")
                if c.laddr and c.laddr.port == port)
            for worker in workers
        ]  # fmt: skip
        # With one shared socket one worker can take them all; a socket each spreads them.
        # (24 and the fixture's own keep-alive connection from its readiness check.)
        assert sum(held) >= 24 and min(held) >= 4, held
    finally:
        for connection in connections:
            connection.close()


def test_a_worker_that_dies_is_replaced(two_workers: Service) -> None:
    first, second = workers_of(two_workers)
    # A death soon after the start is taken for a broken start and stops the service.
    # The supervisor times a worker from when its spawn returned, which on a loaded
    # machine is seconds after the process was created: time it from now, when both
    # workers answer (after the spawns returned), not from create_time().
    time.sleep(serving.QUICK_DEATH_S + 0.5)
    first.kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = workers_of(two_workers, limit_s=0)
        if len(now) == 2 and first.pid not in {w.pid for w in now}:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no replacement for worker {first.pid}:\n{two_workers.log()}")
    assert second.is_running()
    assert two_workers.session.get(f"{two_workers.url}/healthz", timeout=5).status_code == 200
    assert "starting another" in two_workers.log()


def test_sigterm_stops_the_parent_and_every_worker(two_workers: Service) -> None:
    pids = [w.pid for w in workers_of(two_workers)]
    os.kill(two_workers.process.pid, signal.SIGTERM)
    assert two_workers.process.wait(timeout=20) == 0
    assert gone(pids)


def test_workers_die_with_a_killed_parent(two_workers: Service) -> None:
    pids = [w.pid for w in workers_of(two_workers)]
    os.kill(two_workers.process.pid, signal.SIGKILL)
    two_workers.process.wait(timeout=10)
    assert gone(pids), "workers outlived their parent and hold the port"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_clear_error(tmp_path: Path, workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [collector_bin(), "serve", "--db", f"sqlite:///{tmp_path / 'c.db'}",
             "--listen", f"127.0.0.1:{port}", "--workers", workers],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "choose another --listen" in done.stderr
    assert "Traceback" not in done.stderr
    # The port is bound before the service says it listens: never "listening", then no.
    assert "listening" not in done.stderr, done.stderr


def test_listening_is_said_with_the_port_the_kernel_chose(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [collector_bin(), "serve", "--db", f"sqlite:///{tmp_path / 'c.db'}",
         "--listen", "127.0.0.1:0"],
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = ""
        while "listening" not in line:
            line = process.stderr.readline()
            assert line, "the service ended without saying where it listens"
        port = int(line.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])
        assert port != 0
        answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert answer.status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=20)


def test_bind_gives_every_socket_the_port_the_first_one_got() -> None:
    sockets = serving.bind("127.0.0.1", 0, 3)
    try:
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1 and ports != {0}
    finally:
        for sock in sockets:
            sock.close()


def test_bind_refuses_a_port_another_process_listens_on() -> None:
    # The other socket has no SO_REUSEPORT: the kernel lets nobody join it.
    port = free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(OSError):
            serving.bind("127.0.0.1", port, 2)


def test_a_second_service_cannot_join_the_first_one_s_port() -> None:
    first = serving.bind("127.0.0.1", 0, 2)
    try:
        with pytest.raises(OSError):
            serving.bind("127.0.0.1", first[0].getsockname()[1], 2)
    finally:
        for sock in first:
            sock.close()


def test_a_start_that_fails_midway_stops_the_workers_already_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sockets = serving.bind("127.0.0.1", 0, 2)
    supervisor = serving.Supervisor(uvicorn_config(), sockets)
    started: list[int] = []

    def start(index: int) -> tuple[SpawnProcess, float]:
        if index == 1:  # the second worker cannot be started (out of memory, say)
            raise OSError("cannot fork")
        process = serving._spawn.Process(target=time.sleep, args=(120,), daemon=False)
        process.start()
        assert process.pid is not None
        started.append(process.pid)
        return process, time.monotonic()

    monkeypatch.setattr(supervisor, "_start", start)
    # run() takes SIGTERM and SIGINT for itself; pytest needs its own back afterwards.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with pytest.raises(OSError, match="cannot fork"):
            supervisor.run()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert len(started) == 1
    assert gone(started), "a worker outlived the failed start"
    assert all(sock.fileno() == -1 for sock in sockets), "the sockets were left open"


def uvicorn_config() -> uvicorn.Config:
    return uvicorn.Config("smartcron.collector.cli:app_from_environment", factory=True)
