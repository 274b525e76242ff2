"""Group commit: the reports of concurrent POSTs share transactions.

On its own, a single-report POST costs a thread hop, a pool checkout with its
ping, three INSERTs, a commit (an fsync on MySQL) and a reset: half a dozen
round trips for a few hundred bytes, each a wait for the GIL on the way back.
Under load many such requests arrive together, so each process writes them in
groups: at most MAX_WRITERS transactions run at once, and the requests that
arrive meanwhile wait in `pending` and go in the next group, all of them at
once. At rest a request goes straight through as a group of one; under load a
group grows with the wait, which is what keeps the wait short.

Each request still gets its own answer: store_batches counts accepted,
duplicate and refused reports per request, and a value that does not fit refuses
only the report that holds it. The collector's clock, which dates the reports
received and decides which are dated too far ahead, is `clock`: tests set it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from .clocks import ClockNotes
from .ingest import Stored, now_utc, store_batches

# Two: one group being written while the next is prepared. More writers make the
# groups smaller and the row locks they contend for more.
MAX_WRITERS = 2
# Reports per group: bounds a transaction's row locks and the wait of the requests in it
# (pymysql's executemany sends the rows in statements of at most 1 MB whatever their number).
MAX_GROUP_REPORTS = 2_000


@dataclass
class _Request:
    reports: Sequence[RunReport]
    answer: asyncio.Future[Stored]


class GroupWriter:
    """Stores batches of reports for the requests of one event loop."""

    def __init__(
        self,
        engine: Engine,
        max_writers: int = MAX_WRITERS,
        max_group_reports: int = MAX_GROUP_REPORTS,
        clock: Callable[[], dt.datetime] = now_utc,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.clock_notes = ClockNotes()
        self.max_writers = max_writers
        self.max_group_reports = max_group_reports
        self._pending: deque[_Request] = deque()
        # Counted by _write itself, not by the tasks' done-callbacks: those run a turn of
        # the loop later, and a request queued in that turn would find no writer to start
        # and wait for the next request to come.
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()  # references, so none is collected

    async def ingest(self, reports: Sequence[RunReport]) -> Stored:
        """Store one request's reports; what became of them."""
        if not reports:
            return Stored()
        loop = asyncio.get_running_loop()
        request = _Request(reports, loop.create_future())
        self._pending.append(request)
        if self._active < self.max_writers:
            self._active += 1
            task = loop.create_task(self._write())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await request.answer

    def _next_group(self) -> list[_Request]:
        group = [self._pending.popleft()]
        size = len(group[0].reports)
        while self._pending and size + len(self._pending[0].reports) <= self.max_group_reports:
            request = self._pending.popleft()
            group.append(request)
            size += len(request.reports)
        return group

    async def _write(self) -> None:
        try:
            await self._write_pending()
        finally:
            self._active -= 1  # in the same step as the last look at _pending

    async def _write_pending(self) -> None:
        while self._pending:
            group = self._next_group()
            try:
                batches = [request.reports for request in group]
                results = await run_in_threadpool(
                    store_batches, self.engine, batches, self.clock(), self.clock_notes
                )
            # Any failure must reach the waiting requests, or they would wait forever:
            # the database being away is the usual one.
            except Exception as error:  # noqa: BLE001
                for request in group:
                    _settle(request, error)
                continue
            for request, result in zip(group, results, strict=True):
                _settle(request, result)


def _settle(request: _Request, result: Stored | BaseException) -> None:
    if request.answer.done():  # the request was cancelled (its client went away)
        return
    if isinstance(result, BaseException):
        request.answer.set_exception(result)
    else:
        request.answer.set_result(result)
