"""Helpers for the tests that talk to a running collector over HTTP: error bodies,
the login form, and emptying the store between tests while the service keeps its tokens."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
from smartcron.collector.db import tables
from smartcron.collector.ingest import (
    OUTPUT_COLUMNS,
    RUN_COLUMNS,
    insert_runs,
    output_values,
    run_values,
)
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Connection, Engine, func, select

from tests.support.service import ADMIN_PASSWORD, Service

LOGIN_CSRF_COOKIE = "smartcron_login_csrf"
SESSION_COOKIE = "smartcron_session"


def reset_store(engine: Engine, clear_tables: Callable[[Engine], None]) -> None:
    """Empty every table (conftest's clear_tables) but put the tokens back: a service
    shared by a module keeps working with the tokens it was started with."""
    with engine.connect() as connection:
        kept = [dict(row) for row in connection.execute(select(tables.tokens)).mappings()]
    clear_tables(engine)
    if kept:
        with engine.begin() as connection:
            connection.execute(tables.tokens.insert(), kept)


def count_rows(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def stored_runs(engine: Engine) -> list[dict[str, Any]]:
    """Every stored run's figures that the rollups count, `started_at` as a datetime on
    both backends (SQLite hands back text)."""
    r = tables.runs.c
    query = select(r.job, r.host, r.status, r.started_at, r.duration_s, r.peak_rss_bytes)
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    for row in rows:
        if not isinstance(row["started_at"], dt.datetime):
            row["started_at"] = dt.datetime.fromisoformat(row["started_at"])
    return rows


def insert_run_rows(
    connection: Connection,
    runs: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Runs (and output rows) given column by column, stored as ingest stores them:
    through ingest.insert_runs, which adds them to the aggregates (no trigger does). A
    column a run leaves out is null."""
    insert_runs(
        connection,
        [tuple(run.get(name) for name in RUN_COLUMNS) for run in runs],
        [tuple(output[name] for name in OUTPUT_COLUMNS) for output in outputs],
    )


def insert_runs_before_0017(engine: Engine, reports: Sequence[RunReport]) -> None:
    """The runs of `reports` as a collector before revision 0017 stored them, for a
    database migrated to an older revision: plain INSERTs of the runs and their output,
    which that revision's triggers count. (Today's ingest writes aggregate tables that
    such a database may not have yet.)"""
    received = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(
            tables.run_output.insert(),
            [dict(zip(OUTPUT_COLUMNS, output_values(r), strict=True)) for r in reports],
        )
        connection.execute(
            tables.runs.insert(),
            [dict(zip(RUN_COLUMNS, run_values(r, received), strict=True)) for r in reports],
        )


def assert_error(response: requests.Response, status: int, *words: str) -> str:
    """The response is `status` with a JSON body of exactly {"error": "..."} that
    mentions each of `words`; returns the message."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    message = body["error"]
    assert isinstance(message, str) and message, body
    for word in words:
        assert word in message, (word, message)
    return message


def answered(accepted: int = 0, duplicates: int = 0) -> dict[str, Any]:
    """An ingest answer with nothing rejected."""
    return {"accepted": accepted, "duplicates": duplicates, "rejected": []}


def assert_rejected(
    response: requests.Response, status: int, rejected: dict[int, tuple[str, ...]]
) -> list[dict[str, Any]]:
    """An ingest answer of `status` whose rejected list names exactly the indices of
    `rejected`, each error mentioning its words; a 422 also carries the first error.
    Returns the rejected list."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    listed = body["rejected"]
    assert [item["index"] for item in listed] == sorted(rejected), listed
    for item in listed:
        assert set(item) == {"index", "run_id", "error"}, item
        assert item["error"].startswith(f"runs[{item['index']}]."), item
        for word in rejected[item["index"]]:
            assert word in item["error"], (word, item)
    if status == 422:
        assert body["accepted"] == body["duplicates"] == 0, body
        assert body["error"].startswith(listed[0]["error"]), body
    else:
        assert set(body) == {"accepted", "duplicates", "rejected"}, body
    return list(listed)


def hidden_field(html: str, name: str) -> str:
    """The value of <input type="hidden" name=NAME value=...> in a rendered page."""
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name!r} field in the page"
    return found.group(1)


def login_form(service: Service, client: requests.Session) -> str:
    """GET /login as a browser would: sets the login-CSRF cookie, returns the form's token."""
    page = client.get(f"{service.url}/login", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200, page.text[:500]
    assert LOGIN_CSRF_COOKIE in client.cookies, page.headers
    return hidden_field(page.text, "csrf_token")


def post_login(
    service: Service,
    client: requests.Session,
    *,
    password: str = ADMIN_PASSWORD,
    username: str = "admin",
    csrf_token: str | None = None,
) -> requests.Response:
    form = {"username": username, "password": password, "next": "/"}
    if csrf_token is not None:
        form["csrf_token"] = csrf_token
    return client.post(f"{service.url}/login", data=form, allow_redirects=False, timeout=30)


def login(service: Service) -> requests.Session:
    """A browser-like client logged in through the real form."""
    client = requests.Session()
    token = login_form(service, client)
    answer = post_login(service, client, csrf_token=token)
    assert answer.status_code == 303, (answer.status_code, answer.text[:500])
    assert SESSION_COOKIE in client.cookies, answer.headers
    return client


def session_csrf(service: Service, client: requests.Session, page: str = "/") -> str:
    """The session's CSRF token, as the page's forms carry it."""
    html = client.get(f"{service.url}{page}", headers={"Accept": "text/html"}, timeout=30)
    assert html.status_code == 200, html.text[:500]
    token = hidden_field(html.text, "csrf_token")
    assert token, "the page's forms carry an empty csrf_token"
    return token
