"""Credentials: ingest and admin tokens, the admin password, sessions, CSRF and
the failed-login limit. Everything lives in the database, so that several
collector replicas behind a load balancer agree on it."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from smartcron.wrapper.limits import HOST_MAX
from sqlalchemy import Engine, delete, func, select, update

from .db import tables
from .ingest import now_utc

TOKEN_PREFIX = "sct_"
INGEST, ADMIN = "ingest", "admin"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    """scrypt, stdlib only: 'scrypt$n$r$p$salt$hash' (base64)."""
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return (
        f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}$"
        f"{b64(salt).decode()}${b64(derived).decode()}"
    )


def is_password_hash(stored: str) -> bool:
    """Whether `stored` has the shape hash_password gives (checked when serve starts:
    a hash mangled by the shell's `$` expansion would otherwise lock everyone out)."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        return (
            scheme == "scrypt"
            and min(int(n), int(r), int(p)) > 0
            and len(base64.b64decode(salt, validate=True)) > 0
            and len(base64.b64decode(expected, validate=True)) == 32
        )
    except ValueError:  # binascii.Error is a ValueError
        return False


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        derived = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
        return hmac.compare_digest(derived, base64.b64decode(expected))
    except ValueError:
        return False


def create_token(engine: Engine, name: str, kind: str, host: str | None = None) -> str:
    """A new token; only its digest is stored, so this is the one time it is seen.
    `host` binds an ingest token to that host (None: a fleet token, for any host)."""
    if kind not in (INGEST, ADMIN):
        raise ValueError(f"token kind {kind!r} is not ingest or admin")
    if host is not None:
        problem = host_problem(host) or (
            "an admin token reads and acts for every host; bind ingest tokens only"
            if kind == ADMIN
            else None
        )
        if problem:
            raise ValueError(f"host {host!r}: {problem}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(
            tables.tokens.insert().values(
                name=name, kind=kind, host=host, token_sha256=digest(token), created_at=now_utc()
            )
        )
    return token


def host_problem(host: str) -> str | None:
    """Why `host` cannot be a token's host, or None. Reports name their host as the
    wrapper read it (uname -n) and are compared exactly, so a name with blanks at its
    ends or another case would never match: refused rather than kept silently useless."""
    if not 1 <= len(host) <= HOST_MAX:
        return f"a host name is 1 to {HOST_MAX} characters"
    if host != host.strip() or not host.isprintable():
        return "a host name has no blanks at its ends and no control characters"
    return None


@dataclass(frozen=True)
class Grant:
    """What a known, unrevoked token may do: its kind, and the one host it may report
    for (None: any host)."""

    kind: str
    host: str | None = None


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    kind: str
    host: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def list_tokens(engine: Engine) -> list[TokenRow]:
    t = tables.tokens.c
    query = select(t.id, t.name, t.kind, t.host, t.created_at, t.revoked_at).order_by(t.id)
    with engine.connect() as connection:
        return [TokenRow(*row) for row in connection.execute(query)]


def revoke_token(engine: Engine, token_id: int) -> bool:
    """Revoke a token by its id; False when there is none, or it is revoked already.
    Collectors stop taking it once their token cache forgets it (token_cache_s)."""
    t = tables.tokens.c
    with engine.begin() as connection:
        done = connection.execute(
            update(tables.tokens)
            .where(t.id == token_id, t.revoked_at.is_(None))
            .values(revoked_at=now_utc())
        )
    return done.rowcount == 1


class TokenCache:
    """Token digest -> grant, remembered for a few seconds: ingest must not cost a
    query per request. A revoked token stops working within `ttl` seconds."""

    def __init__(self, engine: Engine, ttl: float) -> None:
        self.engine = engine
        self.ttl = ttl
        self._known: dict[str, tuple[Grant | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> tuple[bool, Grant | None]:
        """(known, grant) from memory alone: no query, so async code may ask it."""
        with self._lock:
            cached = self._known.get(digest(token))
        if cached is not None and cached[1] > time.monotonic():
            return True, cached[0]
        return False, None

    def grant_of(self, token: str) -> Grant | None:
        """The token's grant (None: unknown or revoked); a query when not cached, so
        call it from sync code (FastAPI's thread pool), never on the event loop."""
        known, grant = self.cached(token)
        if known:
            return grant
        key = digest(token)
        now = time.monotonic()
        t = tables.tokens.c
        with self.engine.connect() as connection:
            row = connection.execute(
                select(t.kind, t.host).where(t.token_sha256 == key, t.revoked_at.is_(None))
            ).first()
        grant = Grant(row.kind, row.host) if row else None
        with self._lock:
            if len(self._known) > 10_000:  # bounded: random wrong tokens must not grow it
                self._known.clear()
            self._known[key] = (grant, now + self.ttl)
        return grant

    def kind_of(self, token: str) -> str | None:
        """The token's kind (None: unknown or revoked), as grant_of finds it."""
        grant = self.grant_of(token)
        return grant.kind if grant else None


class Session:
    def __init__(self, username: str, csrf_token: str) -> None:
        self.username = username
        self.csrf_token = csrf_token


def create_session(engine: Engine, username: str, hours: float) -> tuple[str, Session]:
    """(cookie value, session). The cookie is random; the store keeps its digest."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_hex(32)
    now = now_utc()
    with engine.begin() as connection:
        connection.execute(delete(tables.sessions).where(tables.sessions.c.expires_at < now))
        connection.execute(
            tables.sessions.insert().values(
                session_sha256=digest(cookie),
                csrf_token=csrf,
                username=username,
                created_at=now,
                expires_at=now + dt.timedelta(hours=hours),
            )
        )
    return cookie, Session(username, csrf)


def load_session(engine: Engine, cookie: str | None) -> Session | None:
    if not cookie:
        return None
    s = tables.sessions.c
    with engine.connect() as connection:
        row = connection.execute(
            select(s.username, s.csrf_token).where(
                s.session_sha256 == digest(cookie), s.expires_at > now_utc()
            )
        ).first()
    return Session(row.username, row.csrf_token) if row else None


def end_session(engine: Engine, cookie: str | None) -> None:
    if cookie:
        with engine.begin() as connection:
            connection.execute(
                delete(tables.sessions).where(tables.sessions.c.session_sha256 == digest(cookie))
            )


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


@functools.cache
def _stand_in_hash() -> str:
    return hash_password(secrets.token_urlsafe(32))


def credentials_match(
    admin_user: str, password_hash: str | None, username: str, password: str
) -> bool:
    """Whether a login names the admin user and its password. The password is checked
    whatever the name, against a stand-in hash when none is set: a quick "no" for a
    wrong name would tell a guesser which names exist."""
    password_ok = verify_password(password, password_hash or _stand_in_hash())
    user_ok = hmac.compare_digest(_utf8(username), _utf8(admin_user))
    return password_hash is not None and user_ok and password_ok


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate is a wrong name, not a 500


def claim_login_attempt(engine: Engine, client: str, limit: int, window_s: int) -> int | None:
    """Book a login attempt before its password is checked; the booking's id, or None
    when `client` has had `limit` failures within the window (the booking is taken
    back). An attempt is counted as a failure from the start, so attempts sent at
    the same time cannot all read "no failures yet" and all be checked: each counts
    after its own booking is committed, so the last of any set of attempts let
    through sees all of them, and at most `limit` get through."""
    client = client[:64]
    now = now_utc()
    since = now - dt.timedelta(seconds=window_s)
    # A guesser already over the limit is refused on a read: no writes for it.
    if _failures_since(engine, client, since) >= limit:
        return None
    with engine.begin() as connection:  # its own transaction: no locks held with the insert
        connection.execute(
            delete(tables.login_failures).where(tables.login_failures.c.failed_at < since)
        )
    with engine.begin() as connection:
        booked = connection.execute(
            tables.login_failures.insert().values(client=client, failed_at=now)
        ).inserted_primary_key
    attempt = int(booked[0]) if booked else 0
    if _failures_since(engine, client, since) > limit:
        release_login_attempt(engine, attempt)
        return None
    return attempt


def _failures_since(engine: Engine, client: str, since: dt.datetime) -> int:
    f = tables.login_failures.c
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).where(f.client == client, f.failed_at > since)
            ).scalar_one()
        )


def release_login_attempt(engine: Engine, attempt: int) -> None:
    """Take a booked attempt back: it was refused unchecked, or it logged in."""
    with engine.begin() as connection:
        connection.execute(
            delete(tables.login_failures).where(tables.login_failures.c.id == attempt)
        )
