"""The collector's HTTP service: one FastAPI app, stateless, over one database."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

import pymysql
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from . import __version__, api, metrics, pages
from .access import require_reader
from .alerting.channel_health import failing_channels
from .alerting.delivery import Delivery
from .api_docs import render_api_docs
from .auth import TokenCache
from .errors import ApiError
from .ingest import is_request_fault
from .offload import Offload
from .settings import CollectorSettings
from .writer import GroupWriter

log = logging.getLogger("smartcron.collector")
# Batches parsed at once per process (offload.py): two, one parsing while the other's
# thread waits for the GIL or its body.
PARSERS = 2
# DB-API (PEP 249) classes as the drivers raise them; SQLAlchemy wraps them in .orig.
UNAVAILABLE = (
    PoolTimeout,
    pymysql.err.OperationalError,
    pymysql.err.InterfaceError,
    pymysql.err.InternalError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
    sqlite3.InternalError,
)


def create_app(settings: CollectorSettings, engine: Engine) -> FastAPI:
    # The tick (evaluation, alerts, delivery) is not the app's: serve runs it in a
    # process of its own (ticker.py), off the GIL of the workers' requests.
    app = FastAPI(
        title="smartcron collector",
        version=__version__,
        # Served below behind credentials: only /healthz answers without them.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    delivery = Delivery(settings.delivery)
    app.state.delivery = delivery
    app.state.tokens = TokenCache(engine, settings.token_cache_s)
    app.state.writer = GroupWriter(engine)
    app.state.parsers = Offload(PARSERS)

    def openapi() -> dict[str, Any]:
        # FastAPI's document, with the POST /api/v1/runs body's models added (that route
        # reads its bytes itself), built whole before it is kept: a request meanwhile
        # builds its own rather than see half of it.
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes)
            document.setdefault("components", {}).setdefault("schemas", {}).update(
                api.batch_schemas()
            )
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(packages=[("smartcron.collector", "static")]), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Any:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            return JSONResponse(
                {"status": "degraded", "database": "unreachable", "error": _short(error)},
                status_code=503,
            )
        answer = {"status": "ok", "database": "ok", "version": __version__}
        if not settings.delivery.channels:
            return answer
        # Names only: /healthz answers without credentials. A failing channel does not
        # make it 503: a load balancer would then take ingest away too.
        try:
            failing = failing_channels(engine, settings.delivery)
        except SQLAlchemyError as error:
            return answer | {"channels": "unknown", "error": _short(error)}
        if failing:
            return answer | {"status": "degraded", "channels": "failing",
                             "channels_failing": failing}  # fmt: skip
        return answer | {"channels": "ok"}

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi_document(request: Request) -> Any:
        require_reader(request)
        return app.openapi()

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        return render_api_docs(request, require_reader(request), app.openapi())

    @app.get("/metrics", include_in_schema=False)
    def prometheus(request: Request) -> Response:
        require_reader(request)
        return Response(metrics.render(engine), media_type="text/plain; version=0.0.4")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        if pages.wants_html(request):
            if error.status == 401:
                return pages.to_login(request)
            return _with_headers(pages.render_error(request, error.status, error.message),
                                 error.headers)  # fmt: skip
        return JSONResponse({"error": error.message}, error.status, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return JSONResponse({"error": f"{where}: {first['msg']}"}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        # A path that matches no route (404, 405) is a person's typo as often as a
        # program's: a browser gets a page it can read, with the page's headers.
        message = str(error.detail).lower()
        if pages.wants_html(request):
            return _with_headers(pages.render_error(request, error.status_code,
                                                    _page_message(error.status_code, message)),
                                 error.headers)  # fmt: skip
        return JSONResponse({"error": message}, error.status_code, headers=error.headers)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, error: ClientDisconnect) -> Response:
        # The client went away mid-request (or was closed for not sending it in time):
        # nobody reads this answer, and it is no fault of ours to log a traceback for.
        return Response(status_code=400)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(pymysql.err.Error)
    @app.exception_handler(sqlite3.Error)
    async def database_error(request: Request, error: Exception) -> Response:
        return database_answer(error)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> Response:
        # Starlette still re-raises after this answer, so uvicorn logs the traceback.
        return JSONResponse({"error": "internal error; see the collector's log"}, 500)

    return app


def _with_headers(response: Response, headers: Mapping[str, str] | None) -> Response:
    response.headers.update(headers or {})
    return response


def _page_message(status: int, message: str) -> str:
    if status == 404:
        return "There is no page at this address."
    return message[:1].upper() + message[1:] + "."


def database_answer(error: Exception) -> JSONResponse:
    """503 only when the database is away (the sender keeps its spool and tries again).
    A value that does not fit a column fails the same way on every retry, so it is the
    request's fault (422); anything else is a bug of ours (500). (Ingest itself refuses
    such a report in its answer: this is for whatever else writes.)

    A raw DB-API error (not wrapped by SQLAlchemy) is answered alike."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    if is_request_fault(cause):
        return JSONResponse({"error": f"a value does not fit the database: {_short(error)}"}, 422)
    if isinstance(cause, UNAVAILABLE) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    ):
        return JSONResponse(
            {"error": "database unavailable; retry later"}, 503, headers={"Retry-After": "5"}
        )
    log.error("database error", exc_info=error)
    return JSONResponse({"error": "internal error; see the collector's log"}, 500)


def _short(error: Exception) -> str:
    return str(getattr(error, "orig", error)).splitlines()[0][:200]
