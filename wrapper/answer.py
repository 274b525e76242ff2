"""The collector's answer to a POST of reports, read in one place for the wrapper
(one report, right after its run) and the agent (batches from the spool).

For a well-formed envelope the collector answers `{"accepted": n, "duplicates": m,
"rejected": [{"index": i, "run_id": "...", "error": "..."}]}`, 200 when it took at
least one report and 422 when it rejected them all (DESIGN.md, "Collector HTTP
API"). An older collector refused a whole batch with one 422 and no list. So an
answer is one of:

- SETTLED: each report's fate is known: rejected (with the collector's reason) when
  the list names it, otherwise taken (stored, or a duplicate of one stored);
- REFUSED_WHOLE: 413, or 422 without a list: the batch was refused without saying
  which report; a batch of one is that report's fault, a bigger one is sent again
  in halves;
- UNREADABLE: 400, the collector could not read the body as JSON. The sender's
  envelope is always JSON, so a report in it holds what strict JSON has not (a lone
  surrogate, nesting too deep): a report's fault, found by halves as for
  REFUSED_WHOLE. Or the URL is wrong and whatever answers there says 400 to
  everything: the agent tells the two apart by a POST of no reports (ship.py), and
  the wrapper, with one report and no such probe, keeps it for the agent;
- NOT_NOW: 5xx or 429: send it all again later, no sooner than Retry-After;
- WRONG_REQUEST: any other answer (401, 403, 404, 3xx) is about the envelope,
  the token or the URL, never a report; and a 2xx that is not an ingest answer (a
  proxy's page) proves nothing was stored. Nothing is rejected, nothing deleted.

Kept light (json alone; email.utils only for a Retry-After date): the wrapper
imports it on its delivery path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

SETTLED, REFUSED_WHOLE, UNREADABLE = "settled", "refused_whole", "unreadable"
NOT_NOW, WRONG_REQUEST = "not_now", "wrong"
MAX_RETRY_AFTER_S = 3600.0  # a collector cannot park a sender for longer than an hour
MAX_REASON = 1000


class BatchAnswer:
    """What one answer means for the batch of reports it answers."""

    __slots__ = ("duplicates", "error", "kind", "rejected", "retry_after", "status")

    def __init__(
        self,
        status: int,
        kind: str,
        error: str,
        rejected: dict[int, str] | None = None,
        duplicates: int = 0,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.kind = kind
        self.error = error  # the collector's words (or the body's start), for a log line
        self.rejected = rejected or {}  # SETTLED: index in the batch -> the reason
        self.duplicates = duplicates
        self.retry_after = retry_after  # NOT_NOW: seconds the collector asked us to wait

    def taken(self, index: int) -> bool:
        """Whether the collector holds the report at `index` now (SETTLED only)."""
        return self.kind == SETTLED and index not in self.rejected


def read_batch_answer(
    status: int,
    body: bytes | str,
    run_ids: Sequence[str],
    retry_after: str | None = None,
    now: float | None = None,
) -> BatchAnswer:
    """Read the answer to a POST of the reports whose ids are `run_ids`, in order."""
    document = _parse(body)
    error = _error_text(document, body)
    if is_not_now(status):
        return BatchAnswer(
            status, NOT_NOW, error, retry_after=retry_after_seconds(retry_after, now)
        )
    listed = document.get("rejected") if isinstance(document, dict) else None
    if 200 <= status < 300 or (status == 422 and isinstance(listed, list)):
        if not _is_ingest_answer(document):
            return BatchAnswer(
                status, WRONG_REQUEST, "the answer is not an ingest answer: " + error
            )
        assert isinstance(document, dict)
        duplicates = document.get("duplicates")
        return BatchAnswer(
            status, SETTLED, error, _refusals(listed, run_ids),
            duplicates if type(duplicates) is int and duplicates >= 0 else 0,
        )  # fmt: skip
    if status in (413, 422):
        return BatchAnswer(status, REFUSED_WHOLE, error)
    if status == 400:
        return BatchAnswer(status, UNREADABLE, error)
    return BatchAnswer(status, WRONG_REQUEST, error)


def is_not_now(status: int) -> bool:
    """An answer that means "later", whatever was sent: the server or a proxy is in
    trouble (5xx), or asks for less (429)."""
    return status >= 500 or status == 429


def _is_ingest_answer(document: object) -> bool:
    # `accepted` is in every answer of this collector and of the one before per-report
    # results; a 200 without it came from something else on the way.
    return isinstance(document, dict) and type(document.get("accepted")) is int


def _refusals(listed: object, run_ids: Sequence[str]) -> dict[int, str]:
    """Index in the batch -> the collector's reason, for each report the list names:
    by its index, else by its run_id, else (a batch of one) the one report."""
    if not isinstance(listed, list):
        return {}
    by_id = {run_id: index for index, run_id in enumerate(run_ids)}
    refused: dict[int, str] = {}
    for entry in listed:
        if not isinstance(entry, dict):
            continue
        index, run_id = entry.get("index"), entry.get("run_id")
        if not (type(index) is int and 0 <= index < len(run_ids)):
            index = by_id.get(run_id) if isinstance(run_id, str) else None
        if index is None and len(run_ids) == 1 and run_id is None:
            index = 0  # the collector could not read an id from our only report
        if index is not None:
            refused[index] = str(entry.get("error") or "rejected without a reason")[:MAX_REASON]
    return refused


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: a number of seconds or an HTTP date, at most
    an hour; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²" is a digit to isdigit, not to float
        return min(float(value), MAX_RETRY_AFTER_S)
    import email.utils

    try:
        moment = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, moment - (time.time() if now is None else now)), MAX_RETRY_AFTER_S)


def _parse(body: bytes | str) -> object:
    try:
        return json.loads(body) if body else None
    except ValueError:  # UnicodeDecodeError is one too
        return None


def _error_text(document: object, body: bytes | str) -> str:
    if isinstance(document, dict) and "error" in document:
        return str(document["error"])[:300]
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return text[:200] or "no reason given"
