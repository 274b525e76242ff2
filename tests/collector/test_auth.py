"""Who may do what, against the real service on SQLite and MySQL: tokens, the login form
and its rate limit, sessions, CSRF on actions, and the audit trail. Every route the app
has, walked from the app itself, answers nothing without credentials but the few that
must (a route added without a check fails here)."""

from __future__ import annotations

import http.client
import importlib.resources
import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
import requests
from fastapi.routing import APIRoute
from smartcron.collector.app import create_app
from smartcron.collector.db import tables
from smartcron.collector.db.engine import create_db_engine
from smartcron.collector.settings import CollectorSettings
from sqlalchemy import Engine, select
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.support.collector_api import (
    SESSION_COOKIE,
    assert_error,
    count_rows,
    login,
    login_form,
    post_login,
    reset_store,
    session_csrf,
)
from tests.support.service import ADMIN_PASSWORD, Service, make_report

KNOWN_RUN = "00000000-0000-4000-8000-00000000a001"  # vend_sync on web1
READS = (
    "/api/v1/status",
    "/api/v1/jobs",
    "/api/v1/jobs/vend_sync",
    "/api/v1/runs",
    "/api/v1/runs?job=vend_sync",
    f"/api/v1/runs/{KNOWN_RUN}",
    "/api/v1/metrics?hours=2",
    "/api/v1/logs?job=vend_sync&lines=5",
    "/api/v1/hosts",
    "/api/v1/alerts",
    "/api/v1/schedule-load",
    "/api/openapi.json",
    "/api/docs",
    "/metrics",
)
PAGES = ("/", "/jobs/vend_sync", f"/runs/{KNOWN_RUN}", "/hosts", "/alerts", "/load")


@pytest.fixture
def collector(
    service: Service, schema_engine: Engine, clear_tables: Callable[[Engine], None]
) -> Service:
    """The service with two hosts of vend_sync and no failed logins on record."""
    reset_store(schema_engine, clear_tables)
    reports = [make_report("vend_sync", host="web1", run_id=KNOWN_RUN),
               make_report("vend_sync", host="web2")]  # fmt: skip
    assert service.post_runs(reports).json()["accepted"] == 2
    return service


def get(service: Service, path: str, client: Any = requests, **headers: str) -> requests.Response:
    answer: requests.Response = client.get(
        f"{service.url}{path}", headers=headers, allow_redirects=False, timeout=30
    )
    return answer


def audit_rows(engine: Engine) -> list[dict[str, Any]]:
    a = tables.audit.c
    with engine.connect() as connection:
        rows = connection.execute(select(a.actor, a.action, a.job, a.host).order_by(a.id))
        return [dict(row) for row in rows.mappings()]


def paused(engine: Engine) -> dict[str, bool]:
    j = tables.jobs.c
    with engine.connect() as connection:
        rows = connection.execute(select(j.host, j.paused).where(j.job == "vend_sync")).all()
    return {host: bool(flag) for host, flag in rows}


# ---------------------------------------------------------------- tokens


@pytest.mark.parametrize("path", READS)
def test_reads_need_credentials(collector: Service, path: str) -> None:
    assert_error(get(collector, path), 401, "log in")
    assert_error(get(collector, path, Authorization="Bearer sct_not_a_token"), 401, "token")
    assert_error(get(collector, path, Authorization=f"Bearer {collector.ingest_token}"), 403,
                 "admin token")  # fmt: skip
    answer = get(collector, path, Authorization=f"Bearer {collector.admin_token}")
    assert answer.status_code == 200, answer.text[:300]


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_a_browser_to_the_login_form(collector: Service, path: str) -> None:
    answer = get(collector, path, Accept="text/html")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), answer
    assert_error(get(collector, path, Accept="application/json"), 401)
    html = get(collector, path, Accept="text/html", Authorization=f"Bearer {collector.admin_token}")
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]


def test_healthz_needs_nothing(collector: Service) -> None:
    answer = get(collector, "/healthz")
    assert answer.status_code == 200
    assert answer.json()["database"] == "ok"


# ---------------------------------------------------------------- every route


def app_routes() -> list[Any]:
    """Every route of the app the service runs, with its included routers resolved."""
    engine = create_db_engine("sqlite://")  # building the app opens no connection
    try:
        app = create_app(CollectorSettings(db_url="sqlite://"), engine)
    finally:
        engine.dispose()
    # Newer FastAPI keeps an included router as one entry of app.routes, resolved
    # lazily; iter_route_contexts lists its routes with their full paths.
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(flatten(app.routes)) if flatten else list(app.routes)


def original(route: Any) -> Any:
    return getattr(route, "original_route", route)


def endpoints() -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in app_routes()
        if isinstance(original(route), (APIRoute, Route))
        for method in route.methods
    )


ENDPOINTS = endpoints()
# What answers without credentials, and how: the login form must be reachable. Posted
# empty it names the missing field (the tests above post it filled in); never a session.
OPEN = {("GET", "/healthz"): 200, ("GET", "/login"): 200, ("POST", "/login"): 422}
PATH_VALUES = {"job": "vend_sync", "action": "pause", "run_id": KNOWN_RUN, "alert_id": "1"}
STATIC_SUFFIXES = {".css", ".js", ".svg", ".png", ".ico", ".woff2"}


def fill(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in PATH_VALUES, f"{path}: give the walk a value for {{{name}}}"
        return PATH_VALUES[name]

    return re.sub(r"{(\w+)(?::\w+)?}", value, path)


def test_the_walk_sees_every_route() -> None:
    routes = app_routes()
    kinds = {type(original(route)).__name__ for route in routes}
    # Another kind (a websocket, a host) would escape the walk: teach it first.
    assert kinds <= {"APIRoute", "Route", "Mount"}, kinds
    assert [route.path for route in routes if isinstance(original(route), Mount)] == ["/static"]
    assert set(OPEN) <= set(ENDPOINTS), ENDPOINTS
    assert ("GET", "/runs/{run_id}") in ENDPOINTS and ("GET", "/api/v1/runs/{run_id}") in ENDPOINTS
    assert len(ENDPOINTS) >= 20, ENDPOINTS


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[f"{m} {p}" for m, p in ENDPOINTS])
def test_every_route_answers_only_with_credentials(
    collector: Service, method: str, path: str
) -> None:
    url = f"{collector.url}{fill(path)}"

    def ask(accept: str, **headers: str) -> requests.Response:
        return requests.request(method, url, headers={"Accept": accept, **headers},
                                allow_redirects=False, timeout=30)  # fmt: skip

    if (method, path) in OPEN:
        answer = ask("text/html")
        assert answer.status_code == OPEN[method, path], answer.text[:300]
        assert SESSION_COOKIE not in answer.cookies
        return
    assert_error(ask("application/json"), 401)
    browser = ask("text/html")
    if path.startswith("/api/") or path == "/metrics":  # for programs: never a redirect
        assert_error(browser, 401)
    else:
        assert browser.status_code == 303, (browser.status_code, browser.text[:300])
        assert browser.headers["location"] == f"/login?next={fill(path)}"
    if method == "GET":
        # The same URL reaches its handler with credentials: the 401 above was the check's.
        admin = ask("text/html", Authorization=f"Bearer {collector.admin_token}")
        assert admin.status_code not in (401, 403, 404, 405), (admin.status_code, admin.text)


def test_static_serves_only_the_packages_own_files(collector: Service) -> None:
    [mount] = [original(route) for route in app_routes() if isinstance(original(route), Mount)]
    assert isinstance(mount.app, StaticFiles)
    folder = Path(str(importlib.resources.files("smartcron.collector") / "static")).resolve()
    assert [Path(directory).resolve() for directory in mount.app.all_directories] == [folder]
    files = sorted(path for path in folder.iterdir() if path.is_file())
    assert files and {path.suffix for path in files} <= STATIC_SUFFIXES, files
    for path in files:
        answer = requests.get(f"{collector.url}/static/{path.name}", timeout=30)
        assert answer.status_code == 200 and answer.content == path.read_bytes(), path.name
    # Raw paths (requests would tidy the dots away): nothing outside the folder.
    host = urllib.parse.urlsplit(collector.url)
    for raw in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
                "/static/../templates/index.html", "/static/../../../../../etc/passwd",
                "/static/", "/static/collector.db"):  # fmt: skip
        connection = http.client.HTTPConnection(host.hostname or "", host.port, timeout=30)
        try:
            connection.request("GET", raw)
            refused = connection.getresponse()
            assert refused.status == 404, (raw, refused.status, refused.read(300))
        finally:
            connection.close()


def test_a_session_cannot_send_reports(collector: Service) -> None:
    client = login(collector)
    answer = client.post(f"{collector.url}/api/v1/runs", json={"runs": [make_report()]},
                         timeout=30)  # fmt: skip
    assert_error(answer, 401)


# ---------------------------------------------------------------- the login form


def test_a_session_from_the_login_form_can_read(collector: Service) -> None:
    client = requests.Session()
    token = login_form(collector, client)
    answer = post_login(collector, client, csrf_token=token)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie, cookie
    assert get(collector, "/api/v1/status", client).status_code == 200
    page = get(collector, "/", client, Accept="text/html")
    assert page.status_code == 200 and "vend_sync" in page.text


def test_login_sends_back_only_to_local_paths(collector: Service) -> None:
    for target, expected in (("/jobs/vend_sync", "/jobs/vend_sync"), ("//evil.example", "/"),
                             ("https://evil.example/", "/")):  # fmt: skip
        client = requests.Session()
        token = login_form(collector, client)
        form = {"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token,
                "next": target}  # fmt: skip
        answer = client.post(f"{collector.url}/login", data=form, allow_redirects=False,
                             timeout=30)  # fmt: skip
        assert answer.status_code == 303 and answer.headers["location"] == expected, target


def test_login_without_its_csrf_cookie_is_403(collector: Service) -> None:
    token = login_form(collector, requests.Session())
    stranger = requests.Session()  # has the form's token but not the cookie that goes with it
    assert_error(post_login(collector, stranger, csrf_token=token), 403, "login form")
    assert SESSION_COOKIE not in stranger.cookies


def test_login_with_a_wrong_csrf_token_is_403(collector: Service) -> None:
    client = requests.Session()
    login_form(collector, client)
    assert_error(post_login(collector, client, csrf_token="0" * 64), 403, "login form")
    assert SESSION_COOKIE not in client.cookies


def test_login_without_the_csrf_field_is_403(collector: Service) -> None:
    client = requests.Session()
    login_form(collector, client)
    assert_error(post_login(collector, client, csrf_token=None), 403)


def test_a_wrong_password_does_not_log_in(collector: Service) -> None:
    client = requests.Session()
    token = login_form(collector, client)
    answer = post_login(collector, client, csrf_token=token, password="wrong")
    assert answer.status_code == 303 and "error=1" in answer.headers["location"]
    assert SESSION_COOKIE not in client.cookies
    answer = post_login(collector, client, csrf_token=token, username="root")
    assert answer.status_code == 303 and "error=1" in answer.headers["location"]
    assert_error(get(collector, "/api/v1/status", client), 401)


def test_five_failed_logins_are_rate_limited(collector: Service, schema_engine: Engine) -> None:
    client = requests.Session()
    token = login_form(collector, client)
    for _ in range(5):
        answer = post_login(collector, client, csrf_token=token, password="guess")
        assert answer.status_code == 303, answer.text
    limited = post_login(collector, client, csrf_token=token, password="guess")
    assert_error(limited, 429, "too many")
    assert int(limited.headers["Retry-After"]) > 0
    # The right password does not get through while the limit holds...
    assert_error(post_login(collector, client, csrf_token=token), 429)
    assert SESSION_COOKIE not in client.cookies
    # ...and the limit lives in the database, so every replica agrees on it.
    assert count_rows(schema_engine, tables.login_failures) == 5


def test_four_failed_logins_still_let_the_right_password_in(collector: Service) -> None:
    client = requests.Session()
    token = login_form(collector, client)
    for _ in range(4):
        assert post_login(collector, client, csrf_token=token, password="guess").status_code == 303
    assert post_login(collector, client, csrf_token=token).status_code == 303
    assert get(collector, "/api/v1/status", client).status_code == 200


def test_logout_ends_the_session(collector: Service) -> None:
    client = login(collector)
    cookie = str(client.cookies[SESSION_COOKIE])
    csrf = session_csrf(collector, client)
    # Logging out is a form too: without its CSRF token it is refused.
    refused = client.post(f"{collector.url}/logout", allow_redirects=False, timeout=30)
    assert_error(refused, 403, "CSRF")
    assert get(collector, "/api/v1/status", client).status_code == 200

    answer = client.post(f"{collector.url}/logout", data={"csrf_token": csrf},
                         allow_redirects=False, timeout=30)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert_error(get(collector, "/api/v1/status", client), 401)
    # The old cookie, replayed, is dead on the server too.
    replay = requests.get(f"{collector.url}/api/v1/status", cookies={SESSION_COOKIE: cookie},
                          timeout=30)  # fmt: skip
    assert_error(replay, 401)


def test_a_made_up_session_cookie_is_401(collector: Service) -> None:
    answer = requests.get(f"{collector.url}/api/v1/status",
                          cookies={SESSION_COOKIE: "made-up"}, timeout=30)  # fmt: skip
    assert_error(answer, 401)


# ---------------------------------------------------------------- actions


def act(
    service: Service, action: str, job: str = "vend_sync", client: Any = requests, **kwargs: Any
) -> requests.Response:
    answer: requests.Response = client.post(
        f"{service.url}/api/v1/jobs/{job}/{action}", timeout=30, allow_redirects=False, **kwargs
    )
    return answer


def test_admin_token_actions_work_and_are_audited(
    collector: Service, schema_engine: Engine
) -> None:
    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    answer = act(collector, "pause", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"job": "vend_sync", "action": "pause", "changed": 2}
    assert paused(schema_engine) == {"web1": True, "web2": True}
    jobs = collector.get("/api/v1/jobs/vend_sync").json()["hosts"]
    assert [(h["state"], h["paused"]) for h in jobs] == [("paused", True), ("paused", True)]
    assert collector.get("/api/v1/status").json()["jobs_by_state"]["paused"] == 2

    answer = act(collector, "resume", headers=admin, params={"host": "web2"})
    assert answer.json() == {"job": "vend_sync", "action": "resume", "changed": 1}
    assert paused(schema_engine) == {"web1": True, "web2": False}

    assert act(collector, "reset-breaker", headers=admin).status_code == 200
    j = tables.jobs.c
    with schema_engine.connect() as connection:
        resets = connection.execute(select(j.breaker_reset_at).where(j.job == "vend_sync"))
        assert all(value is not None for value in resets.scalars())

    assert audit_rows(schema_engine) == [
        {"actor": "admin token", "action": "pause", "job": "vend_sync", "host": None},
        {"actor": "admin token", "action": "resume", "job": "vend_sync", "host": "web2"},
        {"actor": "admin token", "action": "reset-breaker", "job": "vend_sync", "host": None},
    ]


def test_actions_refused_change_nothing(collector: Service, schema_engine: Engine) -> None:
    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    assert_error(act(collector, "pause"), 401)
    assert_error(act(collector, "pause", headers={
        "Authorization": f"Bearer {collector.ingest_token}"}), 403)  # fmt: skip
    assert_error(act(collector, "pause", job="no_such_job", headers=admin), 404, "no_such_job")
    assert_error(act(collector, "explode", headers=admin), 404, "explode")
    assert_error(act(collector, "pause", headers=admin, params={"host": "web9"}), 404, "web9")
    assert paused(schema_engine) == {"web1": False, "web2": False}
    assert audit_rows(schema_engine) == []


def test_session_actions_need_the_csrf_header(collector: Service, schema_engine: Engine) -> None:
    client = login(collector)
    csrf = session_csrf(collector, client)
    assert_error(act(collector, "pause", client=client), 403, "CSRF")
    assert_error(act(collector, "pause", client=client, headers={"X-CSRF-Token": "f" * 64}), 403)
    # Another session's token is as wrong as a made-up one.
    other = session_csrf(collector, login(collector))
    assert other != csrf
    assert_error(act(collector, "pause", client=client, headers={"X-CSRF-Token": other}), 403)
    assert paused(schema_engine) == {"web1": False, "web2": False}
    assert audit_rows(schema_engine) == []

    answer = act(collector, "pause", client=client, headers={"X-CSRF-Token": csrf},
                 params={"host": "web1"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert paused(schema_engine) == {"web1": True, "web2": False}
    assert audit_rows(schema_engine) == [
        {"actor": "admin", "action": "pause", "job": "vend_sync", "host": "web1"}
    ]


def test_the_page_form_action_needs_its_csrf_token(
    collector: Service, schema_engine: Engine
) -> None:
    client = login(collector)
    csrf = session_csrf(collector, client, "/jobs/vend_sync")
    url = f"{collector.url}/jobs/vend_sync/action"
    form = {"action": "pause", "host": "web2"}
    assert_error(client.post(url, data=form, allow_redirects=False, timeout=30), 403, "CSRF")
    wrong = form | {"csrf_token": "0" * 64}
    assert_error(client.post(url, data=wrong, allow_redirects=False, timeout=30), 403)
    assert paused(schema_engine) == {"web1": False, "web2": False}

    answer = client.post(url, data=form | {"csrf_token": csrf}, allow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"] == "/jobs/vend_sync"
    assert paused(schema_engine) == {"web1": False, "web2": True}
    assert audit_rows(schema_engine) == [
        {"actor": "admin", "action": "pause", "job": "vend_sync", "host": "web2"}
    ]
    page = get(collector, "/jobs/vend_sync", client, Accept="text/html")
    assert "Resume on web2" in page.text
