"""HTTP connections under hostile clients: a deadline for each request, and a cap on
open connections below the file-descriptor limit.

uvicorn closes a kept-alive connection that stays idle after an answer
(timeout_keep_alive), but a connection that opens and then sends nothing, or
sends a request a byte at a time (slowloris), is kept for ever; enough of them
use up the process's file descriptors, accept() fails with EMFILE, and nobody
else is served, /healthz included. uvicorn stays (its httptools parser and
uvloop carry ingest, and serving.py's socket per worker needs a server that
takes a bound socket); this protocol, uvicorn's own httptools one with two
additions, is handed to it as `http=`:

- A connection owes a whole request (headers and body) within `request_timeout_s`
  of its opening or of the last answer it got; otherwise it is closed, with a 408
  when nothing of a request is in flight.
- At most `max_connections` are open in a process, well below RLIMIT_NOFILE so
  that accept() never runs out. One more than that closes a connection that owes
  a request (none of them is being answered), the oldest of the client holding
  the most: a client that opens a thousand idle connections loses its own.
"""

from __future__ import annotations

import asyncio
import functools
import resource
import weakref
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from .settings import settings_from_environment

# Descriptors kept back from the cap for everything else a process holds: its
# listening socket, the event loop, the database pool, SQLite's files, logs.
FD_RESERVE_MIN = 64
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\nconnection: close\r\n\r\nrequest timeout\n"
)


@dataclass(frozen=True)
class ConnectionLimits:
    request_timeout_s: float
    max_connections: int


def connection_cap(fd_limit: int) -> int:
    """How many client connections fit under `fd_limit` open files with room to spare."""
    return max(1, fd_limit - max(FD_RESERVE_MIN, fd_limit // 8))


@functools.cache
def limits_from_environment() -> ConnectionLimits:
    """The limits of this process: its settings (as cli.serve handed them to every
    worker) and its own RLIMIT_NOFILE."""
    settings = settings_from_environment()
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = connection_cap(soft if soft != resource.RLIM_INFINITY else 1 << 20)
    if settings.max_connections is not None:
        cap = min(cap, settings.max_connections)
    return ConnectionLimits(settings.request_timeout_s, cap)


class ConnectionTable:
    """The open connections of one server, by client address, oldest first."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.count = 0
        self._by_client: dict[str, dict[GuardedHttpToolsProtocol, None]] = {}

    def add(self, connection: GuardedHttpToolsProtocol) -> None:
        self._by_client.setdefault(connection.peer, {})[connection] = None
        self.count += 1
        if self.count > self.cap:
            victim = self._idle_victim(connection)
            (victim or connection).close_for_room()

    def discard(self, connection: GuardedHttpToolsProtocol) -> None:
        held = self._by_client.get(connection.peer)
        if held is None or connection not in held:
            return
        del held[connection]
        self.count -= 1
        if not held:
            del self._by_client[connection.peer]

    def _idle_victim(self, newcomer: GuardedHttpToolsProtocol) -> GuardedHttpToolsProtocol | None:
        for held in sorted(self._by_client.values(), key=len, reverse=True):
            for connection in held:
                if connection is not newcomer and connection.owes_request():
                    return connection
        return None


_tables: weakref.WeakKeyDictionary[ServerState, ConnectionTable] = weakref.WeakKeyDictionary()


def _table_of(state: ServerState, cap: int) -> ConnectionTable:
    table = _tables.get(state)
    if table is None:
        table = _tables[state] = ConnectionTable(cap)
    return table


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request deadline and a place in the table."""

    peer = ""
    _deadline: asyncio.TimerHandle | None = None
    _table: ConnectionTable | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = limits_from_environment()
        self.peer = self.client[0] if self.client else ""
        self._timeout_s = limits.request_timeout_s
        self._arm_deadline()
        self._table = _table_of(self.server_state, limits.max_connections)
        self._table.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if self._table is not None:
            self._table.discard(self)
        super().connection_lost(exc)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The whole request is in and being answered: it owes nothing until the answer.
        # (An answer given before the body was read, a 401 say, re-armed it already.)
        if self.cycle is not None and not self.cycle.response_complete:
            self._cancel_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Owed again: the next request, unless one already came whole (pipelined).
        if self.cycle is None or self.cycle.response_complete or self.cycle.more_body:
            self._arm_deadline()

    def owes_request(self) -> bool:
        """No request of this connection is being answered: closing it loses nothing."""
        return self._deadline is not None and not self.transport.is_closing()

    def close_for_room(self) -> None:
        if self._table is not None:
            self._table.discard(self)
        self._cancel_deadline()
        self.transport.close()

    def _arm_deadline(self) -> None:
        self._cancel_deadline()
        if not self.transport.is_closing():  # an answer that ends after the client left
            self._deadline = self.loop.call_later(self._timeout_s, self._on_deadline)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _on_deadline(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(REQUEST_TIMEOUT)  # no answer of ours is under way
        self.transport.close()
