"""The collector's HTTP service: one FastAPI app, stateless, over one database."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from . import __version__, api, metrics, pages
from .access import require_reader
from .auth import TokenCache
from .errors import ApiError
from .settings import CollectorSettings


def create_app(settings: CollectorSettings, engine: Engine) -> FastAPI:
    app = FastAPI(
        title="smartcron collector",
        version=__version__,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.tokens = TokenCache(engine, settings.token_cache_s)

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(packages=[("smartcron.collector", "static")]), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Any:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DBAPIError as error:
            return JSONResponse(
                {"status": "degraded", "database": "unreachable", "error": _short(error)},
                status_code=503,
            )
        return {"status": "ok", "database": "ok", "version": __version__}

    @app.get("/metrics", include_in_schema=False)
    def prometheus(request: Request) -> Response:
        require_reader(request)
        return Response(metrics.render(engine), media_type="text/plain; version=0.0.4")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        if error.status == 401 and pages.wants_html(request):
            return pages.to_login(request)
        return JSONResponse({"error": error.message}, error.status, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return JSONResponse({"error": f"{where}: {first['msg']}"}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        return JSONResponse({"error": str(error.detail).lower()}, error.status_code)

    for database_error in (OperationalError, PoolTimeout, DBAPIError):

        @app.exception_handler(database_error)
        async def database_down(request: Request, error: Exception) -> Response:
            # The sender keeps its spool and tries again: nothing is lost.
            return JSONResponse(
                {"error": "database unavailable; retry later"}, 503, headers={"Retry-After": "5"}
            )

    return app


def _short(error: Exception) -> str:
    return str(getattr(error, "orig", error)).splitlines()[0][:200]
