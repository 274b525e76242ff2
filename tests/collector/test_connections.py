"""The collector under hostile clients (collector/connections.py), against the real
service on loopback: a connection that does not send a whole request in time is
closed, and idle connections beyond the file-descriptor limit do not stop others
being served."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from smartcron.collector import connections
from smartcron.collector.cli import serve
from smartcron.collector.db import tables
from smartcron.collector.db.engine import create_db_engine
from smartcron.collector.settings import CollectorSettings

from tests.support.collector_api import count_rows
from tests.support.service import Service, make_report, start_collector, workers_of

TIMEOUT_S = 1.0  # the deadline these tests give the service (the default is 10 s)
OTHER_CLIENT = "127.0.0.2"  # all of 127/8 is loopback: another client, as the server sees it


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[Service]:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    with start_collector(db, tmp_path, extra=("--request-timeout", str(TIMEOUT_S))) as service:
        yield service


def address(service: Service) -> tuple[str, int]:
    host, port = service.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def connect(service: Service, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect(address(service))
    return sock


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received, time.monotonic()


def is_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except ConnectionError:
        return False
    finally:
        sock.setblocking(True)


def healthz(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: collector\r\n\r\n")
    answer = b""
    while b'"version"' not in answer:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the answer: {answer!r}"
        answer += chunk
    return answer


def test_headers_not_sent_whole_in_time_are_a_408_and_a_close(quick: Service) -> None:
    with connect(quick) as sock:
        opened = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: collector\r\n")  # never the blank line
        received, closed = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert TIMEOUT_S * 0.9 <= closed - opened < TIMEOUT_S + 3


def test_a_connection_that_sends_nothing_is_closed(quick: Service) -> None:
    with connect(quick) as sock:
        opened = time.monotonic()
        received, closed = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert TIMEOUT_S * 0.9 <= closed - opened < TIMEOUT_S + 3


def test_a_body_sent_too_slowly_is_closed_and_nothing_is_stored(quick: Service) -> None:
    body = b'{"runs": []}' + b" " * 500
    with connect(quick) as sock:
        opened = time.monotonic()
        sock.sendall(
            b"POST /api/v1/runs HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {quick.ingest_token}\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:20]
        )
        received, closed = read_until_closed(sock)
    assert received == b""  # the request is under way: no answer of ours, only the close
    assert TIMEOUT_S * 0.9 <= closed - opened < TIMEOUT_S + 3
    assert count_rows(create_db_engine(quick.db_url), tables.runs) == 0
    assert "Traceback" not in quick.log()


def test_a_kept_alive_connection_gets_the_deadline_afresh_for_each_request(
    quick: Service,
) -> None:
    with connect(quick) as sock:
        opened = time.monotonic()
        # Longer in all than one deadline; each request comes well within its own.
        for _ in range(5):
            assert b"200 OK" in healthz(sock)
            time.sleep(TIMEOUT_S / 2)
        assert time.monotonic() - opened > 2 * TIMEOUT_S
        assert b"200 OK" in healthz(sock)


def test_every_worker_keeps_the_deadline(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    extra = ("--request-timeout", str(TIMEOUT_S), "--workers", "2")
    with start_collector(db, tmp_path, extra=extra) as service, contextlib.ExitStack() as held:
        workers = workers_of(service)
        assert len(workers) == 2
        # Enough connections that both workers (SO_REUSEPORT spreads them) get some. A
        # connection shows in a worker's table only once its busy event loop accepted it,
        # so wait for that rather than for a fixed moment; one worker may have closed its
        # connections (408) before the other accepted, so count every worker seen holding.
        socks = [held.enter_context(connect(service)) for _ in range(12)]
        deadline = time.monotonic() + 20
        seen_holding: set[int] = set()
        while len(seen_holding) < 2:
            assert time.monotonic() < deadline, seen_holding
            seen_holding |= {w.pid for w in workers if holds_a_connection(w)}
            time.sleep(0.05)
        for sock in socks:
            received, _ = read_until_closed(sock)
            assert received.startswith(b"HTTP/1.1 408 "), received


def holds_a_connection(worker: psutil.Process) -> bool:
    return any(c.status == psutil.CONN_ESTABLISHED for c in worker.net_connections("tcp"))


def test_the_request_deadline_is_10_s_unless_told() -> None:
    assert CollectorSettings(db_url="sqlite://").request_timeout_s == 10.0
    [option] = [param for param in serve.params if param.name == "request_timeout"]
    assert option.default == 10.0
    assert option.envvar == "SMARTCRON_COLLECTOR_REQUEST_TIMEOUT"


def test_the_connection_cap_leaves_room_under_the_fd_limit() -> None:
    assert connections.connection_cap(1024) == 1024 - 128
    assert connections.connection_cap(100) == 100 - connections.FD_RESERVE_MIN
    assert connections.connection_cap(65536) == 65536 - 8192


def post_runs_request(service: Service) -> bytes:
    body = json.dumps({"runs": [make_report()]}).encode()
    return (
        b"POST /api/v1/runs HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {service.ingest_token}\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


@pytest.mark.slow
def test_idle_connections_beyond_the_fd_limit_do_not_stop_healthz(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    # A long deadline: what keeps the service answering here is the cap, not the deadline.
    with start_collector(
        f"sqlite:///{path}", tmp_path, extra=("--request-timeout", "60"), fd_limit=1024
    ) as service:
        assert psutil.Process(service.process.pid).rlimit(psutil.RLIMIT_NOFILE) == (1024, 1024)
        with contextlib.ExitStack() as held:
            # An agent's kept-alive connection from elsewhere, older than the flood.
            agent = held.enter_context(connect(service, "127.0.0.3"))
            assert b"200 OK" in healthz(agent)
            # The flooding client's oldest connection is being answered (its ingest waits
            # for a write lock held here): it is no connection to close for room.
            lock = held.enter_context(contextlib.closing(sqlite3.connect(path)))
            lock.isolation_level = None
            lock.execute("BEGIN EXCLUSIVE")
            busy = held.enter_context(connect(service))
            busy.settimeout(60)
            busy.sendall(post_runs_request(service))
            time.sleep(0.5)  # the request is in and waits for the lock
            flood = []
            for index in range(1100):
                sock = held.enter_context(connect(service))
                if index % 2:  # half send the start of a request, half send nothing
                    sock.sendall(b"GET / HTTP/1.1\r\n")
                flood.append(sock)
            # Answered at all (connect()'s socket gives up after 10 s): how soon is speed.
            with connect(service, OTHER_CLIENT) as other:
                assert b"200 OK" in healthz(other)
            time.sleep(0.3)  # the closes the service made reach us
            open_flood = sum(is_open(sock) for sock in flood)
            # The flooding client lost its oldest connections; the agent kept its own.
            assert open_flood <= connections.connection_cap(1024), open_flood
            assert not is_open(flood[0]) and is_open(flood[-1])
            assert is_open(agent) and b"200 OK" in healthz(agent)
            lock.execute("ROLLBACK")
            answer = busy.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert service.process.poll() is None
        log = service.log()
        assert "Too many open files" not in log and "Traceback" not in log, log[-2000:]
