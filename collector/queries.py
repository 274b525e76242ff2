"""The read side: what the JSON API and the summary page show.

Queries go through indexes sized for a million runs: the summary reads each
job's last RECENT runs by (job, host, started_at), all jobs in one or a few
statements, never a scan of history.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from smartcron.wrapper.schema import FAILED_STATUSES, SKIPPED_STATUSES
from sqlalchemy import Engine, Integer, and_, desc, func, or_, select, text

from . import rollups
from .charts import SPARK_SLOTS
from .clocks import read_clock
from .db import tables
from .db.engine import is_mysql
from .ingest import now_utc
from .registry import crontab_listing
from .state import grace, local_iso

# Runs per job behind the summary's success rate, p95 and peak memory: the runs its
# sparkline draws, so that the figures and the bars beside them tell of the same runs.
RECENT = SPARK_SLOTS
# Jobs per statement when reading recent runs; SQLite allows 500 parts in a UNION.
KEYS_PER_QUERY = 400
FAILED = FAILED_STATUSES
SKIPPED = SKIPPED_STATUSES
DAY = dt.timedelta(days=1)
HEALTH_ORDER = {"failing": 0, "late": 1, "running": 2, "degraded": 3, "paused": 4, "healthy": 5}
# Times the API gives again in the job's own zone, as `NAME_local`.
ZONED_TIMES = ("last_started_at", "next_expected_at", "late_after_at", "missed_at")
# Reads that run beside a request's other reads (a thread each, a pool connection each).
_BESIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="smartcron-read")


# A time as SQLite's views return it: text, "2030-01-01 12:00:00.123456".
_TEXT_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?")


def iso(value: Any) -> Any:
    if type(value) is dt.datetime:
        # Stored times are naive UTC (a driver could hand back an aware one: drop it).
        return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    if type(value) is str and _TEXT_TIME.fullmatch(value):
        # Only a whole time: a command or reason with a space in it is no time.
        return value.replace(" ", "T") + "Z"
    return value


def _row(mapping: Any) -> dict[str, Any]:
    return {key: iso(value) for key, value in dict(mapping).items()}


# Columns named apart from the report's fields only because the names are SQL keywords
# (USER, TRIGGER, SIGNAL): a stored run is read back under the report's names.
_REPORT_NAMES = {"run_user": "user", "run_trigger": "trigger", "signal_number": "signal"}


def _run_row(mapping: Any) -> dict[str, Any]:
    """A stored run with the run report's field names, and its tags as a list again."""
    item = {_REPORT_NAMES.get(key, key): value for key, value in _row(mapping).items()}
    if "tags" in item:
        # Stored comma-joined: a tag is a name, which holds no comma.
        item["tags"] = item["tags"].split(",") if item["tags"] else []
    return item


def p95(values: list[float]) -> float | None:
    """Nearest-rank p95, the same rule as the views (position ceil(0.95 n))."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[(95 * len(ordered) + 99) // 100 - 1]


def recent_runs(engine: Engine, job: str, host: str, limit: int = RECENT) -> list[dict[str, Any]]:
    r = tables.runs.c
    query = (
        select(r.run_id, r.status, r.started_at, r.duration_s, r.peak_rss_bytes, r.exit_code)
        .where(r.job == job, r.host == host, r.status.not_in(SKIPPED))
        .order_by(desc(r.started_at))
        .limit(limit)
    )
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def recent_runs_by_job(
    engine: Engine, keys: list[tuple[str, str]], limit: int = RECENT
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The last `limit` real runs of each (job, host), newest first.

    One statement per KEYS_PER_QUERY jobs instead of one per job: a UNION ALL of
    per-job parts, each a short backward read of ix_runs_job_started, which holds
    every column used here (the table itself is never read). For 200 jobs that is
    6,000 runs, and decoding them was most of what the summary page cost: on MySQL
    each part comes back as one row, its runs packed into one string by the server.
    MySQL answers a statement on one core: a long list is read there as two halves,
    on two connections at once.
    """
    half = len(keys) // 2
    if is_mysql(engine) and half >= 50:
        first = _BESIDE.submit(_recent_runs, engine, keys[:half], limit)
        second = _recent_runs(engine, keys[half:], limit)
        return first.result() | second  # in the order of `keys`
    return _recent_runs(engine, keys, limit)


def _recent_runs(
    engine: Engine, keys: list[tuple[str, str]], limit: int
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    found: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in keys}
    packed = is_mysql(engine)
    with engine.connect() as connection:
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            params: dict[str, Any] = {}
            for number, (job, host) in enumerate(chunk):
                params[f"j{number}"], params[f"h{number}"] = job, host
            statement = _recent_runs_statement(len(chunk), limit, packed)
            if packed:
                for part, runs in connection.execute(statement, params):
                    found[chunk[part]] = _unpack_runs(runs)
                continue
            for part, status, duration_s, peak_rss_bytes in connection.execute(statement, params):
                found[chunk[part]].append(
                    {"status": status, "duration_s": duration_s, "peak_rss_bytes": peak_rss_bytes}
                )
    return found


# One run in the packed form: status, duration and peak memory (empty when unknown: a
# lost run has no duration, and CONCAT with a NULL in it is NULL).
_PACKED_RUN = "CONCAT(status, ':', COALESCE(duration_s, ''), ':', COALESCE(peak_rss_bytes, ''))"


@functools.lru_cache(maxsize=64)
def _recent_runs_statement(count: int, limit: int, packed: bool) -> Any:
    # Text, built once per size: the same statement as SQLAlchemy constructs costs more
    # to assemble (a column proxy per part and column) than the database takes to run it.
    skipped = ", ".join(f"'{status}'" for status in SKIPPED)
    # On MySQL the index is named: with 212 parts, choosing among the four indexes that
    # could serve each part took the server longer than reading the runs (0.4 ms a part).
    hint = " FORCE INDEX (ix_runs_job_started)" if packed else ""
    recent = (
        "SELECT status, duration_s, peak_rss_bytes, started_at FROM smartcron_runs" + hint + " "
        "WHERE job = :j{n} AND host = :h{n} AND status NOT IN (" + skipped + ") "
        f"ORDER BY started_at DESC LIMIT {int(limit)}"
    )
    if packed:
        # MySQL's GROUP_CONCAT keeps the order asked for (SQLite's only since 3.44).
        # group_concat_max_len is raised for every connection (db/engine.py).
        parts = [
            f"SELECT {n} AS part, GROUP_CONCAT({_PACKED_RUN} ORDER BY started_at DESC "
            f"SEPARATOR ' ') AS runs FROM ({recent.format(n=n)}) AS p{n} HAVING COUNT(*) > 0"
            for n in range(count)
        ]
        return text(" UNION ALL ".join(parts))
    parts = [
        f"SELECT {n} AS part, status, duration_s, peak_rss_bytes, started_at "
        f"FROM ({recent.format(n=n)}) AS p{n}"
        for n in range(count)
    ]
    return text(
        "SELECT part, status, duration_s, peak_rss_bytes FROM ("
        + " UNION ALL ".join(parts)
        + ") AS recent ORDER BY part, started_at DESC"
    )


def _unpack_runs(packed: str) -> list[dict[str, Any]]:
    runs = []
    for item in packed.split(" "):
        status, duration_s, peak = item.split(":")
        runs.append({"status": status, "duration_s": float(duration_s) if duration_s else None,
                     "peak_rss_bytes": int(peak) if peak else None})  # fmt: skip
    return runs


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    # A lost run is a run (and a failure) but no duration: out of p95 and the sparkline.
    durations = [float(run["duration_s"]) for run in runs if run["duration_s"] is not None]
    memory = [int(run["peak_rss_bytes"]) for run in runs if run["peak_rss_bytes"] is not None]
    successes = sum(1 for run in runs if run["status"] == "success")
    return {
        "recent_runs": len(runs),
        "success_rate_pct": round(100 * successes / len(runs), 1) if runs else None,
        "p95_duration_s": p95(durations),
        "max_peak_rss_bytes": max(memory) if memory else None,
        # Oldest first, as a sparkline reads left to right.
        "sparkline": [
            {"duration_s": run["duration_s"], "status": run["status"]}
            for run in reversed(runs)
            if run["duration_s"] is not None
        ][-30:],
    }


def jobs(engine: Engine, job: str | None = None) -> list[dict[str, Any]]:
    """Every job on every host (or every host of `job`) with its state, last run, next
    run and recent figures, worst first. The API and the summary page page the fleet
    with collector/fleet.py instead; this is for one job's hosts."""
    j = tables.jobs.c
    query = select(tables.jobs).order_by(j.job, j.host)
    if job is not None:
        query = query.where(j.job == job)
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    result = describe_jobs(engine, rows)
    result.sort(key=lambda i: (HEALTH_ORDER.get(i["state"], 9), i["priority"], i["job"]))
    return result


def describe_jobs(engine: Engine, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API's item for each smartcron_jobs row, in the order given: the stored state,
    with the 24-hour counts and recent figures read for these jobs only."""
    keys = [(row["job"], row["host"]) for row in rows]
    counted = _BESIDE.submit(rollups.job_day_counts, engine, keys, now_utc())
    recent = recent_runs_by_job(engine, keys)
    counts = counted.result()
    result = []
    for row in rows:
        item = _row(row)
        item["paused"] = bool(row["paused"])
        # The state as collector/state.py stored it on the row; review_at is its own.
        item["reason"] = item.pop("state_reason")
        del item["review_at"]
        item["timezone"] = row["timezone"] or "UTC"
        item["expect"] = expectations(row, item)
        for name in ZONED_TIMES:
            item[f"{name}_local"] = local_iso(_naive_or_none(row[name]), row["timezone"])
        item["runs_24h"], item["failures_24h"] = counts.get((row["job"], row["host"]), (0, 0))
        item |= summarise(recent[(row["job"], row["host"])])
        result.append(item)
    return result


EXPECT_FIELDS = ("grace_s", "min_duration_s", "max_duration_s", "alert_after")


def expectations(row: Any, item: dict[str, Any]) -> dict[str, Any]:
    """The job's `expect` as its latest run set it (null: not set), moved out of `item`,
    with the grace the run owed now has (the line's, or the default by the schedule)."""
    found = {name: item.pop(name) for name in EXPECT_FIELDS}
    owed = _naive_or_none(row["missed_at"]) or _naive_or_none(row["next_expected_at"])
    applied = None
    if row["schedule"] and owed is not None:
        applied = grace(row["schedule"], row["timezone"], row["grace_s"], owed).total_seconds()
    found["grace_default"] = row["grace_s"] is None
    found["grace_applied_s"] = applied
    return found


def runs(
    engine: Engine,
    *,
    job: str | None = None,
    host: str | None = None,
    status_is: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of runs, newest first by start time, and the cursor of the next page.

    The cursor is the last row's (started_at, id): a keyset, so a page never
    repeats or skips a run, even while reports arrive, and runs delivered late
    from a spool land where their start time puts them.
    """
    r = tables.runs.c
    conditions = []
    if job:
        conditions.append(r.job == job)
    if host:
        conditions.append(r.host == host)
    if status_is:
        conditions.append(r.status == status_is)
    if since:
        conditions.append(r.started_at >= since)
    if until:
        conditions.append(r.started_at < until)
    if cursor:
        after_started, after_id = parse_cursor(cursor)
        conditions.append(
            or_(r.started_at < after_started, and_(r.started_at == after_started, r.id < after_id))
        )
    query = (
        select(tables.runs)
        .where(and_(*conditions))
        .order_by(desc(r.started_at), desc(r.id))
        .limit(limit + 1)
    )
    with engine.connect() as connection:
        raw = [dict(row) for row in connection.execute(query).mappings()]
    next_cursor = None
    if len(raw) > limit:
        last = raw[limit - 1]
        next_cursor = (
            f"{_naive(last['started_at']).isoformat(timespec='microseconds')}~{last['id']}"
        )
    return [_run_row(row) for row in raw[:limit]], next_cursor


class CursorError(ValueError):
    """A cursor this collector did not hand out."""


def parse_cursor(cursor: str) -> tuple[dt.datetime, int]:
    moment, _, ident = cursor.partition("~")
    try:
        started = dt.datetime.fromisoformat(moment)
        number = int(ident)
    except ValueError:
        raise CursorError(f"cursor {cursor!r} is not one this API handed out") from None
    if started.tzinfo is not None or not 0 < number < 2**63:
        raise CursorError(f"cursor {cursor!r} is not one this API handed out")
    return started, number


def _naive_or_none(value: Any) -> dt.datetime | None:
    return None if value is None else _naive(value)


def _naive(value: Any) -> dt.datetime:
    """SQLite hands times back as text, MySQL as datetime."""
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def run(engine: Engine, run_id: str) -> dict[str, Any] | None:
    query = (
        select(tables.runs, tables.run_output.c.attempts, tables.run_output.c.stdout_tail,
               tables.run_output.c.stderr_tail)
        .select_from(tables.runs.outerjoin(
            tables.run_output, tables.run_output.c.run_id == tables.runs.c.run_id))
        .where(tables.runs.c.run_id == run_id)
    )  # fmt: skip
    with engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    if row is None:
        return None
    item = _run_row(row)
    item["attempts"] = json.loads(row["attempts"]) if row["attempts"] else []
    return item


def hosts(engine: Engine) -> list[dict[str, Any]]:
    j = tables.jobs.c
    per_host = (
        select(j.host, func.count().label("jobs"), func.max(j.last_started_at).label("last_run_at"))
        .group_by(j.host)
        .subquery()
    )
    with engine.connect() as connection:
        known = {
            row["host"]: _row(row) for row in connection.execute(select(tables.hosts)).mappings()
        }
        counted = {
            row["host"]: _row(row) for row in connection.execute(select(per_host)).mappings()
        }
    names = sorted(set(known) | set(counted))
    result = []
    for name in names:
        item = {"host": name, "jobs": 0, "last_run_at": None, "last_seen_at": None,
                "agent_version": None, "health": None, "clock_ahead_s": None,
                "clock_checked_at": None, "crontab": None}  # fmt: skip
        item |= counted.get(name, {})
        item |= {
            k: v for k, v in known.get(name, {}).items() if k in ("last_seen_at", "agent_version")
        }
        health_text = known.get(name, {}).get("health")
        item["health"] = json.loads(health_text) if health_text else None
        item["crontab"] = crontab_listing(item["health"])
        # How far the host's clock was ahead in its newest reports (clocks.py).
        clock = read_clock(item["health"])
        if clock is not None:
            item["clock_ahead_s"], item["clock_checked_at"] = clock["ahead_s"], clock["checked_at"]
        result.append(item)
    return result


def hourly(engine: Engine, hours: int, job: str | None = None) -> list[dict[str, Any]]:
    """Runs, failures and durations per hour over the last `hours` hours."""
    r = tables.runs.c
    if is_mysql(engine):
        bucket = func.date_format(r.started_at, "%Y-%m-%d %H:00:00")
    else:
        bucket = func.strftime("%Y-%m-%d %H:00:00", r.started_at)
    conditions = [r.started_at >= now_utc() - dt.timedelta(hours=hours), r.status.not_in(SKIPPED)]
    if job:
        conditions.append(r.job == job)
    query = (
        select(
            bucket.label("hour"),
            func.count().label("runs"),
            func.sum(r.status.in_(FAILED).cast(Integer)).label("failures"),
            func.avg(r.duration_s).label("avg_duration_s"),
            func.max(r.duration_s).label("max_duration_s"),
            func.max(r.peak_rss_bytes).label("max_peak_rss_bytes"),
        )
        .where(*conditions)
        .group_by(bucket)
        .order_by(bucket)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).mappings()
        return [
            {
                "hour": str(row["hour"]).replace(" ", "T") + "Z",
                "runs": int(row["runs"]),
                "failures": int(row["failures"] or 0),
                # None for an hour of lost runs only: AVG and MAX skip a null duration.
                "avg_duration_s": _rounded(row["avg_duration_s"]),
                "max_duration_s": _rounded(row["max_duration_s"]),
                "max_peak_rss_bytes": row["max_peak_rss_bytes"],
            }
            for row in rows
        ]


def _rounded(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds), 3)


def log_lines(engine: Engine, job: str, lines: int) -> list[dict[str, Any]]:
    """The last `lines` lines of the job's output, oldest first, from its latest runs."""
    r, o = tables.runs.c, tables.run_output.c
    query = (
        select(r.run_id, r.host, r.started_at, o.stdout_tail, o.stderr_tail)
        .select_from(tables.runs.join(tables.run_output, o.run_id == r.run_id))
        .where(r.job == job)
        .order_by(desc(r.started_at))
        .limit(max(1, min(lines, 200)))
    )
    collected: list[dict[str, Any]] = []
    with engine.connect() as connection:
        for row in connection.execute(query).mappings():
            block = []
            for stream in ("stdout", "stderr"):
                for line in (row[f"{stream}_tail"] or "").splitlines():
                    block.append({"run_id": row["run_id"], "host": row["host"],
                                  "started_at": iso(row["started_at"]), "stream": stream,
                                  "line": line})  # fmt: skip
            collected[:0] = block
            if len(collected) >= lines:
                break
    return collected[-lines:] if lines > 0 else []


def job_exists(engine: Engine, job: str) -> bool:
    with engine.connect() as connection:
        return (
            connection.execute(
                select(tables.jobs.c.job).where(tables.jobs.c.job == job).limit(1)
            ).first()
            is not None
        )
