"""Ship the spool: POST the reports left there to the collector, oldest first, in batches.

A spooled file is deleted only once the collector has taken it (accepted, or a
duplicate of one it already holds); a report it refuses as invalid moves to
spool/rejected/ with the reason and the rest goes on. The answer is read per
report by wrapper/answer.py, the reader the wrapper's own delivery uses
(`{"accepted", "duplicates", "rejected": [{"index", "run_id", "error"}]}`); a
collector that refuses a whole batch with one 422 and no list (the collector
before per-report results) is asked again in halves until the bad reports are
alone, so one bad report never holds back the others.

"Not now" (no connection, timeout, 5xx, 429) stops the pass and sets a backoff;
the files stay, and the next attempt sends them again: at least once, made
exactly once by the collector's duplicate check on run_id.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from smartcron.wrapper.answer import REFUSED_WHOLE, SETTLED, BatchAnswer, read_batch_answer
from smartcron.wrapper.spool import pending_reports, read_report, reject_report, remove_report
from smartcron.wrapper.state import StateDir, is_run_id

from .client import Collector, NotNow

INGEST = "/api/v1/runs"
MAX_BODY = 4 * 1024 * 1024  # under the collector's 5 MiB cap, with room for the envelope


@dataclass
class Shipment:
    shipped: int = 0  # accepted or duplicates: gone from the spool
    duplicates: int = 0
    rejected: int = 0
    answers: list[str] = field(default_factory=list)


@dataclass
class _Item:
    path: str
    run_id: str
    body: bytes  # the report's JSON, as read from the file


def ship_spool(
    state: StateDir,
    collector: Collector,
    batch_size: int,
    should_stop: Callable[[], bool] = lambda: False,
) -> Shipment:
    """Ship everything spooled when the call began. NotNow when the collector cannot
    take reports now; what was shipped before that is gone from the spool."""
    done = Shipment()
    batch: list[_Item] = []
    size = 0
    for path in pending_reports(state):
        item = _read_item(state, path, done)
        if item is None:
            continue
        if batch and (len(batch) >= batch_size or size + len(item.body) > MAX_BODY):
            _send(state, collector, batch, done)
            batch, size = [], 0
            if should_stop():
                return done
        batch.append(item)
        size += len(item.body) + 1
    if batch:
        _send(state, collector, batch, done)
    return done


def _read_item(state: StateDir, path: str, done: Shipment) -> _Item | None:
    """The report at `path`; one that can never be sent goes to spool/rejected/ now."""
    try:
        document: object = read_report(path)
    except FileNotFoundError:
        return None  # shipped by the wrapper itself, or by another agent, since listing
    except ValueError as error:
        # read_report names the path first; the reason is kept beside the file anyway.
        reason = str(error).removeprefix(f"{path}: ")
        _reject(state, path, f"not a readable JSON report ({reason})", done)
        return None
    except OSError as error:
        _reject(state, path, f"cannot be read ({error.strerror})", done)
        return None
    run_id = document.get("run_id") if isinstance(document, dict) else None
    if not isinstance(run_id, str) or not is_run_id(run_id):
        _reject(state, path, "not a run report (no run_id that is a UUID)", done)
        return None
    return _Item(path, run_id, json.dumps(document, separators=(",", ":")).encode())


def _send(state: StateDir, collector: Collector, batch: list[_Item], done: Shipment) -> None:
    body = b'{"runs":[' + b",".join(item.body for item in batch) + b"]}"
    answer = collector.post(INGEST, body)
    read = read_batch_answer(answer.status, answer.text, [item.run_id for item in batch])
    if read.kind == SETTLED:
        _settle(state, batch, read, done)
    elif read.kind == REFUSED_WHOLE and len(batch) > 1:
        # Refused as a whole, without saying which: ask again in halves.
        middle = len(batch) // 2
        _send(state, collector, batch[:middle], done)
        _send(state, collector, batch[middle:], done)
    elif read.kind == REFUSED_WHOLE:
        _reject(state, batch[0].path, read.error, done)
    else:
        # 400, 401, 403, 404, a 2xx that is no ingest answer ...: about the envelope,
        # the token or the URL, not a report; nothing is rejected, and the operator
        # must hear about it. (5xx and 429 raised NotNow in the client already.)
        hint = "; check --token" if answer.status in (401, 403) else "; check --collector"
        raise NotNow(f"collector answered {answer.status}: {read.error}{hint}", read.retry_after)


def _settle(state: StateDir, batch: list[_Item], read: BatchAnswer, done: Shipment) -> None:
    done.duplicates += read.duplicates
    for index, item in enumerate(batch):
        if read.taken(index):
            remove_report(item.path)
            done.shipped += 1
        else:
            _reject(state, item.path, read.rejected[index], done)
    done.answers.append(
        f"{read.status}: {len(batch) - len(read.rejected)} taken, {len(read.rejected)} rejected"
    )


def _reject(state: StateDir, path: str, reason: str, done: Shipment) -> None:
    try:
        reject_report(state, path, reason)
    except FileNotFoundError:
        return
    done.rejected += 1


def backoff_delay(
    failures: int, low: float, high: float, retry_after: float | None, rng: random.Random
) -> float:
    """The wait before the next attempt after `failures` failed ones in a row:
    exponential with full jitter over its upper half, never below Retry-After."""
    ceiling = min(high, low * 2 ** min(max(failures - 1, 0), 30))
    delay = rng.uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)


def spool_depth(state: StateDir) -> tuple[int, float | None]:
    """How many reports wait in the spool, and the mtime of the oldest."""
    paths = pending_reports(state)
    oldest = None
    for path in paths[:1]:
        try:
            oldest = os.stat(path).st_mtime
        except OSError:
            oldest = None
    return len(paths), oldest
