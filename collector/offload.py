"""CPU-bound work of one kind in the thread pool, a bounded number at a time.

Parsing and validating a batch of 500 reports costs about 19 ms of CPU. On the event
loop it held every other request of the process that long, the heartbeats of a fleet
queueing behind each batch. In a thread the loop goes on meanwhile: RunReport's
validator is Python, so the GIL changes hands between reports.

Bounded, so that a burst of large bodies cannot take the thread pool's threads (anyio's
default: 40 per process) from the heartbeats, pages and ingest's own writers: more
parsing threads than the process has of the GIL would not parse any faster anyway.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

Result = TypeVar("Result")


class Offload:
    """At most `tokens` calls at a time in the thread pool, per event loop (a limiter
    belongs to the loop it is first used on; the tests' clients start loops of their own)."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.calls = 0  # running or waiting for a token, on every loop
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter]
        self._limiters = weakref.WeakKeyDictionary()

    def limiter(self) -> CapacityLimiter:
        """This loop's limiter (its `borrowed_tokens` say how many calls are running)."""
        loop = asyncio.get_running_loop()
        found = self._limiters.get(loop)
        if found is None:
            found = self._limiters[loop] = CapacityLimiter(self.tokens)
        return found

    async def run(self, function: Callable[..., Result], *args: object) -> Result:
        self.calls += 1
        try:
            return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter())
        finally:
            self.calls -= 1
