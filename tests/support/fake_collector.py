"""A loopback HTTP server that plays a collector the way a test needs it to: a given
status and JSON answer, or an answer trickled one byte every `trickle_s` seconds, or
(`endless`) one that never ends: its head trickled on for as long as the test runs, so
that only the wrapper's own deadline (or a signal) can end its wait, however fast or
slow the machine.

Raw sockets rather than http.server: a trickled answer must be written by hand, and
the server records every request it got (method, path, headers, body).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class FakeCollector:
    def __init__(
        self,
        status: int = 200,
        answer: Any = None,
        trickle_s: float = 0.0,
        headers: dict[str, str] | None = None,
        endless: bool = False,
        statuses: list[int] | None = None,
    ) -> None:
        """`statuses`: the status of each request in the order they arrive, `status`
        after them."""
        self.status = status
        self.statuses = list(statuses or [])
        self.headers = headers or {}
        self.answer = {"accepted": 1, "duplicates": 0, "rejected": []} if answer is None else answer
        self.trickle_s = trickle_s
        self.endless = endless
        self.requests: list[dict[str, Any]] = []
        self.received = threading.Event()  # set once a whole request has arrived
        self._answering = 0  # requests read whose answer is not all sent yet
        self._count = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def reports(self) -> list[dict[str, Any]]:
        return [report for request in self.requests if isinstance(request["body"], dict)
                for report in request["body"].get("runs", [])]  # fmt: skip

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            try:
                head, body = self._read_request(connection)
            except (OSError, ValueError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            document = json.loads(body) if body else None  # a GET has none
            with self._count:
                self._answering += 1
                at_once = self._answering
                status = self.statuses.pop(0) if self.statuses else self.status
            try:
                self.requests.append({
                    "method": method, "path": path, "headers": headers, "body": document,
                    "at": time.time(),  # the wall clock, as a report's times and a log's `at`
                    "at_once": at_once,  # requests being answered as this one arrived, itself too
                    "status": status,
                })  # fmt: skip
                self.received.set()
                self._respond(connection, status)
            finally:
                with self._count:
                    self._answering -= 1

    def _respond(self, connection: socket.socket, status: int) -> None:
        payload = json.dumps(self.answer).encode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        response = (
            f"HTTP/1.1 {status} Answer\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        ).encode() + payload
        try:
            if self.endless:
                self._trickle_forever(connection)
                return
            if not self.trickle_s:
                connection.sendall(response)
                return
            for index in range(len(response)):
                if self._stop.wait(self.trickle_s):
                    return
                connection.sendall(response[index : index + 1])
        except OSError:
            return  # the wrapper gave up and hung up: what this test wants

    def _trickle_forever(self, connection: socket.socket) -> None:
        # A header line that never ends (http.client reads up to 64 KiB of one): every
        # byte arrives within any socket timeout, so only a deadline on the whole
        # request ends the wait.
        connection.sendall(b"HTTP/1.1 200 OK\r\nX-Trickle: ")
        while not self._stop.wait(self.trickle_s or 0.2):
            connection.sendall(b".")

    @staticmethod
    def _read_request(connection: socket.socket) -> tuple[bytes, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                raise ValueError("closed before the headers ended")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                raise ValueError("closed before the body ended")
            body += chunk
        return head, body

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._listener.close()


@contextmanager
def fake_collector(**kwargs: Any) -> Iterator[FakeCollector]:
    server = FakeCollector(**kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_until(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
