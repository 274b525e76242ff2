"""The summary page: server-rendered HTML, readable on a laptop and a phone.

Jinja2 autoescapes everything, so job output, commands and names can never
become markup. Forms carry the session's CSRF token; the login form carries a
token of its own in a cookie (double submit), as there is no session yet.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from smartcron.wrapper.validate import format_duration
from starlette.concurrency import run_in_threadpool

from . import (
    actions,
    alert_centre,
    auth,
    charts,
    fleet,
    heartbeats,
    load_map,
    queries,
    schedules,
    state,
)
from .access import SESSION_COOKIE, Caller, require_actor, require_reader
from .alerting.channel_health import channel_health
from .alerting.silence import silences_for
from .errors import ApiError
from .listings import AlertQuery, JobQuery

LOGIN_CSRF_COOKIE = "smartcron_login_csrf"
REFRESH_SECONDS = 30
SUMMARY_PAGE = 100  # jobs a page of the summary shows

router = APIRouter(include_in_schema=False)
_env = Environment(loader=PackageLoader("smartcron.collector", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True))  # fmt: skip
templates = Jinja2Templates(env=_env)


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith(
        ("/api/", "/metrics")
    ) and "text/html" in request.headers.get("accept", "text/html")


def to_login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


_parse_time = charts.parse_time
# A stored time inside a sentence of the health view: "2026-11-23 16:30:01.508053".
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def ago(value: Any) -> str:
    moment = _parse_time(value)
    if moment is None:
        return "never"
    now = _now()
    text = _span((now - moment).total_seconds())
    return f"in {text}" if moment > now else f"{text} ago"


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def readable(reason: str | None) -> str:
    """The health view's reason with its raw timestamps as '16:30 UTC (12 min ago)'."""

    def one(match: re.Match[str]) -> str:
        return f"{charts.short_time(match.group())} ({ago(match.group())})"

    return _STAMP.sub(one, reason or "")


def next_run(job: dict[str, Any]) -> tuple[str, str]:
    """What the "next expected" cell says about a job, and its CSS class. Never a time
    in the past: a late job's next expected run is the first one after now (state.py),
    and a run that is due but not yet reported (reports come when a run ends) is said
    to be due now."""
    if job.get("paused"):
        return "paused", "muted"
    if not job.get("schedule"):
        return "no schedule", "muted"
    if job.get("breaker_state") == "open":
        # The wrapper skips every run until the cooldown ends and a trial run is let through.
        return "skipped, breaker open", "muted"
    moment = _parse_time(job.get("next_expected_at"))
    now = _now()
    if job.get("state") in ("late", "running"):
        missed = _parse_time(job.get("missed_at"))
        overdue = f"overdue {_span((now - missed).total_seconds())}" if missed else "overdue"
        upcoming = f"; next {ago(moment)}" if moment is not None and moment > now else ""
        return overdue + upcoming, "overdue"
    if moment is None:
        return "-", "muted"
    if moment > now:
        return ago(moment), ""
    return "due now, awaiting its report", "muted"


def zoned(value: Any, zone: str | None) -> str:
    """A stored time in the job's zone and in UTC: '2026-03-29 03:00 CEST (01:00 UTC)'."""
    moment = _parse_time(value)
    return state.shown(moment, zone) if moment else "-"


def clock_ahead(seconds: float) -> str:
    """A host's clock lead, "2 h" or "40 s" (clocks.py estimates it)."""
    return _span(seconds)


def duration(value: Any) -> str:
    return "-" if value is None else charts.seconds(float(value))


def setting(value: Any) -> str:
    """A duration the line set (--grace 10m), as smartcron-wrap --dry-run writes it."""
    return "-" if value is None else format_duration(float(value))


def size(value: Any) -> str:
    if value is None:
        return "-"
    number = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if number < 1024 or unit == "GiB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return f"{number:.1f} GiB"


def when(value: Any) -> str:
    moment = _parse_time(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


_env.filters.update(ago=ago, clock_ahead=clock_ahead, duration=duration, setting=setting,
                    size=size, when=when,
                    readable=readable, short_time=charts.short_time, plural=charts.plural,
                    last_runs=charts.last_runs, zoned=zoned)  # fmt: skip
_env.globals.update(
    sparkline=charts.sparkline, next_run=next_run, refresh=REFRESH_SECONDS, recent=queries.RECENT
)


def render_page(request: Request, name: str, caller: Caller | None, **context: Any) -> HTMLResponse:
    csrf = caller.session.csrf_token if caller and caller.session else ""
    response = templates.TemplateResponse(
        request, name, {"caller": caller, "csrf_token": csrf, **context}
    )
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"  # frame-ancestors, for older browsers
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    """An error as a page, for a browser: a person reads it, not a program."""
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    response = render_page(request, "error.html", None, status=status, title=title,
                           message=message)  # fmt: skip
    response.status_code = status
    return response


Reader = Annotated[Caller, Depends(require_reader)]


@router.get("/login")
def login_form(request: Request, next: str = "/", error: str = "") -> Response:
    token = secrets.token_hex(32)
    response = render_page(request, "login.html", None, next=_safe_next(next), error=error,
                       login_csrf=token)  # fmt: skip
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.app.state.settings.secure_cookies, max_age=3600)  # fmt: skip
    return response


def _safe_next(target: str) -> str:
    # Only local paths: never an open redirect to another site.
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",  # missing is refused as forged: 403
    next: Annotated[str, Form()] = "/",
) -> Response:
    settings = request.app.state.settings
    engine = request.app.state.engine
    if not auth.csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        raise ApiError(403, "login form expired or forged; reload /login and try again")
    window = settings.login_failure_window_s
    attempt = auth.claim_login_attempt(engine, _client(request), settings.login_failure_limit,
                                       window)  # fmt: skip
    if attempt is None:
        raise ApiError(429, f"too many failed logins; wait {window // 60} minutes",
                       headers={"Retry-After": str(window)})  # fmt: skip
    if not auth.credentials_match(
        settings.admin_user, settings.admin_password_hash, username, password
    ):
        return RedirectResponse(f"/login?error=1&next={_safe_next(next)}", status_code=303)
    auth.release_login_attempt(engine, attempt)  # a login that worked is no failure
    cookie, _session = auth.create_session(engine, username, settings.session_hours)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax",
                        secure=settings.secure_cookies,
                        max_age=int(settings.session_hours * 3600))  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, caller: Annotated[Caller, Depends(require_actor)]) -> Response:
    # async for require_actor's form read; the database waits in the thread pool.
    await run_in_threadpool(
        auth.end_session, request.app.state.engine, request.cookies.get(SESSION_COOKIE)
    )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def summary(
    request: Request,
    caller: Reader,
    listing: JobQuery,
    before: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """The counts for the whole fleet, then a page of the jobs that match the filters,
    worst first (so problems lead), SUMMARY_PAGE at a time with next and previous."""
    engine = request.app.state.engine
    page = listing.page(engine, SUMMARY_PAGE, before=before or None)
    filters = listing.filters()
    kept = {name: value for name, value in filters.items() if value}
    links = {
        "next": "?" + urlencode(kept | {"cursor": page.next_cursor}) if page.next_cursor else "",
        "prev": "?" + urlencode(kept | {"before": page.prev_cursor}) if page.prev_cursor else "",
    }
    running = heartbeats.running_now(engine)  # from the hosts' heartbeats, not per job
    return render_page(request, "index.html", caller, status=fleet.status(engine), jobs=page.jobs,
                       running=running, filters=filters, filtered=bool(kept), links=links,
                       states=fleet.STATES, page_size=SUMMARY_PAGE)  # fmt: skip


@router.get("/jobs/{job}")
def job_page(
    request: Request,
    job: str,
    caller: Reader,
    host: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
) -> Response:
    engine = request.app.state.engine
    per_host = queries.jobs(engine, job)
    if not per_host:
        raise ApiError(404, f"no job named {job!r}")
    try:
        history, next_cursor = queries.runs(
            engine, job=job, host=host or None, status_is=status or None, cursor=cursor, limit=50
        )
    except queries.CursorError as error:
        raise ApiError(422, f"cursor: {error}") from None
    # Oldest left by start time: runs need not arrive (nor be stored) in the order they ran.
    latest = queries.runs(engine, job=job, host=host or None, limit=60)[0]
    chart_runs = sorted(latest, key=lambda run: str(run["started_at"]))
    tags: dict[str, list[str]] = {}  # each host's tags, as its latest run among these gave them
    for run in latest:
        tags.setdefault(run["host"], run["tags"])
    now = _now()
    plans = {item["host"]: schedule_plan(engine, job, item, now) for item in per_host}
    keys = [(job, item["host"]) for item in per_host]
    return render_page(request, "job.html", caller, job=job, hosts=per_host, runs=history,
                   next_cursor=next_cursor, cursor=cursor, host=host or "", status=status or "",
                   chart=charts.duration_memory_chart(chart_runs), tags=tags,
                   plans=plans, silenced=silences_for(engine, keys, now),
                   open_alerts=alert_centre.open_counts(engine, job))  # fmt: skip


TIMELINE_RUNS = 60  # runs of one host the timeline places: as many as the chart draws
MISSED_LISTED = 10  # missed slots the page names; the count says how many in all


def schedule_plan(engine: Any, job: str, item: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """What a host's card says of its schedule: in words, the next runs, and the run
    timeline with the slots missed among its last TIMELINE_RUNS runs."""
    schedule, zone = item.get("schedule"), item.get("timezone")
    recent, _cursor = queries.runs(engine, job=job, host=item["host"], limit=TIMELINE_RUNS)
    starts = [(_parse_time(run["started_at"]), str(run["status"])) for run in recent]
    runs = [(moment, status) for moment, status in starts if moment is not None]
    line = schedules.timeline(schedule, zone, [moment for moment, _ in runs], now,
                              since=_parse_time(item.get("first_seen_at")))  # fmt: skip
    return {
        "described": schedules.describe(schedule),
        "upcoming": schedules.upcoming(schedule, zone, now),
        "timeline": line,
        "chart": charts.run_timeline(line.start, line.end, runs, line.missed) if line else None,
        "missed_listed": line.missed[-MISSED_LISTED:][::-1] if line else [],
    }


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str, caller: Reader) -> Response:
    found = queries.run(request.app.state.engine, run_id)
    if found is None:
        raise ApiError(404, f"no run {run_id!r}")
    return render_page(request, "run.html", caller, run=found)


@router.get("/hosts")
def hosts_page(request: Request, caller: Reader) -> Response:
    return render_page(request, "hosts.html", caller, hosts=queries.hosts(request.app.state.engine))


@router.get("/load")
def load_page(
    request: Request, caller: Reader, host: Annotated[str | None, Query(max_length=255)] = None
) -> Response:
    """The schedule load map: job starts per minute over the next 24 hours."""
    found = load_map.load_map(request.app.state.engine, _now(), host or None)
    fleet_map = found if not host else None
    return render_page(request, "load.html", caller, load=found, host=host or "",
                       grid=charts.load_grid(found.hours(), found.start),
                       peaks=found.host_peaks() if fleet_map else [],
                       hours=load_map.HOURS)  # fmt: skip


ALERT_PAGE = 100  # alerts a page of the alert centre shows


@router.get("/alerts")
def alerts_page(request: Request, caller: Reader, listing: AlertQuery) -> Response:
    """The alert centre: open and acknowledged alerts by default (`state=all` for every
    one), newest first, with acknowledge and resolve buttons."""
    page = listing.page(request.app.state.engine, ALERT_PAGE, _now(), alert_centre.ACTIVE)
    found, next_cursor, cursor = page.alerts, page.next_cursor, listing.cursor
    filters = listing.filters()
    kept = {name: value for name, value in filters.items() if value}
    here = "/alerts" + ("?" + urlencode(kept | {"cursor": cursor}) if cursor else
                        "?" + urlencode(kept) if kept else "")  # fmt: skip
    return render_page(request, "alerts.html", caller, alerts=found, filters=filters,
                       filtered=bool(kept), here=here, silenced=page.silenced,
                       failing_channels=_failing_channels(request),
                       next_link="?" + urlencode(kept | {"cursor": next_cursor})
                       if next_cursor else "", first_link="?" + urlencode(kept) if cursor else "",
                       rules=alert_centre.RULES, severities=alert_centre.SEVERITIES,
                       states=alert_centre.STATES)  # fmt: skip


def _failing_channels(request: Request) -> list[dict[str, Any]]:
    """The channels delivery finds failing, as the alert centre warns of them."""
    health = channel_health(request.app.state.engine, request.app.state.delivery.config)
    return [
        {"name": channel.name, "since": channel.last_ok_at,
         "error": f"{channel.failures_in_row} attempts in a row failed, the last: "
                  f"{channel.last_error or 'no answer'}"}
        for channel in health if channel.failing
    ]  # fmt: skip


@router.post("/alerts/{alert_id}/{action}")
async def alert_action(
    request: Request,
    alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    action: str,
    caller: Annotated[Caller, Depends(require_actor)],
) -> Response:
    """The alert centre's buttons: `ack` or `resolve`, then back to the list shown."""
    form = await request.form()
    engine = request.app.state.engine
    if action == "ack":
        await run_in_threadpool(alert_centre.acknowledge, engine, alert_id, caller.name)
    elif action == "resolve":
        await run_in_threadpool(alert_centre.resolve, engine, alert_id, caller.name)
    else:
        raise ApiError(404, f"no action {action!r}; use ack or resolve")
    back = str(form.get("next", "/alerts"))
    return RedirectResponse(back if back.startswith("/alerts") else "/alerts", status_code=303)


@router.post("/jobs/{job}/action")
async def job_action(
    request: Request,
    job: str,
    caller: Annotated[Caller, Depends(require_actor)],
) -> Response:
    form = await request.form()
    action = str(form.get("action", ""))
    host = str(form.get("host", "")) or None
    await run_in_threadpool(actions.apply, request.app.state.engine, job, action, caller.name, host)
    return RedirectResponse(f"/jobs/{job}", status_code=303)
