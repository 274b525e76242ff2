"""Send a spooled report to the collector right after the run.

One short try, no retries: the report is already durable in the spool, and
the agent ships whatever is left there. The spooled copy is deleted only when
the collector answers 2xx. http.client keeps this off the import bill of runs
that have no collector.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse

TIMEOUT_S = 3.0
INGEST_PATH = "/api/v1/runs"


class DeliveryError(Exception):
    """The collector did not take the report; it stays in the spool."""


def post_report(collector: str, token: str | None, report: dict[str, object]) -> None:
    try:
        url = urllib.parse.urlsplit(collector)
        port = url.port
    except ValueError as error:
        # A bad port or bracket gets past the option's check; the run is over by now,
        # so this is a warning like any other delivery failure, never a crash.
        raise DeliveryError(f"cannot use collector URL {collector!r} ({error})") from None
    connection_class = (
        http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(url.hostname or "", port, timeout=TIMEOUT_S)
    body = json.dumps({"runs": [report]}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "smartcron-wrap"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", url.path.rstrip("/") + INGEST_PATH, body, headers)
        response = connection.getresponse()
        answer = response.read(2048)
    # ValueError: http.client.InvalidURL (control characters in the path, a bad host).
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise DeliveryError(f"cannot reach {collector} ({error})") from None
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        raise DeliveryError(f"{collector} answered {response.status}: {_error_text(answer)}")


def _error_text(answer: bytes) -> str:
    try:
        return str(json.loads(answer)["error"])
    except (ValueError, KeyError, TypeError):
        return answer.decode("utf-8", "replace")[:200] or "no reason given"
