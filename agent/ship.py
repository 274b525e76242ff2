"""Ship the spool: POST the reports left there to the collector, oldest first, in batches.

A spooled file is deleted only once the collector has taken it (accepted, or a
duplicate of one it already holds); a report it refuses as invalid moves to
spool/rejected/ with the reason and the rest goes on. The answer is read per
report by wrapper/answer.py, the reader the wrapper's own delivery uses
(`{"accepted", "duplicates", "rejected": [{"index", "run_id", "error"}]}`); a
collector that refuses a whole batch with one 422 and no list (the collector
before per-report results) is asked again in halves until the bad reports are
alone, so one bad report never holds back the others. So is a batch refused with
400, a body the collector could not read as JSON (a report holding a lone
surrogate, say), once a POST of no reports has shown that the URL and the token
are right: a wrong URL answering 400 to everything must not empty the spool into
spool/rejected/. A report holding NaN or Infinity, which JSON has not, is set
aside as it is read, before it can spoil a batch.

The spool is read oldest first in windows (wrapper/spool.py's oldest_reports),
never as a list of every file: a spool grows without bound while the collector is
away, and the agent must stay small on the host whatever it finds there.

"Not now" (no connection, timeout, 5xx, 429) stops the pass and sets a backoff;
the files stay, and the next attempt sends them again: at least once, made
exactly once by the collector's duplicate check on run_id.

Two batches are in flight at once (IN_FLIGHT): the collector reads one while it
stores the other. Their answers are settled in the order they were sent, by the
shipping thread alone. The files a batch's answer settled are deleted by a few
threads at once while the next batch is read and sent. One unlink at a time is a wait for the
filesystem's journal: on ext4 with a database committing beside it, about 4 ms
each (bench/agent.py), three times what the collector spends on the report.
Concurrent unlinks share a journal commit. ship_spool returns only once every
deletion it began is done, so the pass lock still covers them.
"""

from __future__ import annotations

import collections
import itertools
import json
import random
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from smartcron.wrapper.answer import (
    REFUSED_WHOLE,
    SETTLED,
    UNREADABLE,
    BatchAnswer,
    read_batch_answer,
)
from smartcron.wrapper.spool import oldest_reports, read_report, reject_report, remove_report
from smartcron.wrapper.state import StateDir, is_run_id

from .client import Answer, Collector, NotNow

INGEST = "/api/v1/runs"
NO_REPORTS = b'{"runs":[]}'  # a body any collector reads: proves the URL and the token
MAX_BODY = 4 * 1024 * 1024  # under the collector's 5 MiB cap, with room for the envelope
# Batches POSTed at once: the collector reads and checks one while it stores the other
# (its group commit takes both in one transaction when they meet). One at a time, the
# agent drained at 0.79 of the collector's own batched rate (bench/agent.py).
IN_FLIGHT = 2
# Threads deleting shipped files: 16 made unlinks 17 times faster than one by one on the
# benchmark's ext4 (4 ms -> 0.24 ms each); 64 gained little more.
REMOVERS = 16


class Removals:
    """Deletes the files of a batch the collector took, REMOVERS threads at once, while
    the next batch is read and sent; the next batch's deletions wait for these (so one
    batch at most is in flight). A file that cannot be deleted is one warning: it stays,
    the next pass sends it again, the collector calls it a duplicate, nothing is doubled."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: list[Future[list[OSError]]] = []
        self._failed: list[OSError] = []

    def remove(self, paths: list[str]) -> None:
        self._settle()
        if not paths:
            return
        if self._pool is None:  # only a pass that shipped something starts threads
            self._pool = ThreadPoolExecutor(REMOVERS, thread_name_prefix="smartcron-remove")
        for share in (paths[n::REMOVERS] for n in range(REMOVERS)):
            if share:
                self._in_flight.append(self._pool.submit(_remove_each, share))

    def wait(self) -> None:
        """Every deletion begun is done, each failure said, the threads gone."""
        self._settle()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._failed:
            first, more = self._failed[0], len(self._failed) - 1
            print(f"smartcron-agent: warning: cannot delete {first.filename} "
                  f"({first.strerror}){f' and {more} more' if more else ''}, taken by the "
                  "collector: it stays in the spool, and the next pass sends it again as a "
                  "duplicate", file=sys.stderr, flush=True)  # fmt: skip
            self._failed.clear()

    def _settle(self) -> None:
        for future in self._in_flight:
            self._failed += future.result()
        self._in_flight.clear()


def _remove_each(paths: list[str]) -> list[OSError]:
    failed = []
    for path in paths:
        try:
            remove_report(path)
        except OSError as error:
            failed.append(error)
    return failed


@dataclass
class Shipment:
    shipped: int = 0  # accepted or duplicates: gone from the spool
    duplicates: int = 0
    rejected: int = 0
    answers: list[str] = field(default_factory=list)
    removals: Removals = field(default_factory=Removals)


Posted = tuple[Answer, BatchAnswer]  # a batch's answer, and the answer read per report


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
    done: Shipment | None = None,
) -> Shipment:
    """Ship everything spooled when the call began; what was shipped, counted in `done`
    when one is given. NotNow when the collector cannot take reports now: what was
    shipped before that is gone from the spool, and counted in `done` all the same."""
    done = Shipment() if done is None else done
    paths = oldest_reports(state)
    first = next(paths, None)
    if first is None:
        return done  # an idle pass starts no thread
    batches = _Batches(state, itertools.chain([first], paths), batch_size)
    sender = _Sender(state, collector, done)
    in_flight: collections.deque[tuple[list[_Item], Future[Posted]]] = collections.deque()
    try:
        with (
            ThreadPoolExecutor(1, thread_name_prefix="smartcron-read") as reader,
            ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="smartcron-send") as poster,
        ):
            upcoming: Future[list[_Item]] | None = reader.submit(batches.read)
            while True:
                while upcoming is not None and len(in_flight) < IN_FLIGHT:
                    batch = upcoming.result()
                    upcoming = reader.submit(batches.read) if batch else None
                    if batch:  # read the next while this one is sent
                        in_flight.append((batch, poster.submit(sender.post, batch)))
                if not in_flight:
                    break
                batch, posted = in_flight.popleft()
                try:
                    sender.settle(batch, posted.result())
                except NotNow:
                    _settle_answered(sender, in_flight)
                    raise
                if should_stop():
                    upcoming = None  # the batches in flight are settled, no more sent
    finally:
        done.removals.wait()
        done.rejected += batches.tally.rejected
    return done


def _settle_answered(
    sender: _Sender, in_flight: collections.deque[tuple[list[_Item], Future[Posted]]]
) -> None:
    """After a "not now", the batches still in flight: those the collector took are
    settled (deleted), so that the next pass does not send them again."""
    for batch, posted in in_flight:
        try:
            answered = posted.result()
        except NotNow:
            continue
        if answered[1].kind == SETTLED:
            sender.settle(batch, answered)
    in_flight.clear()


class _Batches:
    """The spool's reports in batches of at most `batch_size` and MAX_BODY bytes. One
    thread reads the next batch while the last is being sent: the agent's reading then
    overlaps the collector's storing instead of adding to it (read one after the other,
    the files of a batch took half as long as its POST in bench/agent.py). Only that
    thread calls read, one call at a time; it counts its rejects in its own tally."""

    def __init__(self, state: StateDir, paths: Iterator[str], batch_size: int) -> None:
        self.state = state
        self.paths = paths
        self.batch_size = batch_size
        self.tally = Shipment()
        self.carried: _Item | None = None  # read, but too much for the batch before

    def read(self) -> list[_Item]:
        batch = [self.carried] if self.carried else []
        size = sum(len(item.body) + 1 for item in batch)
        self.carried = None
        for path in self.paths:
            item = _read_item(self.state, path, self.tally)
            if item is None:
                continue
            if batch and (len(batch) >= self.batch_size or size + len(item.body) > MAX_BODY):
                self.carried = item
                return batch
            batch.append(item)
            size += len(item.body) + 1
        return batch


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
    try:
        body = json.dumps(document, separators=(",", ":"), allow_nan=False)
    except ValueError:
        # json.loads takes NaN, Infinity and 1e400 (an infinity); JSON has no such
        # number, and the collector would refuse the whole batch that carries one.
        _reject(state, path, "holds NaN or Infinity (or a number too large for a "
                "double), which JSON has not", done)  # fmt: skip
        return None
    return _Item(path, run_id, body.encode())


class _Sender:
    """POSTs batches and settles each report by the answer, splitting a batch refused
    whole until the bad reports are alone."""

    def __init__(self, state: StateDir, collector: Collector, done: Shipment) -> None:
        self.state, self.collector, self.done = state, collector, done
        self.reads_envelopes: bool | None = None  # NO_REPORTS answered (asked once)

    def send(self, batch: list[_Item]) -> None:
        self.settle(batch, self.post(batch))

    def post(self, batch: list[_Item]) -> Posted:
        """POST the batch and read the answer; nothing is settled (any thread)."""
        body = b'{"runs":[' + b",".join(item.body for item in batch) + b"]}"
        answer = self.collector.post(INGEST, body)
        run_ids = [item.run_id for item in batch]
        return answer, read_batch_answer(answer.status, answer.text, run_ids)

    def settle(self, batch: list[_Item], posted: Posted) -> None:
        """Act on a batch's answer (the shipping thread only: it alone counts and
        deletes)."""
        answer, read = posted
        if read.kind == SETTLED:
            _settle(self.state, batch, read, self.done)
        elif read.kind == REFUSED_WHOLE or (read.kind == UNREADABLE and self._reads_envelopes()):
            self._split(batch, read)
        else:
            # 400 where even no reports are read, 401, 403, 404, a 2xx that is no ingest
            # answer ...: about the URL or the token, not a report; nothing is rejected,
            # and the operator must hear about it. (5xx and 429 raised NotNow already.)
            hint = "; check --token" if answer.status in (401, 403) else "; check --collector"
            raise NotNow(
                f"collector answered {answer.status}: {read.error}{hint}", read.retry_after
            )

    def _split(self, batch: list[_Item], read: BatchAnswer) -> None:
        """Refused as a whole, without saying which report: ask again in halves; a
        report refused alone is the bad one."""
        if len(batch) == 1:
            why = "could not read it" if read.kind == UNREADABLE else "refused it whole"
            _reject(self.state, batch[0].path,
                    f"the collector {why} ({read.status}: {read.error})", self.done)  # fmt: skip
            return
        middle = len(batch) // 2
        self.send(batch[:middle])
        self.send(batch[middle:])

    def _reads_envelopes(self) -> bool:
        """Whether the collector reads a body of no reports: then a 400 is about what
        the reports hold, not the URL or the token."""
        if self.reads_envelopes is None:
            answer = self.collector.post(INGEST, NO_REPORTS)
            self.reads_envelopes = read_batch_answer(answer.status, answer.text, []).kind == SETTLED
        return self.reads_envelopes


def _settle(state: StateDir, batch: list[_Item], read: BatchAnswer, done: Shipment) -> None:
    done.duplicates += read.duplicates
    taken = []
    for index, item in enumerate(batch):
        if read.taken(index):
            taken.append(item.path)
        else:
            _reject(state, item.path, read.rejected[index], done)
    done.removals.remove(taken)
    done.shipped += len(taken)
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
