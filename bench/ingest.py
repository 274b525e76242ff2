"""How fast the collector takes run reports into MariaDB, against raw pymysql, in one run.

    .venv/bin/python bench/ingest.py [--seconds 10] [--rounds 3] [--workers 1,2]
    .venv/bin/python bench/ingest.py --compare OTHER/bin/smartcron-collector

For each `--workers` value a real `smartcron-collector serve` is started on a loopback
port over a database of the benchmark's own (smartcron_bench_ingest or --database, dropped
at the end; with --compare the other build gets one of its own, NAME_compared, migrated by
that build, so two builds at different revisions compare):

(a) single-report POST /api/v1/runs per second, (b) reports per second in batches of 100,
(c) that batched rate over a raw pymysql `executemany` of the same rows into the same
tables: smartcron_runs, smartcron_run_output and the aggregates' upserts that ingest
writes with them (collector/aggregates.py; no trigger counts runs since revision 0017),
one transaction per batch, with as many connections as the HTTP load has. (b) and (c)
alternate in every round; figures are medians, the ratio is the median of per-round
ratios. With --compare, another build of the collector is measured too, in the same
rounds, against the same peer.

The load comes from `wrk` (Debian package `wrk`) with a generated Lua script that gives
every report a fresh run_id, so every request inserts; without wrk, or with
`--client python`, from one Python process that does as wrk does: keep-alive sockets on
a selector, the bodies put together from the same pieces. (It replaced a process per
connection with http.client and a report dictionary made and dumped per report, which
took CPU the collector is measured on.) Prints figures and PASS/MISS; never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import random
import re
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.collector_support import (
    COLLECTOR,
    Server,
    collector_cli,
    own_database,
    print_table,
    serve,
    token,
)
from bench.table import BenchError, Row

DATABASE = "smartcron_bench_ingest"
BATCH = 100
HOSTS = [f"web{n}" for n in range(1, 9)]
JOBS = [f"job_{n:03d}" for n in range(212)]
# 212 jobs spread over 8 hosts (26 or 27 each); every batch comes from one host, as an
# agent ships its host's spool, and holds the last few runs of each of that host's jobs.
HOST_JOBS = [JOBS[n :: len(HOSTS)] for n in range(len(HOSTS))]
SCHEDULES = ["*/5 * * * *", "0 * * * *", "30 2 * * *", "*/15 9-17 * * 1-5"]
SCHEDULE_OF = {job: SCHEDULES[n % len(SCHEDULES)] for n, job in enumerate(JOBS)}
AGES = 4  # a batch of 100 reaches back this many runs per job
FAILED_EVERY = 20  # one report in 20 is a failure
TARGET_SINGLE, TARGET_BATCHED, TARGET_RATIO = 1_000.0, 10_000.0, 0.5


# -- the reports ---------------------------------------------------------------------------


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_report(
    job: str, host: str, status: str, run_id: str, started: dt.datetime, schedule: str
) -> dict[str, Any]:
    """A schema-1 report as smartcron-wrap writes it (tests/support/service.py's shape)."""
    finished = started + dt.timedelta(seconds=1.5)
    exit_code = 0 if status == "success" else 1
    return {
        "schema": 1, "run_id": run_id, "job": job, "host": host, "user": "deploy",
        "command": "php /srv/app/bin/console cron:run", "schedule": schedule,
        "priority": 5, "tags": ["php"], "trigger": "cron", "status": status,
        "exit_code": exit_code, "signal": None, "started_at": iso(started),
        "finished_at": iso(finished), "duration_s": 1.5,
        "attempts": [{"started_at": iso(started), "finished_at": iso(finished),
                      "exit_code": exit_code, "signal": None, "status": status}],
        "peak_rss_bytes": 50 * 2**20, "cpu_user_s": 0.5, "cpu_system_s": 0.1,
        "stdout_tail": "synced 120 records\n",
        "stderr_tail": "" if status == "success" else "PDOException: connection refused\n",
        "output_bytes": 19, "output_truncated": False, "breaker_state": "closed",
        "wrapper_version": "0.1.0",
    }  # fmt: skip


def started_at(age: int = 0) -> dt.datetime:
    """A run's start `age` runs back, on a minute as cron starts them, plus a little."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
    return now - dt.timedelta(minutes=5 * (age + 1)) + dt.timedelta(milliseconds=37)


def placement(request: int, index: int) -> tuple[str, str, int]:
    """The host, job and age (runs back) of the index-th report of the request-th
    request (the same rule as the Lua script's): each request from the next host."""
    host = request % len(HOSTS)
    jobs = HOST_JOBS[host]
    job = jobs[(request // len(HOSTS) + index) % len(jobs)]
    return HOSTS[host], job, min(index // len(jobs), AGES - 1)


def is_failure(n: int) -> bool:
    """Whether the n-th report sent (from 0) is a failure: one in FAILED_EVERY."""
    return n % FAILED_EVERY == FAILED_EVERY - 1


def report_for(n: int, batch: int, run_id: str) -> dict[str, Any]:
    """The n-th report the load sends (the same rule as the Lua script's)."""
    host, job, age = placement(*divmod(n, batch))
    status = "failed" if is_failure(n) else "success"
    return make_report(job, host, status, run_id, started_at(age), SCHEDULE_OF[job])


# -- load generators -------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


LUA = """\
-- generated by bench/ingest.py: POST /api/v1/runs, {batch} fresh reports per request.
-- templates[status][age] = pieces around the run_id, job, host and schedule.
local templates = {{ {templates} }}
local host_jobs = {{ {host_jobs} }}
local hosts = {{ {hosts} }}
local batch, ages, failed_every = {batch}, {ages}, {failed_every}
local counter, requests, prefix = 0, 0, nil
local threads = {{}}

function setup(thread)
    thread:set("id", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    math.randomseed(os.time() * 1000 + id * 7919 + math.floor(os.clock() * 1e6))
    local r = function(n) return math.random(0, n) end
    -- random per thread, then a counter: unique without the cost of a UUID per report
    prefix = string.format("%04x%04x-%04x-4%03x-%04x-", r(0xffff), r(0xffff), r(0xffff),
                           r(0xfff), 0x8000 + r(0x3fff))
    wrk.method = "POST"
    wrk.path = "/api/v1/runs"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer {token}"
end

request = function()
    local host = requests % #hosts + 1
    local jobs = host_jobs[host]
    local first = math.floor(requests / #hosts)
    requests = requests + 1
    local parts = {{}}
    for i = 0, batch - 1 do
        counter = counter + 1
        local job = jobs[(first + i) % #jobs + 1]
        local age = math.min(math.floor(i / #jobs), ages - 1)
        local status = (counter % failed_every == 0) and 2 or 1
        local t = templates[status][age + 1]
        parts[i + 1] = t[1] .. prefix .. string.format("%012x", counter) .. t[2] .. job[1]
                       .. t[3] .. hosts[host] .. t[4] .. job[2] .. t[5]
    end
    return wrk.format(nil, nil, nil, '{{"runs":[' .. table.concat(parts, ",") .. ']}}')
end
"""
PLACEHOLDERS = ["@RUNID@", "@JOB@", "@HOST@", "@SCHED@"]


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def report_pieces() -> list[list[list[str]]]:
    """pieces[status][age]: the text of a report around its run_id, job, host and
    schedule, in that order (status 0 a success, 1 a failure), as both load generators
    assemble their bodies from."""
    by_status = []
    for status in ("success", "failed"):
        by_age = []
        for age in range(AGES):
            report = make_report("@JOB@", "@HOST@", status, "@RUNID@", started_at(age), "@SCHED@")
            text = json.dumps(report, separators=(",", ":"))
            if re.findall("|".join(PLACEHOLDERS), text) != PLACEHOLDERS:
                raise BenchError("the report template does not hold its placeholders in order")
            by_age.append(re.split("|".join(PLACEHOLDERS), text))
        by_status.append(by_age)
    return by_status


def wrk_script(path: Path, batch: int, bearer: str) -> None:
    by_status = [
        "{"
        + ", ".join("{" + ", ".join(lua_string(p) for p in pieces) + "}" for pieces in by_age)
        + "}"
        for by_age in report_pieces()
    ]
    host_jobs = [
        "{" + ", ".join(f'{{"{j}", "{SCHEDULE_OF[j]}"}}' for j in jobs) + "}" for jobs in HOST_JOBS
    ]
    path.write_text(LUA.format(
        templates=", ".join(by_status), host_jobs=", ".join(host_jobs), batch=batch,
        ages=AGES, failed_every=FAILED_EVERY, token=bearer,
        hosts=", ".join(f'"{h}"' for h in HOSTS),
    ))  # fmt: skip


def run_wrk(url: str, script: Path, connections: int, seconds: float, threads: int) -> Load:
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
         "-s", str(script), url],
        capture_output=True, text=True, check=False, timeout=seconds + 60,
    )  # fmt: skip
    if done.returncode != 0:
        raise BenchError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    found = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", done.stdout)
    if not found:
        raise BenchError(f"cannot read wrk's output:\n{done.stdout}")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0}[found.group(3)]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", done.stdout))
    socket_errors = re.search(r"Socket errors: (.*)", done.stdout)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Load(int(found.group(1)), float(found.group(2)) * scale, errors)


def run_processes(target: Any, args: list[tuple[Any, ...]], seconds: float) -> list[int]:
    """Start one process per args; each gets ready, all start together at a barrier and
    run `seconds`; returns what each counted."""
    barrier = multiprocessing.Barrier(len(args) + 1)
    results: multiprocessing.Queue[int] = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=target, args=(*a, barrier, seconds, results)) for a in args
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)
    counts = [results.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join()
    return counts


class Bodies:
    """The bodies the Lua script sends, made the same way: each report's pieces around a
    run_id (a random prefix, then a counter: unique without a UUID's cost), its job,
    host and schedule; every request from the next host."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.pieces = report_pieces()
        self.requests = self.counter = 0
        bits = random.SystemRandom().getrandbits
        self.prefix = (f"{bits(32):08x}-{bits(16):04x}-4{bits(12):03x}-"
                       f"{0x8000 + bits(14):04x}-")  # fmt: skip

    def next(self) -> bytes:
        parts = []
        for index in range(self.batch):
            host, job, age = placement(self.requests, index)
            p = self.pieces[1 if is_failure(self.counter) else 0][age]
            self.counter += 1
            parts.append(f"{p[0]}{self.prefix}{self.counter:012x}{p[1]}{job}{p[2]}"
                         f"{host}{p[3]}{SCHEDULE_OF[job]}{p[4]}")  # fmt: skip
        self.requests += 1
        return ('{"runs":[' + ",".join(parts) + "]}").encode()


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


def _socket_client(port: int, bearer: str, batch: int, connections: int, barrier: Any,
                   seconds: float, results: Any) -> None:  # fmt: skip
    """As wrk does it: `connections` keep-alive connections on one selector, each sending
    its next request as soon as its answer is read, so that the load takes little of the
    CPU the collector is measured on. Counts the 200s answered before the deadline; the
    requests in flight then are waited for, not counted. Puts that count, or minus the
    number of failures (an answer not a 200, a connection closed or broken, a request
    never answered), always: the parent waits for it."""
    bodies = Bodies(batch)
    head = (f"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {bearer}\r\n"
            "Content-Length: ").encode()  # fmt: skip
    selector = selectors.DefaultSelector()
    received: dict[socket.socket, bytearray] = {}
    done, failures = 0, 0

    def send(connection: socket.socket) -> None:
        body = bodies.next()
        connection.sendall(head + str(len(body)).encode() + b"\r\n\r\n" + body)

    def drop(connection: socket.socket) -> None:
        selector.unregister(connection)
        connection.close()
        del received[connection]

    try:
        for _ in range(connections):
            connection = socket.create_connection(("127.0.0.1", port), timeout=30)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            selector.register(connection, selectors.EVENT_READ, connection)
            received[connection] = bytearray()
    except OSError:
        failures = connections
    barrier.wait()  # with the others, even when this client cannot run: no one waits on it
    deadline = time.monotonic() + seconds
    for connection in list(received) if not failures else []:
        try:
            send(connection)
        except OSError:
            failures += 1
            drop(connection)
    while received and time.monotonic() < deadline + 60:
        for key, _ in selector.select(timeout=1.0):
            connection = key.data
            try:
                chunk = connection.recv(1 << 16)
            except OSError:
                chunk = b""
            buffer = received[connection]
            buffer += chunk
            end = buffer.find(b"\r\n\r\n")
            length = _CONTENT_LENGTH.search(buffer, 0, end + 2) if end >= 0 else None
            if chunk and (length is None or len(buffer) < end + 4 + int(length.group(1))):
                continue  # more of the answer to come
            failures += not chunk or not buffer.startswith(b"HTTP/1.1 200 ")
            if not chunk or time.monotonic() > deadline:
                drop(connection)
                continue
            done += 1
            buffer.clear()
            try:
                send(connection)
            except OSError:
                failures += 1
                drop(connection)
    failures += len(received)  # still unanswered a minute after the deadline
    results.put(-failures if failures else done)


def run_python(port: int, bearer: str, batch: int, connections: int, seconds: float) -> Load:
    (count,) = run_processes(_socket_client, [(port, bearer, batch, connections)], seconds)
    return Load(max(count, 0), seconds, max(-count, 0))


# -- the peer: raw pymysql ------------------------------------------------------------------


def raw_rows(
    count: int,
) -> tuple[list[str], list[tuple[Any, ...]], list[str], list[tuple[Any, ...]]]:
    """The rows ingest would write for `count` reports, as the collector builds them."""
    from smartcron.collector.ingest import output_row, run_row
    from smartcron.wrapper.schema import RunReport

    received = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    runs, outputs = [], []
    run_columns: list[str] = []
    output_columns: list[str] = []
    for n in range(count):
        report = RunReport.model_validate(report_for(n, count, str(uuid.uuid4())))
        run, output = run_row(report, received), output_row(report)
        run_columns, output_columns = list(run), list(output)
        runs.append(tuple(run.values()))
        outputs.append(tuple(output.values()))
    return run_columns, runs, output_columns, outputs


def raw_aggregates(
    run_columns: list[str], runs: list[tuple[Any, ...]], outputs: list[tuple[Any, ...]]
) -> list[tuple[str, list[tuple[Any, ...]], int | None]]:
    """The aggregate upserts ingest writes for these runs (collector/aggregates.py), as
    (SQL with %s placeholders, rows, where the run_id is in a row or None): the same
    statements, for pymysql's executemany to send as one multi-row INSERT each."""
    from smartcron.collector import aggregates
    from sqlalchemy.dialects.mysql import pymysql as mysql_dialect

    fields = [run_columns.index(name) for name in aggregates.Run._fields[:-1]]
    stderr = {output[0]: output[3] for output in outputs}
    counted = [aggregates.Run._make([*(run[i] for i in fields), stderr[run[0]]]) for run in runs]
    dialect = mysql_dialect.dialect()
    upserts = []
    for table, columns, rows in aggregates.aggregate_rows(counted):
        if not rows:
            continue
        compiled = aggregates.upsert_statement(table, True).compile(
            dialect=dialect, column_keys=list(columns)
        )
        order = [columns.index(name) for name in compiled.positiontup or ()]
        ordered = [tuple(row[i] for i in order) for row in rows]
        run_id = columns.index("run_id") if "run_id" in columns else None
        upserts.append((compiled.string, ordered, None if run_id is None else order.index(run_id)))
    return upserts


def _raw_client(server: Server, database: str, barrier: Any, seconds: float,
                results: Any) -> None:  # fmt: skip
    """executemany of batches of BATCH fresh rows, one transaction each, for `seconds`:
    the runs, their output and the aggregate upserts, as ingest writes them."""
    run_columns, runs, output_columns, outputs = raw_rows(BATCH)
    upserts = raw_aggregates(run_columns, runs, outputs)
    insert_runs = (f"INSERT IGNORE INTO smartcron_runs ({', '.join(run_columns)}) "
                   f"VALUES ({', '.join(['%s'] * len(run_columns))})")  # fmt: skip
    insert_output = (f"INSERT IGNORE INTO smartcron_run_output ({', '.join(output_columns)}) "
                     f"VALUES ({', '.join(['%s'] * len(output_columns))})")  # fmt: skip
    connection = server.connect(database, autocommit=False)
    cursor = connection.cursor()
    done = 0
    barrier.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ids = [str(uuid.uuid4()) for _ in range(BATCH)]
        fresh = dict(zip((run[0] for run in runs), ids, strict=True))
        cursor.executemany(
            insert_output, [(i, *row[1:]) for i, row in zip(ids, outputs, strict=True)]
        )
        cursor.executemany(insert_runs, [(i, *row[1:]) for i, row in zip(ids, runs, strict=True)])
        for sql, rows, run_id in upserts:
            if run_id is not None:  # a failure's row names its run
                at = run_id
                rows = [(*row[:at], fresh[row[at]], *row[at + 1 :]) for row in rows]  # noqa: PLW2901
            cursor.executemany(sql, rows)
        connection.commit()
        if time.monotonic() <= deadline:
            done += 1
    connection.close()
    results.put(done)


def run_raw(server: Server, database: str, connections: int, seconds: float) -> Load:
    done = run_processes(_raw_client, [(server, database)] * connections, seconds)
    return Load(sum(done), seconds, 0)


# -- measuring -----------------------------------------------------------------------------------


def count_runs(server: Server, database: str) -> int:
    """Runs stored, once the requests a stopped client left in flight have finished."""
    last = -1
    with server.connect(database, autocommit=True) as connection, connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT COUNT(*) FROM smartcron_runs")
            count = int(cursor.fetchone()[0])
            if count == last:
                return count
            last = count
            time.sleep(0.3)


def server_pids(port: int) -> list[int]:
    """The processes listening on the database's port: that server only, not another one
    on the machine (a test's own mariadbd, say)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.name() not in ("mariadbd", "mysqld"):
                continue
            listening = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # gone meanwhile, or not ours to look at
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in listening):
            found.append(process.pid)
    return found


@dataclass
class Cpu:
    """CPU seconds used by the collector's processes and by the database server."""

    collector_pid: int
    database_pids: list[int]

    def sample(self) -> tuple[float, float]:
        def cpu(process: psutil.Process) -> float:
            times = process.cpu_times()
            return float(times.user + times.system)

        collector = psutil.Process(self.collector_pid)
        ours = cpu(collector) + sum(cpu(p) for p in collector.children(recursive=True))
        database = sum(cpu(psutil.Process(pid)) for pid in self.database_pids)
        return ours, database


@dataclass
class Bench:
    server: Server
    client: str
    seconds: float
    notes: list[str]

    def http(self, build: Build, script: Path, batch: int, connections: int,
             seconds: float | None = None) -> Load:  # fmt: skip
        """`connections` clients posting to `build`'s collector; checks what it stored."""
        seconds = seconds or self.seconds
        collector_port, bearer = build.collector.port, build.bearer
        before = count_runs(self.server, build.database)
        if self.client == "wrk":
            load = run_wrk(f"http://127.0.0.1:{collector_port}", script, connections, seconds,
                           threads=1)  # fmt: skip
        else:
            load = run_python(collector_port, bearer, batch, connections, seconds)
        stored = count_runs(self.server, build.database) - before
        if load.errors:
            raise BenchError(f"{load.errors} requests failed (batch {batch})")
        # Requests still in flight when the client stops may have been stored: at most one each.
        if not load.requests * batch <= stored <= (load.requests + connections) * batch:
            raise BenchError(
                f"{load.requests} requests of {batch} answered but {stored} runs stored"
            )
        return load


@dataclass
class Build:
    """One build of the collector under test: its command and a database of its own,
    migrated by that build (two builds may be at different revisions), then the
    collector serving it with its token and load scripts."""

    label: str
    command: str
    database: str
    bearer: str = ""
    single_lua: Path = Path()
    batch_lua: Path = Path()
    collector: Any = None


@dataclass
class Figures:
    """One build's rates, round by round."""

    singles: list[float]
    batched: list[float]
    ratios: list[float]
    cpu_single: list[list[float]]
    cpu_batch: list[list[float]]


def measure(bench: Bench, workers: int, rounds: int, single_c: int, batch_c: int,
            raw_c: int, builds: list[Build]) -> list[Row]:  # fmt: skip
    """Each build in turn within every round, then the raw peer once (into the first
    build's database): the builds are compared under the same load and against it."""
    with tempfile.TemporaryDirectory(prefix="smartcron-bench-") as tmp, ExitStack() as stack:
        for n, build in enumerate(builds):
            db_url = bench.server.url(build.database)
            build.bearer = token(db_url, "ingest", command=build.command)
            build.single_lua, build.batch_lua = (
                Path(tmp) / f"single{n}.lua",
                Path(tmp) / f"batch{n}.lua",
            )
            wrk_script(build.single_lua, 1, build.bearer)
            wrk_script(build.batch_lua, BATCH, build.bearer)
            build.collector = stack.enter_context(
                serve(db_url, workers, Path(tmp) / f"collector{n}.log", command=build.command)
            )
        for build in builds:
            # Warm-up: connections, pools, caches and the jobs rows exist before timing.
            bench.http(build, build.single_lua, 1, single_c, seconds=2)
            bench.http(build, build.batch_lua, BATCH, batch_c, seconds=2)
        figures = [Figures([], [], [], [], []) for _ in builds]
        database_pids = server_pids(bench.server.port)
        raws = []
        for round_number in range(rounds):
            # Each round starts with another build: whoever comes first after the peer's
            # inserts measured some 8 % lower in an A/A run (two copies of one build).
            first = round_number % len(builds)
            for index in [*range(first, len(builds)), *range(first)]:
                build, got = builds[index], figures[index]
                cpu = Cpu(build.collector.process.pid, database_pids)
                before = cpu.sample()
                single = bench.http(build, build.single_lua, 1, single_c)
                after = cpu.sample()
                got.singles.append(single.per_second)
                got.cpu_single.append(
                    [(a - b) / single.seconds for a, b in zip(after, before, strict=True)]
                )
                before = cpu.sample()
                batch = bench.http(build, build.batch_lua, BATCH, batch_c)
                after = cpu.sample()
                got.cpu_batch.append(
                    [(a - b) / batch.seconds for a, b in zip(after, before, strict=True)]
                )
                got.batched.append(batch.per_second * BATCH)
            raw = run_raw(bench.server, builds[0].database, raw_c, bench.seconds)
            raws.append(raw.per_second * BATCH)
            for got in figures:
                got.ratios.append(got.batched[-1] / raws[-1])
    rows = []
    raw_rate = statistics.median(raws)
    for build, got in zip(builds, figures, strict=True):
        rows += _rows(bench, workers, build.label, got, raw_rate, single_c, batch_c, raw_c)
    bench.notes.append(f"--workers {workers}: raw {', '.join(f'{s:,.0f}' for s in raws)} "
                       "per second")  # fmt: skip
    return rows


def _rows(bench: Bench, workers: int, label: str, got: Figures, raw_rate: float,
          single_c: int, batch_c: int, raw_c: int) -> list[Row]:  # fmt: skip
    single_rate, batch_rate = statistics.median(got.singles), statistics.median(got.batched)
    ratio = statistics.median(got.ratios)
    w = f"w{workers}" + (f", {label}" if label else "")
    for what, samples in (("single", got.cpu_single), ("batched", got.cpu_batch)):
        ours = statistics.median(s[0] for s in samples)
        theirs = statistics.median(s[1] for s in samples)
        bench.notes.append(f"{w}, {what}: CPU in cores, collector {ours:.2f}, "
                           f"MariaDB {theirs:.2f} (of {os.cpu_count()})")  # fmt: skip
    singles = ", ".join(f"{s:,.0f}" for s in got.singles)
    batched = ", ".join(f"{s:,.0f}" for s in got.batched)
    bench.notes.append(f"{w}: single {singles}; batched {batched} per second")
    return [
        Row(f"single-report POSTs/s ({w}, c={single_c})", f"{single_rate:,.0f}",
            f"{TARGET_SINGLE:,.0f}", f"{single_rate / TARGET_SINGLE:.2f}", ">= 1.00",
            single_rate >= TARGET_SINGLE),
        Row(f"batched reports/s ({w}, {BATCH}/POST, c={batch_c})", f"{batch_rate:,.0f}",
            f"{TARGET_BATCHED:,.0f}", f"{batch_rate / TARGET_BATCHED:.2f}", ">= 1.00",
            batch_rate >= TARGET_BATCHED),
        Row(f"batched / raw pymysql executemany ({w}, c={raw_c})", f"{batch_rate:,.0f}",
            f"{raw_rate:,.0f}", f"{ratio:.2f}", f">= {TARGET_RATIO}", ratio >= TARGET_RATIO),
    ]  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of one timed run (10)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per figure (3)")
    parser.add_argument("--workers", default="1,2", help="collector --workers values (1,2)")
    parser.add_argument("--single-connections", type=int, default=32, help="default 32")
    parser.add_argument("--batch-connections", type=int, default=8, help="default 8")
    parser.add_argument("--raw-connections", type=int, default=None,
                        help="the peer's processes (default: as --batch-connections)")  # fmt: skip
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--mysql", default="127.0.0.1:3306", help="HOST:PORT, user root (no password)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases at the end")
    parser.add_argument("--database", default=DATABASE,
                        help=f"a smartcron_bench* name ({DATABASE}); --compare's build "
                        "gets NAME_compared")  # fmt: skip
    parser.add_argument("--compare", metavar="COMMAND",
                        help="another build's smartcron-collector, in the same rounds")  # fmt: skip
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1:
        parser.error("--seconds must be > 0 and --rounds >= 1")
    try:
        args.workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        parser.error(f"--workers {args.workers!r}: give numbers separated by commas, e.g. 1,2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    elif client == "wrk" and not shutil.which("wrk"):
        print(
            "ingest: wrk not found (apt-get install wrk), or use --client python", file=sys.stderr
        )
        return 2
    host, _, port = args.mysql.rpartition(":")
    server = Server(host=host or "127.0.0.1", port=int(port))
    raw_c = args.raw_connections or args.batch_connections
    notes: list[str] = []
    rows: list[Row] = []
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; load: {client}; "
          f"{args.rounds} rounds of {args.seconds:g} s per figure")  # fmt: skip
    commands = [("this" if args.compare else "", COLLECTOR)]
    if args.compare:
        commands.append(("compared", args.compare))
    try:
        with ExitStack() as databases:
            builds = []
            for n, (label, command) in enumerate(commands):
                name = args.database + ("_compared" if n else "")
                database = databases.enter_context(own_database(server, name, keep=args.keep))
                # Each build migrates its own: `init-db` of one revision refuses a
                # database another build has migrated past it.
                collector_cli("init-db", "--db", server.url(database), command=command)
                builds.append(Build(label, command, database))
            bench = Bench(server, client, args.seconds, notes)
            for workers in args.workers:
                rows += measure(bench, workers, args.rounds, args.single_connections,
                                args.batch_connections, raw_c, builds)  # fmt: skip
    except (BenchError, OSError) as error:
        print(f"ingest: {error}", file=sys.stderr)
        return 1
    print("\nmedians over rounds; the executemany ratio is the median of per-round ratios")
    print_table(rows)
    for text in notes:
        print(f"note: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
