"""The JSON API (v1): ingest for senders, reads and actions for people and scripts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from . import actions, alert_centre, fleet, heartbeats, load_map, queries, schedules
from .access import Caller, require_actor, require_reader, require_sender
from .batch import STRICT, Envelope, Rejection, parse_batch, refuse_hosts
from .errors import ApiError
from .ingest import now_utc
from .listings import AlertQuery, JobQuery
from .state import local_iso


class ErrorBody(BaseModel):
    """Every error the API answers: a sentence that names the problem and the fix."""

    error: str


_MEANING = {
    400: "malformed: not JSON, or a time that is not ISO 8601",
    401: "no credentials, or unknown ones",
    403: "these credentials may not do this (an ingest token reading, say)",
    404: "no such job, run, alert or action",
    409: "the alert is resolved already",
    413: "too many reports in one batch, or a body too large",
    422: "a value the API cannot take; the message names the field",
    503: "the database is unavailable; retry later (the sender keeps its spool)",
}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, for the OpenAPI document (so that clients, and the
    API fuzz test, know every status a route can give)."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}


router = APIRouter(prefix="/api/v1", responses=answers(401, 403, 422, 503))
Reader = Annotated[Caller, Depends(require_reader)]
Actor = Annotated[Caller, Depends(require_actor)]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit`."""
    declared = request.headers.get("content-length")
    too_large = ApiError(413, f"request body over {limit} bytes; send smaller batches")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


# The body as the OpenAPI document shows it (the route reads the bytes itself, see
# parse_batch): {"runs": [RunReport, ...]}, the models under components/schemas.
BATCH_SCHEMA_NAME = "RunBatch"
_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{BATCH_SCHEMA_NAME}"}}
    },
}


def batch_schemas() -> dict[str, Any]:
    """components/schemas entries for the POST /runs and POST /heartbeat bodies."""
    schema = Envelope.model_json_schema(ref_template="#/components/schemas/{model}")
    models = schema.pop("$defs", {})
    schema["title"] = BATCH_SCHEMA_NAME
    schema["description"] = (
        "A batch of run reports (at most 1,000 and 5 MiB), as smartcron-wrap writes them. "
        "Times are UTC from 2000 to 2199, and at most 5 minutes ahead of the collector's "
        "clock; values are taken in their own JSON type only; fields not listed are "
        "ignored. Each report is stored or rejected on its own."
    )
    beat = heartbeats.Heartbeat.model_json_schema(ref_template="#/components/schemas/{model}")
    models |= beat.pop("$defs", {})
    return {BATCH_SCHEMA_NAME: schema, "Heartbeat": beat, **models}


class RejectedReport(BaseModel):
    index: int
    run_id: str | None
    error: str


class IngestAnswer(BaseModel):
    """What became of each report of a batch: the rejected ones are listed."""

    accepted: int
    duplicates: int
    rejected: list[RejectedReport]


class IngestRefusal(BaseModel):
    """422: every report was rejected (then the counts and the list come too), or the
    body is not {"runs": [...]} (only `error`)."""

    error: str
    accepted: int | None = None
    duplicates: int | None = None
    rejected: list[RejectedReport] | None = None


_INGEST_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": IngestAnswer, "description": "at least one report stored or a duplicate"},
    **answers(400, 413),
    422: {"model": IngestRefusal, "description": "every report was rejected, or no runs list"},
}


# A body this small (a dozen reports at most; the wrapper POSTs one, about 1 KB) is parsed
# on the event loop: in well under a millisecond, less than the hop to a thread costs.
# A batch of 500 takes about 19 ms, and goes to the thread pool.
PARSE_ON_LOOP_BYTES = 16 * 1024


@router.post("/runs", responses=_INGEST_ANSWERS, openapi_extra={"requestBody": _REQUEST_BODY})
async def post_runs(request: Request, sender: Annotated[Caller, Depends(require_sender)]) -> Any:
    """Store a batch: each report is stored, a duplicate (by run_id), or rejected (a
    token bound to a host rejects the reports of every other host)."""
    settings = request.app.state.settings
    body = await read_body(request, settings.max_body_bytes)
    if len(body) > PARSE_ON_LOOP_BYTES:  # off the event loop (offload.py)
        batch = await request.app.state.parsers.run(parse_batch, body, settings.max_batch_reports)
    else:
        batch = parse_batch(body, settings.max_batch_reports)
    # On the loop: one comparison per host of the batch, and per report only when it mixes.
    batch = refuse_hosts(batch, sender.refusal_for)
    stored = await request.app.state.writer.ingest(batch.reports)
    rejected = batch.rejected + [
        Rejection(batch.indices[position], str(batch.reports[position].run_id),
                  f"runs[{batch.indices[position]}].{reason}")
        for position, reason in stored.refused.items()
    ]  # fmt: skip
    rejected.sort(key=lambda rejection: rejection.index)
    answer = {"accepted": stored.accepted, "duplicates": stored.duplicates,
              "rejected": [rejection.as_json() for rejection in rejected]}  # fmt: skip
    if rejected and not stored.accepted and not stored.duplicates:
        more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
        return JSONResponse({"error": f"{rejected[0].error}{more}", **answer}, 422)
    return answer


@router.get("/status")
def get_status(request: Request, _: Reader) -> Any:
    return fleet.status(request.app.state.engine)


@router.get("/jobs")
def get_jobs(
    request: Request,
    _: Reader,
    listing: JobQuery,
    limit: Annotated[int, Query(ge=1, le=fleet.MAX_PAGE)] = fleet.PAGE,
) -> Any:
    """Jobs worst first, filtered by `state` (one or several), `host`, `tag` and `q` (a
    part of the name); `next_cursor` → `cursor`."""
    page = listing.page(request.app.state.engine, limit)
    return {"jobs": page.jobs, "next_cursor": page.next_cursor}


@router.get("/jobs/{job}", responses=answers(404))
def get_job(request: Request, job: str, _: Reader) -> Any:
    engine = request.app.state.engine
    per_host = queries.jobs(engine, job)
    if not per_host:
        raise ApiError(404, f"no job named {job!r}")
    recent, _cursor = queries.runs(engine, job=job, limit=20)
    now = now_utc()
    for item in per_host:
        schedule, zone = item["schedule"], item["timezone"]
        upcoming = schedules.upcoming(schedule, zone, now)
        item["schedule_text"] = schedules.describe(schedule)
        item["next_runs"] = [queries.iso(moment) for moment in upcoming]
        item["next_runs_local"] = [local_iso(moment, zone) for moment in upcoming]
    return {"job": job, "hosts": per_host, "recent_runs": recent}


@router.get("/schedule-load")
def get_schedule_load(
    request: Request,
    _: Reader,
    host: Annotated[str | None, Query(max_length=255)] = None,
    hours: Annotated[int, Query(ge=1, le=48)] = load_map.HOURS,
) -> Any:
    """Job starts per minute over the next `hours` hours (UTC), for every host or one:
    `minutes[i]` counts the scheduled, unpaused jobs that start at `start` + i minutes."""
    found = load_map.load_map(request.app.state.engine, now_utc(), host or None, hours)
    return {
        "start": queries.iso(found.start),
        "hours": hours,
        "host": host or None,
        "jobs": found.jobs,
        "schedules": found.schedules,
        "unreadable_jobs": found.unreadable,
        "minutes": found.minutes,
        "busiest": [{"minute": queries.iso(moment), "jobs": count}
                    for moment, count in found.busiest()],
        "hosts": [{"host": name, "starts": starts, "busiest_minute": queries.iso(peak),
                   "busiest_jobs": count} for name, starts, peak, count in found.host_peaks()],
    }  # fmt: skip


def _time(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    # OverflowError: a time at the edge of year 1 or 9999 that its offset moves out of range.
    except (ValueError, OverflowError):
        raise ApiError(400, f"{name}: {value!r} is not an ISO 8601 time") from None
    return moment


@router.get("/runs", responses=answers(400))
def get_runs(
    request: Request,
    _: Reader,
    job: str | None = None,
    host: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    try:
        rows, next_cursor = queries.runs(
            request.app.state.engine,
            job=job,
            host=host,
            status_is=status,
            since=_time(since, "since"),
            until=_time(until, "until"),
            cursor=cursor,
            limit=limit,
        )
    except queries.CursorError as error:
        raise ApiError(422, f"cursor: {error}") from None
    return {"runs": rows, "next_cursor": next_cursor}


@router.get("/runs/{run_id}", responses=answers(404))
def get_run(request: Request, run_id: str, _: Reader) -> Any:
    found = queries.run(request.app.state.engine, run_id)
    if found is None:
        raise ApiError(404, f"no run {run_id!r}")
    return found


@router.get("/metrics")
def get_metrics(
    request: Request,
    _: Reader,
    hours: Annotated[int, Query(ge=1, le=24 * 90)] = 24,
    job: str | None = None,
) -> Any:
    return {"hours": hours, "series": queries.hourly(request.app.state.engine, hours, job)}


@router.get("/logs", responses=answers(404))
def get_logs(
    request: Request,
    _: Reader,
    job: str,
    lines: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Any:
    engine = request.app.state.engine
    if not queries.job_exists(engine, job):
        raise ApiError(404, f"no job named {job!r}")
    return {"job": job, "lines": queries.log_lines(engine, job, lines)}


@router.get("/hosts")
def get_hosts(request: Request, _: Reader) -> Any:
    return {"hosts": queries.hosts(request.app.state.engine)}


@router.post("/jobs/{job}/{action}", responses=answers(404))
def post_action(
    request: Request, job: str, action: str, caller: Actor, host: str | None = None
) -> Any:
    changed = actions.apply(request.app.state.engine, job, action, caller.name, host)
    return {"job": job, "action": action, "changed": changed}


@router.get("/alerts")
def get_alerts(
    request: Request,
    _: Reader,
    listing: AlertQuery,
    limit: Annotated[int, Query(ge=1, le=alert_centre.MAX_PAGE)] = alert_centre.PAGE,
) -> Any:
    """Alerts, newest first, a page at a time: `state` (open, acknowledged, resolved; one
    or several, `open,acknowledged`; none: all), `rule`, `severity`, `host`, `job`;
    `next_cursor` → `cursor`. `silenced_now` says what silences each one now."""
    page = listing.page(request.app.state.engine, limit, now_utc())
    for item in page.alerts:
        item["silenced_now"] = [s.text for s in page.silenced.get((item["job"], item["host"]), [])]
    return {"alerts": page.alerts, "next_cursor": page.next_cursor}


AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("/alerts/{alert_id}/ack", responses=answers(404, 409))
def post_alert_ack(request: Request, alert_id: AlertId, caller: Actor) -> Any:
    """Acknowledge an alert: its reminders stop (audited)."""
    return alert_centre.acknowledge(request.app.state.engine, alert_id, caller.name)


@router.post("/alerts/{alert_id}/resolve", responses=answers(404))
def post_alert_resolve(request: Request, alert_id: AlertId, caller: Actor) -> Any:
    """Resolve an alert by hand (audited); the channels get its resolved notice."""
    return alert_centre.resolve(request.app.state.engine, alert_id, caller.name)


HEARTBEAT_MAX_BYTES = 1024 * 1024


_HEARTBEAT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Heartbeat"}}},
}


@router.post(
    "/heartbeat", responses=answers(400, 413), openapi_extra={"requestBody": _HEARTBEAT_BODY}
)
async def post_heartbeat(
    request: Request, sender: Annotated[Caller, Depends(require_sender)]
) -> Any:
    """The agent's heartbeat: host health, runs in flight, jobs found in crontabs (403
    from a token bound to another host)."""
    body = await read_body(request, HEARTBEAT_MAX_BYTES)
    try:
        beat = heartbeats.Heartbeat.model_validate_json(body, strict=STRICT)
    except ValidationError as error:
        first = error.errors()[0]
        if not first["loc"] and first["type"] == "json_invalid":
            raise ApiError(400, f"body is not valid JSON: {first['msg']}") from None
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(422, f"{field}: {first['msg']}") from None
    sender.require_host(beat.host)
    try:
        # In the thread pool, as ingest's writes are: storing is a transaction (an fsync
        # on MySQL), and on the event loop it would stall every other request meanwhile,
        # the heartbeats of a fleet queueing behind each other's commits.
        await run_in_threadpool(heartbeats.store_heartbeat, request.app.state.engine, beat)
    except heartbeats.TooLarge as error:
        raise ApiError(413, str(error)) from None
    return {"host": beat.host, "stored": True}


@router.get("/control")
def get_control(
    request: Request,
    sender: Annotated[Caller, Depends(require_sender)],
    host: Annotated[str, Query(min_length=1, max_length=255)],
) -> Any:
    """The host's pauses and breaker resets, as the wrapper's control.json holds them
    (403 to a token bound to another host)."""
    sender.require_host(host)
    return heartbeats.control_for(request.app.state.engine, host)
