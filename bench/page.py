"""The summary page, the status API and the performance view over a million runs.

    .venv/bin/python bench/page.py [--jobs 212] [--hosts 8] [--runs 1000000] [--requests 60]
    .venv/bin/python bench/page.py --jobs 10000 --hosts 200 --runs 10000000   # a fleet

Loads a database of the benchmark's own (smartcron_bench_page, or --database; dropped at
the end unless --keep) with --jobs jobs on --hosts hosts and their runs over the last
--days days (by default as many days as --runs takes, at most 45):
five-minute, quarter-hourly, hourly and daily schedules, a realistic status mix
(mostly success, some flaky jobs, timeouts, skips, a lost run now and then),
per-job durations and memory with noise, an output row per run, the jobs' state rows
as ingest leaves them (one paused, one with its breaker open, one late), hosts and a
few open alerts. The runs are made by the server itself (bench/page_runs.py: INSERT ...
SELECT from seq_0_to_N, in start order), with the triggers and keys of the runs and
their output set aside meanwhile; the aggregate tables are then filled from the runs by
the migrations' own backfills (bench/aggregates.py), whether ingest or (before revision
0017) triggers keep them. --reuse runs init-db on the kept database first.

Then a real `smartcron-collector serve` answers, one request at a time on a keep-alive
connection with an admin bearer token, --requests GETs each of / (Accept: text/html),
/api/v1/status, /api/v1/jobs?state=failing and one job's page after a few warm-ups, and
/metrics (its first scrape, then 20 more, with no target); and the `mysql` client times
SELECT * FROM every smartcron_v_* view, --view-repeats times each. Prints p50/p95 and
the median; never asserts.

    .venv/bin/python bench/page.py --compare MAIN/.venv/bin/smartcron-collector

measures another build (main's, installed in a virtualenv of its own) on the same rows:
its init-db makes the schema, the rows are loaded, it answers the same requests and its
views are timed; then this build's `migrate` brings the database to this revision
(timed, printed) and this build answers. Each row gives this build's figure, the other's
and the ratio of the two; the target decides PASS or MISS. With --reuse, the kept
database must still be at the other build's revision (a database this build migrated
is past it: reload it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.aggregates import (
    existing_tables,
    fill_aggregates,
    keys_set_aside,
    table_columns,
    triggers_set_aside,
)
from bench.collector_support import (
    COLLECTOR,
    Server,
    collector_cli,
    own_database,
    print_table,
    serve,
    token,
)
from bench.page_runs import Plan, cutoff, insert_runs, latest_runs, phase_of
from bench.table import BenchError, Row

DATABASE = "smartcron_bench_page"
# The jobs rows' columns as load() fills them, in the order of its tuples.
JOB_COLUMNS = ("job", "host", "schedule", "priority", "command", "first_seen_at",
               "last_run_id", "last_status", "last_started_at", "last_finished_at",
               "last_success_at", "last_duration_s", "next_expected_at", "late_after_at",
               "breaker_state", "paused", "paused_at", "paused_by", "timezone", "state",
               "state_reason", "missed_at", "review_at", "last_failure_at")  # fmt: skip
HOSTS = ["web1", "web2", "web3", "web4", "db1", "db2", "worker1", "worker2"]
KINDS = ["backup", "report", "sync", "cleanup", "etl", "mail", "index", "export", "import",
         "billing", "cache", "audit", "rotate", "digest"]  # fmt: skip
# (cron schedule, minutes between runs, how many of 212 jobs): other --jobs keep the mix
SCHEDULES = [("*/5 * * * *", 5, 60), ("*/15 * * * *", 15, 40), ("7 * * * *", 60, 62),
             ("30 2 * * *", 1440, 50)]  # fmt: skip
MIX_TOTAL = sum(count for _, _, count in SCHEDULES)
TARGET_PAGE_S, TARGET_VIEW_S = 0.200, 1.0


@dataclass
class Job:
    name: str
    host: str
    schedule: str
    period_min: int
    duration_s: float  # typical
    memory: int  # typical peak RSS, bytes
    failure_rate: float
    priority: int
    stop_before: dt.datetime | None = None  # no runs after this: the job is late


def host_names(count: int) -> list[str]:
    """Today's eight named hosts, or a fleet's numbered ones."""
    return HOSTS[:count] if count <= len(HOSTS) else [f"host{n:03d}" for n in range(count)]


def schedule_counts(total: int) -> list[int]:
    """How many jobs get each schedule: the 212-job mix scaled to `total`."""
    counts = [total * count // MIX_TOTAL for _, _, count in SCHEDULES]
    counts[0] += total - sum(counts)
    return counts


def runs_per_day(total: int) -> float:
    counts = schedule_counts(total)
    return sum(
        count * 1440 / period for (_, period, _), count in zip(SCHEDULES, counts, strict=True)
    )


def make_jobs(rng: random.Random, total: int, hosts: list[str]) -> list[Job]:
    jobs = []
    n = 0
    width = max(3, len(str(total - 1)))
    for (schedule, period, _), count in zip(SCHEDULES, schedule_counts(total), strict=True):
        for _ in range(count):
            kind = KINDS[n % len(KINDS)]
            flaky = rng.random() < 0.08
            jobs.append(Job(
                name=f"{kind}_{n:0{width}d}", host=hosts[n % len(hosts)], schedule=schedule,
                period_min=period,
                duration_s=rng.lognormvariate(2.0 if period > 5 else 0.5, 1.3 if period > 5 else 1),
                memory=int(rng.lognormvariate(18.5, 1.0)),
                failure_rate=rng.uniform(0.05, 0.3) if flaky else rng.uniform(0.0, 0.02),
                priority=rng.choice([1, 3, 5, 5, 5, 7, 10]),
            ))  # fmt: skip
            n += 1
    return jobs


def plans_of(jobs: list[Job], base: dt.datetime, now: dt.datetime) -> list[Plan]:
    """The jobs as the SQL generator reads them: each one's cron minutes since `base`.
    The state rows then expect the next run when cron would start it, and only the late
    job is late."""
    periods = {schedule: period for schedule, period, _ in SCHEDULES}

    def minutes(moment: dt.datetime) -> int:
        return math.ceil((moment - base).total_seconds() / 60)

    return [
        Plan(job.name, job.host, job.schedule, job.priority, periods[job.schedule],
             phase_of(job.schedule, periods[job.schedule], base),
             minutes((job.stop_before or now) - dt.timedelta(minutes=1)), job.duration_s,
             job.memory, job.failure_rate)
        for job in jobs
    ]  # fmt: skip


def load(server: Server, database: str, jobs: list[Job], args: argparse.Namespace,
         now: dt.datetime, hosts: list[str]) -> int:  # fmt: skip
    """The newest --runs runs of `jobs` over at most --days days, made by the server (the
    triggers and keys set aside meanwhile, the aggregates filled from the runs after),
    then the jobs' state rows as ingest leaves them, hosts and a few open alerts; the
    number of runs."""
    from smartcron.collector.state import JobFacts, decide_state

    first_day = (now - dt.timedelta(days=args.days)).replace(hour=0, minute=0, second=0,
                                                              microsecond=0)  # fmt: skip
    plans = plans_of(jobs, first_day, now)
    now_minute = int((now - first_day).total_seconds() // 60)
    earliest = math.ceil((now - dt.timedelta(days=args.days) - first_day).total_seconds() / 60)
    start = cutoff(plans, args.runs, earliest, now_minute)
    with server.connect(database, autocommit=False) as connection:
        cursor = connection.cursor()
        cursor.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
        began = time.perf_counter()
        with (
            triggers_set_aside(cursor, "smartcron_runs"),
            keys_set_aside(cursor, "smartcron_runs"),
            keys_set_aside(cursor, "smartcron_run_output", primary=True),
        ):
            lost = table_columns(cursor, "smartcron_runs")["finished_at"]
            total = insert_runs(connection, plans, first_day, start, now, args.seed, lost)
            inserted_s = time.perf_counter() - began
        keyed_s = time.perf_counter() - began - inserted_s
        skipped = fill_aggregates(cursor)
        connection.commit()
        filled_s = time.perf_counter() - began - inserted_s - keyed_s
        print(f"runs and output rows inserted in {inserted_s:.0f} s, keys built in "
              f"{keyed_s:.0f} s, aggregates filled in {filled_s:.0f} s"
              + (f" (not in this schema: {', '.join(skipped)})" if skipped else ""))  # fmt: skip
        latest = latest_runs(cursor, plans)
        rows = []
        for n, job in enumerate(jobs):
            key = (job.name, job.host)
            if key not in latest:
                # No run among the newest --runs (a daily job, with a short history):
                # it never reported, so it has no row.
                continue
            run_id, status, started, finished, duration, last_success, last_failure = latest[key]
            paused = n == 7
            breaker = "open" if n == 11 else "closed"
            paused_at = now - dt.timedelta(hours=3) if paused else None
            decided = decide_state(JobFacts(
                schedule=job.schedule, timezone="UTC", first_seen_at=now - dt.timedelta(days=90),
                last_status=status, last_started_at=started, last_duration_s=duration,
                breaker_state=breaker, paused=paused, paused_by="admin" if paused else None,
                paused_at=paused_at, last_failure_at=last_failure,
            ), now)  # fmt: skip
            rows.append((
                job.name, job.host, job.schedule, job.priority,
                f"/usr/local/bin/{job.name} --quiet", now - dt.timedelta(days=90), run_id,
                status, started, finished, last_success, duration,
                decided.next_expected_at, decided.late_after_at, breaker, int(paused),
                paused_at, "admin" if paused else None, "UTC", decided.state, decided.reason,
                decided.missed_at, decided.review_at, last_failure,
            ))  # fmt: skip
        # The columns this schema has: an older build's (--compare) lacks the state ones.
        present = table_columns(cursor, "smartcron_jobs")
        kept = [n for n, name in enumerate(JOB_COLUMNS) if name in present]
        cursor.executemany(
            f"INSERT INTO smartcron_jobs ({', '.join(JOB_COLUMNS[n] for n in kept)})"
            f" VALUES ({', '.join(['%s'] * len(kept))})",
            [tuple(row[n] for n in kept) for row in rows],
        )
        health = json.dumps({"load1": 0.4, "disk_free_pct": 61, "running": 2})
        cursor.executemany(
            "INSERT INTO smartcron_hosts (host, first_seen_at, last_seen_at, agent_version,"
            " health) VALUES (%s, %s, %s, '0.1.0', %s)",
            [(h, now - dt.timedelta(days=90), now - dt.timedelta(seconds=20), health)
             for h in hosts],
        )  # fmt: skip
        last = {key: run[1] for key, run in latest.items()}
        failing = [j for j in jobs if last.get((j.name, j.host), "success") != "success"]
        # As the alert engine opens one (revision 0008's columns; open_key 1: open).
        opened = now - dt.timedelta(minutes=30)
        if "rule" not in table_columns(cursor, "smartcron_alerts"):
            failing = []  # alerts before revision 0008's: none open
        cursor.executemany(
            "INSERT INTO smartcron_alerts (job, host, rule, severity, summary, detail,"
            " opened_at, instant, last_seen_at, open_key)"
            " VALUES (%s, %s, 'failed', 'high', %s, 'the last run failed', %s, %s, %s, 1)",
            [(j.name, j.host, f"{j.name}: failed", opened, opened, opened) for j in failing[:5]],
        )
        connection.commit()
        cursor.execute("ANALYZE TABLE smartcron_runs, smartcron_run_output, smartcron_jobs")
        cursor.fetchall()
    return total


# -- measuring -------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest rank: the value at position ceil(pct/100 * n) in order."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * pct / 100) - 1)]


@dataclass
class Series:
    """Timings in seconds. `stopped`: one took past its time limit (a GET past
    --request-timeout, a view the server stopped at --view-timeout) and ended the
    series: old code on a fleet's rows can take minutes, and its figure is then "more
    than the limit", not a reason to stop the run."""

    timings: list[float]
    stopped: bool = False


def time_gets(port: int, path: str, headers: dict[str, str], count: int, warmups: int,
              expect: str, timeout: float = 60) -> Series:  # fmt: skip
    """`count` GETs after `warmups`, until one takes past `timeout`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    timings: list[float] = []
    for n in range(warmups + count):
        began = time.perf_counter()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except TimeoutError:
            connection.close()
            return Series(timings, stopped=True)
        elapsed = time.perf_counter() - began
        if response.status != 200 or expect.encode() not in body:
            raise BenchError(f"GET {path}: {response.status} {body[:300]!r}")
        if n >= warmups:
            timings.append(elapsed)
    connection.close()
    return Series(timings)


# The server's own "statement took too long" errors: MariaDB's max_statement_time
# (ER_STATEMENT_TIMEOUT) and MySQL's max_execution_time (ER_QUERY_TIMEOUT).
STATEMENT_TIMEOUTS = ("ERROR 1969", "ERROR 3024")


def statement_limit(cursor: pymysql.cursors.Cursor, seconds: float) -> str:
    """The SET that has this server stop a session's statements after `seconds`: a view
    of old code over 10 M runs may take hours, and a client leaving would not stop it."""
    cursor.execute("SELECT VERSION()")
    (version,) = cursor.fetchone() or ("",)
    if "mariadb" in str(version).lower():
        return f"SET SESSION max_statement_time = {seconds:.3f}"
    return f"SET SESSION max_execution_time = {int(seconds * 1000)}"


def time_views(server: Server, database: str, repeats: int,
               limit: float) -> dict[str, tuple[Series, int]]:  # fmt: skip
    """SELECT * FROM each smartcron_v_* view at the `mysql` client, as the target says and
    a DBA would: its rows read by C, not decoded into Python objects by pymysql, the
    client's start (a few ms) included. A view stopped at `limit` seconds is not asked
    again."""
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise BenchError("the views are timed at the mysql client: apt-get install mariadb-client")
    with server.connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.views"
            " WHERE table_schema = DATABASE() AND table_name LIKE 'smartcron\\_v\\_%%'"
            " ORDER BY table_name"
        )
        views = [name for (name,) in cursor.fetchall()]
        limit_sql = statement_limit(cursor, limit)
    command = [client, "--no-defaults", "--batch", "--skip-column-names", "-h", server.host,
               "-P", str(server.port), "-u", server.user, database]  # fmt: skip
    env = {**os.environ, "MYSQL_PWD": server.password}  # not in argv, where ps shows it
    found: dict[str, tuple[Series, int]] = {}
    for view in views:
        series, rows = Series([]), 0
        for _ in range(repeats):
            began = time.perf_counter()
            done = subprocess.run([*command, "-e", f"{limit_sql}; SELECT * FROM `{view}`"],
                                  capture_output=True, env=env, timeout=limit + 60,
                                  check=False)  # fmt: skip
            elapsed = time.perf_counter() - began
            if done.returncode != 0:
                error = done.stderr.decode(errors="replace").strip()
                if any(code in error for code in STATEMENT_TIMEOUTS):
                    series.stopped = True
                    break
                last = error.splitlines()[-1] if error else f"exit status {done.returncode}"
                raise BenchError(f"SELECT * FROM {view} at the mysql client: {last}")
            rows = done.stdout.count(b"\n")
            series.timings.append(elapsed)
        found[view] = (series, rows)
    return found


@dataclass
class Figures:
    """What one build answered: the timed GETs, the /metrics scrapes (the first, then
    20 more) and each view's timings and row count."""

    gets: list[tuple[str, Series]]
    scrapes: list[Series] | str  # or what went wrong
    views: dict[str, tuple[Series, int]]


def measure(server: Server, database: str, args: argparse.Namespace, job_page: str,
            command: str, requests: int) -> Figures:  # fmt: skip
    """A real `COMMAND serve` on the database, then the views at the client."""
    db_url = server.url(database)
    # Every build starts as a collector first started on this database: its alert
    # passes work through the last 24 hours of runs (collector/alerting/engine.py)
    # while the pages are timed, not from where a build measured before left them.
    with server.connect(database, autocommit=True) as connection, connection.cursor() as cursor:
        if "smartcron_alert_cursors" in existing_tables(cursor):  # none before the alerts
            cursor.execute("DELETE FROM smartcron_alert_cursors")
    admin = token(db_url, "admin", command)
    bearer = {"Authorization": f"Bearer {admin}"}
    with tempfile.TemporaryDirectory(prefix="smartcron-bench-") as tmp:
        log = Path(tmp) / "collector.log"
        with serve(db_url, args.workers, log, command=command) as collector:

            def timed(path: str, headers: dict[str, str], expect: str) -> Series:
                return time_gets(collector.port, path, headers, requests,
                                 args.warmups, expect, args.request_timeout)  # fmt: skip

            html = {**bearer, "Accept": "text/html"}
            gets = [
                ("GET / (summary page)", timed("/", html, "</table>")),
                ("GET /api/v1/status", timed("/api/v1/status", bearer, '"jobs_by_state"')),
                ("GET /api/v1/jobs?state=failing",
                 timed("/api/v1/jobs?state=failing", bearer, '"jobs"')),
                (f"GET {job_page}", timed(job_page, html, "</html>")),
            ]  # fmt: skip
            # /metrics has no target. The first scrape is timed apart: a build before
            # revision 0020 counts every stored run at a process's first scrape
            # (collector/metrics.py); one past the collector's 30 s read timeout is
            # noted, not fatal.
            began = time.perf_counter()
            try:
                scrapes: list[Series] | str = [
                    time_gets(collector.port, "/metrics", bearer, count, 0,
                              "smartcron_runs_total", args.request_timeout)
                    for count in (1, 20)
                ]  # fmt: skip
            except BenchError as error:
                scrapes = f"{error} after {time.perf_counter() - began:.1f} s"
    views = time_views(server, database, args.view_repeats, args.view_timeout)
    return Figures(gets, scrapes, views)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=212, help="how many jobs (212)")
    parser.add_argument("--hosts", type=int, default=8, help="how many hosts (8)")
    parser.add_argument("--runs", type=int, default=1_000_000, help="default 1000000")
    parser.add_argument("--days", type=int, default=None,
                        help="history length (default: what --runs takes, at most 45)")  # fmt: skip
    parser.add_argument("--requests", type=int, default=60, help="timed GETs per page (60)")
    parser.add_argument("--compare-requests", type=int, default=None,
                        help="timed GETs per page for the --compare build (--requests): "
                        "old code may take seconds a GET")  # fmt: skip
    parser.add_argument("--view-repeats", type=int, default=5, help="times per view (5)")
    parser.add_argument("--view-timeout", type=float, default=120,
                        help="seconds the server may spend on one view's SELECT (120)")  # fmt: skip
    parser.add_argument("--database", default=DATABASE, help=f"database name ({DATABASE})")
    parser.add_argument("--request-timeout", type=float, default=60,
                        help="seconds one GET may take (60)")  # fmt: skip
    parser.add_argument("--warmups", type=int, default=3, help="untimed GETs first (3)")
    parser.add_argument("--workers", type=int, default=1, help="collector --workers (1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mysql", default="127.0.0.1:3306", help="HOST:PORT, root, no password")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--reuse", action="store_true",
                        help="use the kept database, after init-db (no reload)")  # fmt: skip
    parser.add_argument("--compare", metavar="COMMAND",
                        help="another build's smartcron-collector (main's, say): it creates "
                        "the schema and answers first; then this build migrates the same "
                        "database (timed) and answers")  # fmt: skip
    args = parser.parse_args(argv)
    if args.compare_requests is None:
        args.compare_requests = args.requests
    if min(args.requests, args.compare_requests) < 3:
        # Fewer than 50 is for code too slow to time 50 times (the row says "p95 of N").
        parser.error("--requests: at least 3 (50 or more for a p95 worth the name)")
    if args.jobs < 24 or args.hosts < 1:
        parser.error("--jobs: at least 24 (the bench marks jobs 7, 11 and 23); --hosts >= 1")
    if args.days is None:
        args.days = min(45, math.ceil(args.runs / runs_per_day(args.jobs) * 1.05) + 1)
    return args


def fill(server: Server, database: str, args: argparse.Namespace, rng: random.Random,
         hosts: list[str], now: dt.datetime, command: str) -> None:  # fmt: skip
    """The schema as `command`'s init-db makes it, then the generated history."""
    db_url = server.url(database)
    collector_cli("init-db", "--db", db_url, command=command)
    jobs = make_jobs(rng, args.jobs, hosts)
    jobs[23].stop_before = now - dt.timedelta(days=2)  # late: no runs since
    began = time.perf_counter()
    runs = load(server, database, jobs, args, now, hosts)
    print(f"loaded {runs:,} runs of {len(jobs)} jobs in {time.perf_counter() - began:.0f} s")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    host, _, port = args.mysql.rpartition(":")
    server = Server(host=host or "127.0.0.1", port=int(port))
    rng = random.Random(args.seed)
    hosts = host_names(args.hosts)
    # The page's own figures: a job that fails now and then, on a five-minute schedule,
    # has the most runs to show.
    job_page = f"/jobs/{make_jobs(random.Random(args.seed), args.jobs, hosts)[0].name}"
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    # The compared build makes the schema and reads the database first, as it leaves
    # it; this build's migrate then brings the same rows to its revision.
    first = args.compare or COLLECTOR
    compared: Figures | None = None
    try:
        with own_database(server, args.database, keep=args.keep or args.reuse,
                          create=not args.reuse) as database:  # fmt: skip
            db_url = server.url(database)
            if args.reuse:
                # A kept database is brought to the first build's revision (a database
                # this build migrated already is past the compared one's: init-db says so).
                began = time.perf_counter()
                collector_cli("init-db", "--db", db_url, timeout=3600, command=first)
                print(f"init-db on the kept database: {time.perf_counter() - began:.1f} s")
            else:
                fill(server, database, args, rng, hosts, now, first)
            if args.compare:
                compared = measure(server, database, args, job_page, args.compare,
                                   args.compare_requests)  # fmt: skip
                began = time.perf_counter()
                # From v0.1.0 over 10 M runs the backfills read every run (about 45 min).
                collector_cli("migrate", "--db", db_url, timeout=4 * 3600)
                migrated_s = time.perf_counter() - began
                print(f"migrate from {args.compare}'s revision: {migrated_s:.1f} s")
            figures = measure(server, database, args, job_page, COLLECTOR, args.requests)
    except (BenchError, OSError) as error:
        print(f"page: {error}", file=sys.stderr)
        return 1
    print()
    print(
        f"{args.jobs:,} jobs on {args.hosts:,} hosts, {args.runs:,} runs asked for"
        + (f"; peer: {args.compare} on the same rows before migrate" if compared else "")
    )
    print_table(rows_of(figures, compared, args.request_timeout, args.view_timeout))
    for label, got in (("this", figures), ("peer", compared)):
        if got is not None:
            notes(label if compared else "", got)
    print(f"note: load average {os.getloadavg()[0]:.2f}")
    return 0


def rows_of(figures: Figures, compared: Figures | None, get_limit: float,
            view_limit: float) -> list[Row]:  # fmt: skip
    """A row per GET (p95) and per view (median): against the compared build's figure
    where there is one (ratio: this build's over it), else against the target. A series
    stopped at its time limit counts as "> limit", and misses its target."""
    rows = []

    def row(metric: str, ours: Series, theirs: Series | None, target: float, limit: float,
            of: Callable[[list[float]], float]) -> Row:  # fmt: skip
        def seconds(series: Series) -> float:  # a stopped series counts at its limit
            return limit if series.stopped else of(series.timings)

        def figure(series: Series) -> str:
            return f"{'> ' if series.stopped else ''}{seconds(series) * 1000:.0f} ms"

        count = f"{len(ours.timings)}" + (
            f" (peer {len(theirs.timings)})"
            if theirs and len(theirs.timings) != len(ours.timings)
            else ""
        )
        passed = not ours.stopped and seconds(ours) <= target
        if theirs is None:
            return Row(f"{metric} {count}", figure(ours), f"{target * 1000:.0f} ms",
                       f"{seconds(ours) / target:.2f}", "<= 1.00", passed)  # fmt: skip
        # Against a stopped series the ratio is a bound: "<" when theirs stopped, ">"
        # when ours did, unknown when both did.
        bound = {(False, False): "", (False, True): "< ", (True, False): "> "}
        ratio = bound.get((ours.stopped, theirs.stopped))
        shown = "?" if ratio is None else f"{ratio}{seconds(ours) / seconds(theirs):.3f}"
        return Row(f"{metric} {count}", figure(ours), figure(theirs), shown,
                   f"<= {target * 1000:.0f} ms", passed)  # fmt: skip

    def p95(timings: list[float]) -> float:
        return percentile(timings, 95)

    peer_gets = dict(compared.gets) if compared else {}
    for name, series in figures.gets:
        rows.append(row(f"{name} p95 of", series, peer_gets.get(name), TARGET_PAGE_S,
                        get_limit, p95))  # fmt: skip
    peer_views = compared.views if compared else {}
    for view, (series, _) in figures.views.items():
        theirs = peer_views[view][0] if view in peer_views else None
        rows.append(row(f"SELECT * FROM {view}, median of", series, theirs, TARGET_VIEW_S,
                        view_limit, statistics.median))  # fmt: skip
    return rows


def notes(label: str, got: Figures) -> None:
    said = f"note: {label}: " if label else "note: "

    def each(series: Series) -> str:
        parts = [", ".join(f"{t * 1000:.0f}" for t in series.timings) + " ms"]
        parts = parts if series.timings else []
        return ", then ".join(parts + (["stopped at the time limit"] if series.stopped else []))

    print(said + "p50 " + ", ".join(
        f"{name.split(' (')[0]} " + (f"{statistics.median(s.timings) * 1000:.0f} ms"
                                     if s.timings else "none under the time limit")
        for name, s in got.gets))  # fmt: skip
    for view, (series, view_rows) in got.views.items():
        print(f"{said}{view}: {view_rows} rows, each time {each(series)}")
    if isinstance(got.scrapes, str):
        print(f"{said}GET /metrics (no target): {got.scrapes}")
        return
    first, rest = got.scrapes
    if first.stopped or rest.stopped or not rest.timings:
        print(f"{said}GET /metrics (no target): first scrape {each(first)}; then {each(rest)}")
        return
    print(f"{said}GET /metrics (no target): first scrape {first.timings[0] * 1000:.0f} ms, "
          f"then p50 {statistics.median(rest.timings) * 1000:.0f} ms, p95 "
          f"{percentile(rest.timings, 95) * 1000:.0f} ms of {len(rest.timings)}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
