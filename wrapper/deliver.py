"""Send a spooled report to the collector right after the run.

One short try, no retries: the report is already durable in the spool, and
the agent ships whatever is left there. The whole POST (name lookup, connect,
send, every byte of the answer) has one deadline: a collector that trickles its
answer must not hold the wrapper, so the request runs in a daemon thread that is
simply abandoned at the deadline (the wrapper exits right after). A signal to the
wrapper (SIGTERM, SIGINT, SIGHUP) ends the wait at once, as the deadline would. The
outcome:

- delivered: 2xx and the collector took it (accepted or a duplicate); the
  spooled copy may go;
- rejected: the collector refused the report itself as invalid (422, or a 200
  whose `rejected` names it); it must not be sent again as it is;
- kept: anything else (5xx, 429, a timeout, no connection, and 400/401/403/413,
  which are about the envelope or the token, not the report): it stays spooled.

http.client keeps this off the import bill of runs that have no collector.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import urllib.parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .signals import SignalBox

INGEST_PATH = "/api/v1/runs"
DELIVERED, REJECTED, KEPT = "delivered", "rejected", "kept"


class Outcome:
    def __init__(self, result: str, reason: str | None = None) -> None:
        self.result = result
        self.reason = reason

    def as_log(self) -> dict[str, object]:
        return {"result": self.result, "reason": self.reason}


def deliver_report(
    collector: str,
    token: str | None,
    report: dict[str, object],
    budget_s: float,
    deadline_s: float,
    signals: SignalBox | None = None,
) -> Outcome:
    """POST one report, giving up after `budget_s` seconds in all (what is left of
    the run's delivery deadline of `deadline_s`), or as soon as `signals` holds a
    signal to the wrapper."""
    import select
    import threading
    import time

    box: list[Outcome] = []
    done_r, done_w = os.pipe()  # written once the answer is in: wakes the wait below

    def send() -> None:
        try:
            # The socket's own timeout is only a backstop for the thread: the wait decides.
            box.append(post_report(collector, token, report, budget_s + 1))
        finally:
            os.write(done_w, b".")  # one byte into an empty pipe: never blocks

    worker = threading.Thread(
        target=send,
        name="smartcron-deliver",
        daemon=True,  # abandoned at the deadline: never joined, gone when we exit
    )
    worker.start()
    watched = [done_r] if signals is None else [done_r, signals.wake_fd]
    give_up = time.monotonic() + budget_s
    finished = False
    while (remaining := give_up - time.monotonic()) > 0:
        if signals is not None:
            signals.drain()
            if signals.pending:
                return Outcome(KEPT, cut_short_by(signals.pending[0]))
        ready, _, _ = select.select(watched, [], [], remaining)
        if done_r in ready:
            finished = True
            break
    if not finished:
        # The thread may still write to done_w: closing it could hand its number
        # to another file. Left open; the wrapper exits right after.
        return Outcome(KEPT, f"{collector} did not answer within {deadline_s:g}s")
    os.close(done_r)
    os.close(done_w)
    if box:
        return box[0]
    return Outcome(KEPT, "the delivery failed unexpectedly")


def cut_short_by(sig: int) -> str:
    """The reason a delivery stopped early: a signal to the wrapper."""
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    return f"delivery cut short by {name}"


def post_report(
    collector: str, token: str | None, report: dict[str, object], timeout_s: float
) -> Outcome:
    try:
        url = urllib.parse.urlsplit(collector)
        port = url.port
    except ValueError as error:
        # A bad port or bracket gets past the option's check; the run is over by now,
        # so this is a delivery failure like any other, never a crash.
        return Outcome(KEPT, f"cannot use collector URL {collector!r} ({error})")
    connection_class = (
        http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(url.hostname or "", port, timeout=timeout_s)
    body = json.dumps({"runs": [report]}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "smartcron-wrap"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", url.path.rstrip("/") + INGEST_PATH, body, headers)
        response = connection.getresponse()
        answer = response.read(65536)
    # ValueError: http.client.InvalidURL (control characters in the path, a bad host).
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Outcome(KEPT, f"cannot reach {collector} ({error})")
    finally:
        connection.close()
    return judge_answer(response.status, answer, str(report.get("run_id")))


def judge_answer(status: int, answer: bytes, run_id: str) -> Outcome:
    """What an ingest answer means for the one report that was sent."""
    document = _parse(answer)
    refusal = _refusal(document, run_id)
    if status == 422:
        return Outcome(REJECTED, refusal or _error_text(document, answer))
    if 200 <= status < 300:
        return Outcome(REJECTED, refusal) if refusal else Outcome(DELIVERED)
    return Outcome(KEPT, f"collector answered {status}: {_error_text(document, answer)}")


def _parse(answer: bytes) -> object:
    try:
        return json.loads(answer)
    except ValueError:
        return None


def _refusal(document: object, run_id: str) -> str | None:
    """The error the answer's `rejected` list gives for our report, if any."""
    if not isinstance(document, dict):
        return None
    rejected = document.get("rejected")
    if not isinstance(rejected, list):
        return None
    for entry in rejected:
        if not isinstance(entry, dict):
            continue
        # One report per POST: ours is the one with our id, or at index 0 when the
        # collector could not read an id from it.
        named = entry.get("run_id")
        if named == run_id or (named is None and entry.get("index") in (0, None)):
            return str(entry.get("error") or "rejected without a reason")
    return None


def _error_text(document: object, answer: bytes) -> str:
    if isinstance(document, dict) and "error" in document:
        return str(document["error"])
    return answer.decode("utf-8", "replace")[:200] or "no reason given"
