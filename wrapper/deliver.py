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
  which are about the envelope or the token, not the report, and a 2xx that is not
  an ingest answer, which proves nothing was stored): it stays spooled.

answer.py reads the answer, for the agent's batches too.

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
    """What an ingest answer means for the one report that was sent (answer.py reads it)."""
    from .answer import REFUSED_WHOLE, SETTLED, read_batch_answer

    read = read_batch_answer(status, answer, [run_id])
    if read.kind == SETTLED:
        return Outcome(DELIVERED) if read.taken(0) else Outcome(REJECTED, read.rejected[0])
    if read.kind == REFUSED_WHOLE and status == 422:
        return Outcome(REJECTED, read.error)  # one report, refused: it is the bad one
    # 413 too: the agent sends it again alone, and sets it aside if it is refused then.
    return Outcome(KEPT, f"collector answered {status}: {read.error}")
