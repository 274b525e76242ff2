"""Send a spooled report to the collector right after the run.

One short try, no retries: the report is already durable in the spool, and
the agent ships whatever is left there. The whole POST (name lookup, connect,
send, every byte of the answer) has one deadline: a collector that trickles its
answer must not hold the wrapper, so the request runs in a daemon thread that is
simply abandoned at the deadline (the wrapper exits right after). The outcome:

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
import urllib.parse

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
) -> Outcome:
    """POST one report, giving up after `budget_s` seconds in all: what is left of
    the run's delivery deadline of `deadline_s`."""
    import threading

    box: list[Outcome] = []
    worker = threading.Thread(
        # The socket's own timeout is only a backstop for the thread: the join decides.
        target=lambda: box.append(post_report(collector, token, report, budget_s + 1)),
        name="smartcron-deliver",
        daemon=True,  # abandoned at the deadline: never joined, gone when we exit
    )
    worker.start()
    worker.join(budget_s)
    if box:
        return box[0]
    return Outcome(KEPT, f"{collector} did not answer within {deadline_s:g}s")


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
