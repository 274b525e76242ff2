"""smartcron-wrap posts its report once and never retries the POST: a collector that
answers 5xx gets exactly one request, the report stays in the spool for the agent, and
the run's exit status is the job's, and nothing is printed about it. The collector here
is a tiny counting HTTP server."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

WARNING = "smartcron-wrap: warning:"


class Refusing(ThreadingHTTPServer):
    """Answers every request with `status` and records (method, path, body) of each."""

    def __init__(self, status: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.requests: list[tuple[str, str, bytes]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Refusing

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with self.server.lock:
            self.server.requests.append((self.command, self.path, body))
        payload = json.dumps({"error": "database unavailable; retry later"}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.server.status == 503:
            self.send_header("Retry-After", "1")  # an invitation the wrapper must not take
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET = do_PUT = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test reads self.server.requests


@pytest.fixture(params=[503, 500])
def refusing(request: pytest.FixtureRequest) -> Iterator[Refusing]:
    server = Refusing(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join(10)
    server.server_close()


def job(code: int) -> list[str]:
    return [sys.executable, "-c", f"import sys; print('hello'); sys.exit({code})"]


@pytest.mark.parametrize("code", [0, 3])
def test_a_refused_report_is_posted_once_and_stays_in_the_spool(
    refusing: Refusing, wrap: Any, state: Any, code: int
) -> None:
    # --retries: the job's attempts are retried, its report's delivery is not.
    done = wrap("--name", "nightly", "--collector", refusing.url, "--token", "sct_any",
                "--retries", "2", "--retry-delay", "0", "--", *job(code))  # fmt: skip
    assert done.returncode == code, done.stderr
    assert done.stdout == "hello\n" * (3 if code else 1)
    assert [(method, path) for method, path, _ in refusing.requests] == [("POST", "/api/v1/runs")]
    # Safely spooled: nothing printed (cron would mail it), the per-job log says why.
    assert WARNING not in done.stderr, done.stderr
    [entry] = state.log_with_deliveries("nightly")
    assert entry["delivery"]["result"] == "kept", entry["delivery"]
    assert f"answered {refusing.status}" in entry["delivery"]["reason"], entry["delivery"]
    report = state.report()
    assert json.loads(refusing.requests[0][2]) == {"runs": [report]}
    assert report["attempts"][-1]["exit_code"] == code
