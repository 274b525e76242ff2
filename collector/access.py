"""Who may do what: FastAPI dependencies for the three kinds of caller.

- senders (wrappers, agents): a bearer ingest token (an admin token also works);
  a token bound to a host speaks for that host alone (Caller.refusal_for, which
  every sender's route asks of each host it is told about);
- readers (people, Prometheus, scripts): a bearer admin token or a session;
- actions (pause, resume, reset): a bearer admin token, or a session plus its
  CSRF token (form field or X-CSRF-Token header).

Only /healthz answers without credentials, on any address.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from . import auth
from .errors import ApiError

SESSION_COOKIE = "smartcron_session"


@dataclass
class Caller:
    name: str
    via: str  # "token" or "session"
    session: auth.Session | None = None
    host: str | None = None  # a sender's token is bound to this host (None: any host)

    def refusal_for(self, host: str) -> str | None:
        """Why this caller may not report for `host`, or None. A bound token's host is
        the only one it speaks for: a cron host's token is readable by its wrapper's
        users, and must not let them report, heartbeat or pull control for any other
        host. Names compare exactly, as the collector stores them."""
        if self.host is None or host == self.host:
            return None
        return (
            f"this token is bound to host {self.host!r} and may not report for host "
            f"{host!r}; send with that host's own token"
        )

    def require_host(self, host: str) -> None:
        """403 unless this caller may report for `host`."""
        refusal = self.refusal_for(host)
        if refusal is not None:
            raise ApiError(403, refusal)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _state(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state


async def require_sender(request: Request) -> Caller:
    # async: a cached token check should not cost a hop through the thread pool; an
    # uncached one queries the database, which waits in the pool, not on the loop.
    token = _bearer(request)
    if token is None:
        raise ApiError(401, "missing bearer token; send Authorization: Bearer <ingest token>")
    tokens = _state(request).tokens
    known, grant = tokens.cached(token)
    if not known:
        grant = await run_in_threadpool(tokens.grant_of, token)
    if grant is None or grant.kind not in (auth.INGEST, auth.ADMIN):
        raise ApiError(401, "unknown or revoked token")
    return Caller(name=f"{grant.kind} token", via="token", host=grant.host)


def find_reader(request: Request) -> Caller | None:
    token = _bearer(request)
    if token is not None:
        kind = _state(request).tokens.kind_of(token)
        return Caller(name="admin token", via="token") if kind == auth.ADMIN else None
    session = auth.load_session(_state(request).engine, request.cookies.get(SESSION_COOKIE))
    if session is not None:
        return Caller(name=session.username, via="session", session=session)
    return None


def require_reader(request: Request) -> Caller:
    """Sync on purpose: FastAPI runs it in its thread pool, off the event loop, as
    require_actor does; it reads sessions and tokens from the database."""
    caller = find_reader(request)
    if caller is None:
        token = _bearer(request)
        # An unknown token is no credential at all (401, as on ingest); a known one
        # of the wrong kind is a credential without the right (403).
        if token is not None and _state(request).tokens.kind_of(token) is not None:
            raise ApiError(403, "this token may not read; use an admin token")
        if token is not None:
            raise ApiError(401, "unknown or revoked token")
        raise ApiError(401, "log in at /login or send Authorization: Bearer <admin token>")
    return caller


async def require_actor(request: Request) -> Caller:
    # async for the form's CSRF field (reading the body is async); the caller, though,
    # comes from the database (a session, an uncached token): in the thread pool, as
    # require_reader runs, so that a slow database stalls this request alone.
    caller = await run_in_threadpool(require_reader, request)
    if caller.via == "session":
        assert caller.session is not None
        given = request.headers.get("x-csrf-token")
        if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get("csrf_token")
            given = value if isinstance(value, str) else None
        if not auth.csrf_matches(caller.session.csrf_token, given):
            raise ApiError(403, "missing or wrong CSRF token; reload the page and try again")
    return caller
