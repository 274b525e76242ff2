"""A batch over api.PARSE_ON_LOOP_BYTES is parsed in the thread pool, at most
app.PARSERS at a time, never on the event loop: while batches are being parsed, a
heartbeat and /healthz are answered, and the batches beyond PARSERS wait for a turn
without taking a thread. The real app under uvicorn on a loopback port, over SQLite;
the parse is the real one, held at its start by the test (so that "while" is a fact,
not a guess about timing)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import uvicorn
from smartcron.collector import api
from smartcron.collector.app import PARSERS, create_app
from smartcron.collector.auth import INGEST, create_token
from smartcron.collector.batch import Batch, parse_batch
from smartcron.collector.settings import CollectorSettings
from sqlalchemy import Engine

from tests.collector.conftest import clear_tables
from tests.support.service import free_port, make_report, wait_for


class HeldParse:
    """parse_batch, held at its start until `release` (or a minute, so that a parse
    that ran on the event loop fails the test instead of hanging it)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.inside = 0
        self.most_inside = 0
        self._lock = threading.Lock()

    def __call__(self, body: bytes, max_reports: int) -> Batch:
        with self._lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            self.release.wait(60)
            return parse_batch(body, max_reports)
        finally:
            with self._lock:
                self.inside -= 1


@dataclass
class Served:
    url: str
    token: str
    app: Any

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{self.url}{path}", json=body, timeout=30,
                             headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip


@pytest.fixture
def served(sqlite_engine: Engine) -> Iterator[Served]:
    clear_tables(sqlite_engine)
    app = create_app(CollectorSettings(db_url="sqlite://"), sqlite_engine)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, "the server to start")
        yield Served(f"http://127.0.0.1:{port}", create_token(sqlite_engine, "t", INGEST), app)
    finally:
        server.should_exit = True
        thread.join(30)


def batch_of(reports: int) -> dict[str, Any]:
    return {"runs": [make_report(f"job-{n}", run_id=str(uuid.uuid4())) for n in range(reports)]}


def test_requests_are_answered_while_batches_are_parsed(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldParse()
    monkeypatch.setattr(api, "parse_batch", held)
    assert len(json.dumps(batch_of(50))) > api.PARSE_ON_LOOP_BYTES  # large: off the loop
    sent = PARSERS + 3
    with ThreadPoolExecutor(max_workers=sent) as pool:
        batches: list[Future[requests.Response]] = [
            pool.submit(served.post, "/api/v1/runs", batch_of(50)) for _ in range(sent)
        ]
        try:
            # Every batch is in; PARSERS of them are being parsed, the others wait.
            wait_for(lambda: served.app.state.parsers.calls == sent, "every batch to arrive")
            wait_for(lambda: held.inside == PARSERS, "the parses to start")
            beat = served.post("/api/v1/heartbeat", {"host": "web1"})
            assert beat.status_code == 200, beat.text
            assert requests.get(f"{served.url}/healthz", timeout=30).status_code == 200
            assert held.inside == PARSERS and not any(batch.done() for batch in batches)
        finally:
            held.release.set()
        answers = [batch.result(timeout=60) for batch in batches]
    assert [answer.status_code for answer in answers] == [200] * sent
    assert sum(answer.json()["accepted"] for answer in answers) == 50 * sent
    assert held.most_inside == PARSERS
    assert served.app.state.parsers.calls == 0
