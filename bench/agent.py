"""How fast smartcron-agent drains a spool into MariaDB, against the collector's own
batched ingest rate measured in the same run; its memory and CPU; an idle daemon; and
the collector holding heartbeats from many hosts while ingest goes on.

    .venv/bin/python bench/agent.py [--reports 100000] [--hosts 2000] [--beat-every 30]
    .venv/bin/python bench/agent.py --reports 2000 --hosts 40 --beat-every 2 \\
        --idle-interval 2 --beat-seconds 6 --beat-rounds 1   # a quick check that it runs
    .venv/bin/python bench/agent.py --only heartbeats   # (d) alone: about 10 minutes

A real `smartcron-collector serve` (1 worker) on a loopback port, over a database of the
benchmark's own (smartcron_bench_agent, dropped at the end):

(a) the peer: reports per second that the collector takes in batches of --batch over one
    keep-alive connection, bodies built beforehand, the same shape of reports the spool
    holds; half of --reports before (b) and half after, so that the peer's figure
    brackets the agent's (the tables grow, the machine's load moves);
(b) `smartcron-agent once --batch-size --batch` over a spool of --reports files: reports
    per second, wall time including start-up (target: at least 0.8 of (a)), its peak RSS
    (VmHWM, target 60 MiB) against the peak of a bare `python -c "import requests"`
    on the same interpreter (the floor of any agent built on requests), and CPU
    seconds per 1,000 reports (ru_utime + ru_stime from wait4), against the
    collector's and MariaDB's CPU per 1,000 meanwhile;
(c) `smartcron-agent run` (its default --interval, 30 s, unless --idle-interval) on the
    empty spool: CPU over --idle-passes whole intervals, from half an interval after
    its first pass ended, so the window holds that many passes and no start-up
    (target 0.2 % of a core), and its VmHWM after those passes (a note);
(d) --hosts simulated agents each sending a heartbeat (the fields the agent sends)
    every --beat-every seconds for --beat-seconds, spread evenly, with ingest going on,
    two kinds of it in turn. Each phase's hosts first register, unmeasured by the p99:
    every host's first heartbeat carries its 25 crontab jobs, as an agent's does when it
    starts (after that only when they change); their p99 is a note of its own. Ingest:
    - the fleet's own (the target's figure): the runs of those hosts' 25 crontab jobs,
      each every 5 minutes (heartbeat_body's), 10,000 reports a minute at 2,000 hosts,
      each POSTed alone on a connection of its own right after its run, as the wrapper
      delivers it. That is the normal path (DESIGN.md: the wrapper writes the report to
      the spool, then POSTs it); the agent ships batches only of what is left in the
      spool when the collector could not be reached. Spread evenly over time (cron
      starts them on the same minutes, but runs end at their own times);
    - the stress figure: one process posting batches of --batch fresh reports of other
      hosts back-to-back, as fast as the collector takes them (it saturates the
      collector and MariaDB: far more than any fleet of this size sends);
    the heartbeats' p99 latency (target 200 ms, for the fleet's ingest), the p50, and
    the ingest requests' rate and latency meanwhile; then the peer, as many other new
    hosts doing the same with no ingest. --beat-rounds such triples; the table gives
    medians over them. `--only heartbeats` runs (d) alone.
Every loop is bounded by a count or a deadline. Prints figures and PASS/MISS; never
asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import multiprocessing
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.collector_support import (
    BIN,
    Server,
    clean_env,
    collector_cli,
    own_database,
    print_table,
    serve,
    token,
)
from bench.ingest import FAILED_EVERY, Cpu, make_report, report_for, server_pids
from bench.table import BenchError, Row

DATABASE = "smartcron_bench_agent"
TARGET_RATIO, TARGET_RSS_MIB, TARGET_IDLE_CPU, TARGET_BEAT_P99_MS = 0.8, 60.0, 0.002, 200.0
AGENT_LIMIT_S = 3600  # an agent that has not drained the spool by then is killed
DEFAULT_INTERVAL_S = 30.0  # smartcron-agent run's own default


def post(connection: http.client.HTTPConnection, path: str, body: bytes, bearer: str) -> int:
    connection.request("POST", path, body, {"Content-Type": "application/json",
                                            "Authorization": f"Bearer {bearer}"})  # fmt: skip
    response = connection.getresponse()
    response.read()
    return response.status


def peer_rate(port: int, bearer: str, reports: int, batch: int, first: int = 0) -> float:
    """(a): the collector's batched ingest, reports per second."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    bodies = []
    for start in range(first, first + reports, batch):
        runs = [
            report_for(n, batch, str(uuid.uuid4()))
            for n in range(start, min(start + batch, first + reports))
        ]
        bodies.append(json.dumps({"runs": runs}, separators=(",", ":")).encode())
    started = time.perf_counter()
    for body in bodies:
        status = post(connection, "/api/v1/runs", body, bearer)
        if status != 200:
            raise BenchError(f"peer ingest answered {status}")
    elapsed = time.perf_counter() - started
    connection.close()
    return reports / elapsed


def fill_spool(state: Path, reports: int, batch: int) -> None:
    """--reports files as the wrapper leaves them (0640, one JSON object each); written
    by a few threads, as the benchmark's own set-up is not what is measured."""
    spool = state / "spool"
    spool.mkdir(parents=True)
    state.chmod(0o750)

    def write(n: int) -> None:
        report = report_for(n, batch, str(uuid.uuid4()))
        path = spool / f"{report['run_id']}.json"
        path.write_text(json.dumps(report, separators=(",", ":")))
        path.chmod(0o640)

    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(write, n) for n in range(reports)]:
            future.result()


def vm_hwm_kib(pid: int | str) -> int:
    """VmHWM of /proc/PID/status (or 'self'): the peak RSS since exec, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise BenchError(f"no VmHWM in /proc/{pid}/status")


PEER_RSS = (
    "import requests\n"
    "for line in open('/proc/self/status'):\n"
    "    if line.startswith('VmHWM:'): print(line.split()[1])"
)


def peer_rss_mib() -> float:
    """The peak RSS of a bare `import requests` on the agent's interpreter, read by
    the process itself at its end (VmHWM starts again at exec, unlike ru_maxrss)."""
    done = subprocess.run([str(BIN / "python"), "-c", PEER_RSS], env=clean_env(),
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    if done.returncode != 0 or not done.stdout.strip().isdigit():
        raise BenchError(f"the RSS peer failed: {done.stderr.strip()[-300:]}")
    return int(done.stdout) / 1024


def agent_argv(command: str, state: Path, url: str, bearer: str, *extra: str) -> list[str]:
    return [str(BIN / "smartcron-agent"), command, "--state-dir", str(state),
            "--collector", url, "--token", bearer, *extra]  # fmt: skip


@dataclass(frozen=True)
class Drain:
    rate: float  # reports per second, wall time from exec to exit
    rss_mib: float
    cpu_per_1000: float  # the agent's CPU seconds per 1,000 reports
    collector_per_1000: float  # the collector's, meanwhile
    database_per_1000: float  # MariaDB's, meanwhile
    wait4_mib: float  # ru_maxrss, for comparison (see _Peak)
    peer_rss_mib: float  # a bare `import requests`, median of 3 just before the agent


def drain(state: Path, collector_pid: int, database_pids: list[int], url: str, bearer: str,
          reports: int, batch: int) -> Drain:  # fmt: skip
    """(b): the agent's rate, peak RSS and CPU, and what the collector and MariaDB spent."""
    argv = agent_argv("once", state, url, bearer, "--batch-size", str(batch))
    peer_rss = statistics.median(peer_rss_mib() for _ in range(3))
    cpu = Cpu(collector_pid, database_pids)
    before = cpu.sample()
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=clean_env(), stdout=subprocess.DEVNULL)
    guard = threading.Timer(AGENT_LIMIT_S, lambda: process.send_signal(signal.SIGKILL))
    guard.start()
    peak = _Peak(process.pid)
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        guard.cancel()
        peak.stop()
    elapsed = time.perf_counter() - started
    after = cpu.sample()
    process.returncode = os.waitstatus_to_exitcode(status)
    left = len(list((state / "spool").glob("*.json")))
    if process.returncode != 0 or left:
        raise BenchError(f"the agent exited {process.returncode} with {left} reports left")
    per_1000 = 1000 / reports
    return Drain(reports / elapsed, peak.kib / 1024,
                 (usage.ru_utime + usage.ru_stime) * per_1000,
                 (after[0] - before[0]) * per_1000, (after[1] - before[1]) * per_1000,
                 usage.ru_maxrss / 1024, peer_rss)  # fmt: skip


class _Peak:
    """The agent's peak RSS, VmHWM of /proc/PID/status, read every 50 ms until it exits.
    Not ru_maxrss: Linux records the RSS high-water mark of the memory a process had
    before exec (this benchmark's: the spawning shares it), so wait4's figure is at least
    the benchmark's own; both are printed in a note.
    VmHWM only grows: the last reading before exit is the peak but for its last 50 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.kib = pid, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            # Exited (or a zombie without memory): the last reading stands.
            with contextlib.suppress(OSError, ValueError, IndexError, BenchError):
                self.kib = max(self.kib, vm_hwm_kib(self.pid))
            self._done.wait(0.05)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


@dataclass(frozen=True)
class Idle:
    cpu: float  # fraction of a core over the window
    window_s: float
    passes: int  # passes that ended inside the window (by the agent's journal)
    interval_s: float
    rss_mib: float  # its VmHWM after the window: start-up and every pass so far


def _last_pass(state: Path) -> float | None:
    """When the agent's last pass sent its heartbeat (agent/agent.json), if it has."""
    try:
        journal = json.loads((state / "agent" / "agent.json").read_text())
    except (OSError, ValueError):
        return None
    value = journal.get("last_heartbeat_at") if isinstance(journal, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def idle_cpu(state: Path, url: str, bearer: str, interval: float, passes: int) -> Idle:
    """(c): an idle daemon's CPU over `passes` whole intervals, after its first pass."""
    flags = [] if interval == DEFAULT_INTERVAL_S else ["--interval", f"{interval:g}s"]
    before_start = _last_pass(state)
    process = psutil.Popen(agent_argv("run", state, url, bearer, *flags), env=clean_env(),
                           stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while (first := _last_pass(state)) is None or first == before_start:
            if time.monotonic() > deadline or process.poll() is not None:
                raise BenchError("the idle daemon's first pass never ended")
            time.sleep(0.1)
        # Half an interval on: the window [t, t + passes * interval] then holds the
        # passes due at first + interval, ..., first + passes * interval, whole.
        time.sleep(interval / 2)
        window = passes * interval
        before, wall = process.cpu_times(), time.perf_counter()
        time.sleep(window)
        after, elapsed = process.cpu_times(), time.perf_counter() - wall
        last = _last_pass(state) or first
        used = (after.user + after.system) - (before.user + before.system)
        rss_mib = vm_hwm_kib(process.pid) / 1024
        return Idle(used / elapsed, elapsed, round((last - first) / interval), interval,
                    rss_mib)  # fmt: skip
    finally:
        process.terminate()
        process.wait(30)


def _ingest_load(port: int, bearer: str, batch: int, stop: Any, until: float,
                 counted: Any, took: Any) -> None:  # fmt: skip
    """Batches of fresh reports until `stop` or the deadline `until` (time.time()); each
    answered request's seconds go in `took` (a shared array, as many as fit)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    n = 10**9  # other run_ids' numbers than the drain's
    while not stop.is_set() and time.time() < until:
        runs = [report_for(n + i, batch, str(uuid.uuid4())) for i in range(batch)]
        n += batch
        body = json.dumps({"runs": runs}).encode()
        started = time.perf_counter()
        if post(connection, "/api/v1/runs", body, bearer) == 200:
            seconds = time.perf_counter() - started
            with counted.get_lock():
                if counted.value // batch < len(took):
                    took[counted.value // batch] = seconds
                counted.value += batch


FLEET_JOBS, FLEET_EVERY_S = 25, 300.0  # heartbeat_body's crontab: 25 jobs, */5 each
FLEET_SENDERS = 16  # wrappers POSTing at once, at most


def _fleet_load(port: int, bearer: str, hosts: int, prefix: str, stop: Any, until: float,
                counted: Any, took: Any) -> None:  # fmt: skip
    """The fleet's own reports: each of `hosts` hosts' FLEET_JOBS jobs once every
    FLEET_EVERY_S seconds, spread evenly, each POSTed alone on a new connection right
    after its run (as smartcron-wrap does), until `stop` or `until`; each answered
    request's seconds go in `took`."""
    gap = FLEET_EVERY_S / (hosts * FLEET_JOBS)
    lock = threading.Lock()

    def send(n: int) -> None:
        if stop.is_set():  # due while the senders were all busy: the phase is over
            return
        host, job = n % hosts, (n // hosts) % FLEET_JOBS
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        slot = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
        status = "failed" if n % FAILED_EVERY == FAILED_EVERY - 1 else "success"
        report = make_report(f"job-{job:02d}", f"{prefix}-{host:05d}", status,
                             str(uuid.uuid4()), slot, "*/5 * * * *")  # fmt: skip
        body = json.dumps({"runs": [report]}, separators=(",", ":")).encode()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        started = time.perf_counter()
        try:
            status_code = post(connection, "/api/v1/runs", body, bearer)
        except OSError:
            return
        finally:
            connection.close()
        if status_code == 200:
            seconds = time.perf_counter() - started
            with lock, counted.get_lock():
                if counted.value < len(took):
                    took[counted.value] = seconds
                counted.value += 1

    with ThreadPoolExecutor(max_workers=FLEET_SENDERS) as pool:
        start, n = time.perf_counter(), 0
        while not stop.is_set() and time.time() < until:
            time.sleep(max(0.0, start + n * gap - time.perf_counter()))
            pool.submit(send, n)
            n += 1


def heartbeat_body(host: int, with_jobs: bool, prefix: str = "sim") -> bytes:
    """What the agent sends (agent/heartbeat.py's fields), with the jobs of a host of
    25 crontab lines in the first heartbeat, as after the agent starts."""
    now = time.time()
    body: dict[str, Any] = {
        "host": f"{prefix}-{host:05d}", "agent_version": "0.2.0",
        "boot_id": str(uuid.UUID(int=host)), "uptime_s": 864000.0 + host,
        "timezone": "Europe/Berlin", "clock": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "load": [0.42, 0.35, 0.3],
        "memory": {"total_bytes": 8 * 2**30, "available_bytes": 5 * 2**30},
        "disk_free": {"state_dir": 40 * 2**30, "logs": 40 * 2**30},
        "spool": {"depth": 0, "oldest_at": None, "rejected": 0},
        "running": [{"run_id": str(uuid.UUID(int=host * 7)), "job": "backup", "pid": 4242,
                     "started_at": "2026-01-01T00:00:00Z", "timeout_s": 3600.0}],
        "running_total": 1,
    }  # fmt: skip
    if with_jobs:
        body["jobs"] = [
            {"name": f"job-{n:02d}", "schedule": "*/5 * * * *", "timezone": None,
             "command": f"php /srv/app/bin/console cron:task-{n}", "user": "www-data",
             "source": "crontab of www-data", "line": n + 1, "wrapped": n % 3 != 0,
             "text": f"*/5 * * * * php /srv/app/bin/console cron:task-{n}"}
            for n in range(25)
        ]  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Beats:
    p99_ms: float
    p50_ms: float
    answered: int
    failed: dict[str, int]  # answer (status or error) -> how many
    late_starts: int  # heartbeats the client sent more than 50 ms after they were due
    ingest_rate: float  # reports per second stored meanwhile (0 without ingest)
    ingest_p50_ms: float | None  # the ingest requests' latency meanwhile
    ingest_p99_ms: float | None
    registered_p99_ms: float  # the hosts' first heartbeats (with their jobs), sent before


MAX_INGEST_SAMPLES = 100_000
KEEP_ALIVE_S = 4.0  # under uvicorn's keep-alive timeout (5 s)


SATURATING, FLEET = "saturating", "fleet"


def heartbeats(port: int, bearer: str, hosts: int, every: float, seconds: float,
               batch: int, prefix: str = "sim", ingest: str | None = FLEET) -> Beats:  # fmt: skip
    """(d): heartbeat latency with ingest going on, the fleet's own (FLEET) or the
    saturating batches (SATURATING); or, with `ingest` None, the same heartbeats of
    other hosts alone: the peer."""
    stop = multiprocessing.Event()
    counted = multiprocessing.Value("q", 0)
    took = multiprocessing.Array("d", MAX_INGEST_SAMPLES)
    until = time.time() + seconds + 60
    per_request = batch if ingest == SATURATING else 1
    load = multiprocessing.Process(
        target=_ingest_load if ingest == SATURATING else _fleet_load,
        args=(port, bearer, batch, stop, until, counted, took)
        if ingest == SATURATING
        else (port, bearer, hosts, prefix, stop, until, counted, took),
        daemon=True,
    )
    latencies: list[float] = []
    failed: dict[str, int] = {}
    late = [0]
    lock = threading.Lock()
    local = threading.local()

    def beat(host: int, first: bool, due: float | None, into: list[float]) -> None:
        body = heartbeat_body(host, first, prefix)
        # A connection idle for longer than the server keeps one open (uvicorn: 5 s) is
        # closed at its end: a thread of the pool left idle that long starts a new one.
        if getattr(local, "used", 0.0) < time.perf_counter() - KEEP_ALIVE_S:
            if hasattr(local, "connection"):
                local.connection.close()
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        started = time.perf_counter()
        try:
            status: int | str = post(local.connection, "/api/v1/heartbeat", body, bearer)
        except OSError as error:
            local.connection.close()
            status = type(error).__name__
        elapsed = time.perf_counter() - started
        local.used = time.perf_counter()
        with lock:
            late[0] += due is not None and started - due > 0.05
            if status == 200:
                into.append(elapsed)
            else:
                failed[str(status)] = failed.get(str(status), 0) + 1

    # Every host's first heartbeat, with its 25 crontab jobs, before the measured phase:
    # an agent sends its jobs when it starts and then only when they change, so the
    # phase measures the fleet holding its heartbeats, and the registrations of 2,000
    # hosts at once are a figure of their own (`registered`).
    registered: list[float] = []
    with ThreadPoolExecutor(max_workers=32) as pool:
        for host in range(hosts):
            pool.submit(beat, host, True, None, registered)
    if ingest:
        load.start()
        time.sleep(2)  # ingest going on before the first heartbeat
    ingest_before, ingest_started = counted.value, time.perf_counter()
    try:
        gap = every / hosts
        with ThreadPoolExecutor(max_workers=32) as pool:
            start = time.perf_counter()
            n = 0
            while (due := start + n * gap) < start + seconds:
                time.sleep(max(0.0, due - time.perf_counter()))
                pool.submit(beat, n % hosts, False, due, latencies)
                n += 1
        ingest_rate = (counted.value - ingest_before) / (time.perf_counter() - ingest_started)
        # The requests answered from the first heartbeat on (as many as were kept).
        first = ingest_before // per_request
        last = min(counted.value // per_request, MAX_INGEST_SAMPLES)
        ingest_took = list(took[first:last])
    finally:
        stop.set()
        if ingest:
            load.join(180)
    if len(latencies) < 2:
        raise BenchError("too few heartbeats answered to take a p99")
    cuts = statistics.quantiles(latencies, n=100)
    ingest_cuts = statistics.quantiles(ingest_took, n=100) if len(ingest_took) >= 2 else None
    return Beats(cuts[98] * 1000, statistics.median(latencies) * 1000, len(latencies),
                 failed, late[0], ingest_rate,
                 statistics.median(ingest_took) * 1000 if ingest_cuts else None,
                 ingest_cuts[98] * 1000 if ingest_cuts else None,
                 statistics.quantiles(registered, n=100)[98] * 1000)  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000, help="spool size (100000)")
    parser.add_argument("--batch", type=int, default=500, help="reports per POST (500)")
    parser.add_argument("--hosts", type=int, default=2000, help="simulated hosts (2000)")
    parser.add_argument("--beat-every", type=float, default=30, help="seconds (30)")
    parser.add_argument("--beat-seconds", type=float, default=60,
                        help="length of each phase of (d) (60)")  # fmt: skip
    parser.add_argument("--beat-rounds", type=int, default=3,
                        help="rounds of (d): both ingests, then none (3)")  # fmt: skip
    parser.add_argument(
        "--idle-interval",
        type=float,
        default=DEFAULT_INTERVAL_S,
        help="the idle daemon's --interval in seconds (its default, 30)",
    )
    parser.add_argument("--idle-passes", type=int, default=3,
                        help="whole intervals measured in (c) (3)")  # fmt: skip
    parser.add_argument("--mysql", default="127.0.0.1:3306", help="HOST:PORT, user root")
    parser.add_argument(
        "--database",
        default=DATABASE,
        help=f"the benchmark's own database, dropped at the end ({DATABASE})",
    )
    parser.add_argument("--only", choices=["heartbeats"],
                        help="run only (d), the heartbeats and their peer")  # fmt: skip
    args = parser.parse_args(argv)
    if not args.database.startswith("smartcron_bench"):
        parser.error("--database must start with smartcron_bench (it is dropped at the end)")
    if min(args.reports, args.batch, args.hosts, args.idle_passes, args.beat_rounds) < 1 or (
        args.batch > 1000
    ):
        parser.error("--reports, --hosts, --idle-passes, --beat-rounds >= 1; --batch 1 to 1000")
    if args.reports < 2 or args.idle_interval <= 0:
        parser.error("--reports >= 2 (the peer takes half before, half after); --idle-interval > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    host, _, port = args.mysql.rpartition(":")
    server = Server(host=host or "127.0.0.1", port=int(port))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; {args.reports} reports, "
          f"batches of {args.batch}; {args.hosts} hosts every {args.beat_every:g} s; "
          f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    drained = idle = None
    peer_before = peer_after = 0.0
    try:
        with own_database(server, args.database) as database, tempfile.TemporaryDirectory() as tmp:
            url = server.url(database)
            collector_cli("init-db", "--db", url)
            bearer = token(url, "ingest")
            with serve(url, 1, Path(tmp) / "collector.log") as collector:
                if args.only is None:
                    database_pids = server_pids(server.port)
                    half = args.reports // 2
                    peer_before = peer_rate(collector.port, bearer, half, args.batch)
                    state = Path(tmp) / "state"
                    fill_spool(state, args.reports, args.batch)
                    drained = drain(state, collector.process.pid, database_pids, collector.url,
                                    bearer, args.reports, args.batch)  # fmt: skip
                    peer_after = peer_rate(collector.port, bearer, args.reports - half,
                                           args.batch, first=half)  # fmt: skip
                    idle = idle_cpu(state, collector.url, bearer, args.idle_interval,
                                    args.idle_passes)  # fmt: skip
                rounds = []
                for n in range(args.beat_rounds):
                    phases = [(FLEET, f"fleet{n}"), (SATURATING, f"sim{n}"), (None, f"quiet{n}")]
                    # The peer (None): as many other new hosts doing the same, no ingest.
                    fleet, beats, quiet = (
                        heartbeats(collector.port, bearer, args.hosts, args.beat_every,
                                   args.beat_seconds, args.batch, prefix, ingest)
                        for ingest, prefix in phases
                    )  # fmt: skip
                    rounds.append(Round(fleet, beats, quiet))
    except (BenchError, OSError) as error:
        print(f"agent: {error}", file=sys.stderr)
        return 1
    rows = []
    if drained is not None and idle is not None:
        rows = drain_rows(args, peer_before, peer_after, drained, idle)
    print_results(args, rows, rounds)
    if drained is not None and idle is not None:
        print_drain_notes(peer_before, peer_after, drained, idle)
    print(f"note: load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def drain_rows(args: argparse.Namespace, peer_before: float, peer_after: float,
               drained: Drain, idle: Idle) -> list[Row]:  # fmt: skip
    # The peer's time for the same number of reports: half at each rate.
    peer = 2 / (1 / peer_before + 1 / peer_after)
    ratio = drained.rate / peer
    interval = "its default" if idle.interval_s == DEFAULT_INTERVAL_S else "override"
    return [
        Row(f"spool of {args.reports:,} drained (reports/s)", f"{drained.rate:,.0f}",
            f"{peer:,.0f} batched ingest", f"{ratio:.2f}", f">= {TARGET_RATIO}",
            ratio >= TARGET_RATIO),
        Row(f"agent peak RSS draining {args.reports:,}", f"{drained.rss_mib:.1f} MiB",
            f"{drained.peer_rss_mib:.1f} MiB `import requests`",
            f"{drained.rss_mib / drained.peer_rss_mib:.2f}",
            f"<= {TARGET_RSS_MIB:g} MiB", drained.rss_mib <= TARGET_RSS_MIB),
        Row("agent CPU per 1,000 reports", f"{drained.cpu_per_1000:.3f} s",
            f"collector {drained.collector_per_1000:.3f} s", "-", "-", None),
        Row(f"idle `run` CPU ({idle.passes} passes in {idle.window_s:.0f} s, --interval "
            f"{idle.interval_s:g}s, {interval})", f"{idle.cpu * 100:.3f} %", "-", "-",
            f"<= {TARGET_IDLE_CPU * 100:g} %", idle.cpu <= TARGET_IDLE_CPU),
    ]  # fmt: skip


@dataclass(frozen=True)
class Round:
    fleet: Beats  # beside the fleet's own ingest: the target's figure
    saturating: Beats  # beside ingest as fast as the collector takes it: the stress figure
    quiet: Beats  # the peer: no ingest


def beat_rows(rounds: list[Round], kind: str, title: str, target: bool) -> list[Row]:
    """p99 and p50 of the heartbeats beside `kind` of ingest ("fleet", "saturating"):
    medians over the rounds, of each figure and of the per-round ratio to the peer (the
    machine's load moves between rounds, both sides alike)."""
    pairs = [(getattr(one, kind), one.quiet) for one in rounds]
    p99 = statistics.median(beats.p99_ms for beats, _ in pairs)
    quiet_p99 = statistics.median(quiet.p99_ms for _, quiet in pairs)
    p99_ratio = statistics.median(beats.p99_ms / quiet.p99_ms for beats, quiet in pairs)
    p50 = statistics.median(beats.p50_ms for beats, _ in pairs)
    quiet_p50 = statistics.median(quiet.p50_ms for _, quiet in pairs)
    p50_ratio = statistics.median(beats.p50_ms / quiet.p50_ms for beats, quiet in pairs)
    failed = any(beats.failed for beats, _ in pairs)
    return [
        Row(title, f"{p99:.1f} ms", f"{quiet_p99:.1f} ms without ingest", f"{p99_ratio:.2f}",
            f"<= {TARGET_BEAT_P99_MS:g} ms" if target else "- (stress)",
            p99 <= TARGET_BEAT_P99_MS and not failed if target else None),
        Row("heartbeat p50 (the same)", f"{p50:.1f} ms", f"{quiet_p50:.1f} ms without ingest",
            f"{p50_ratio:.2f}", "-", None),
    ]  # fmt: skip


def print_results(args: argparse.Namespace, rows: list[Row], rounds: list[Round]) -> None:
    of = f"median of {len(rounds)}" if len(rounds) > 1 else "one round"
    fleet_rate = args.hosts * FLEET_JOBS * 60 / FLEET_EVERY_S
    rows = [
        *rows,
        *beat_rows(rounds, "fleet", f"heartbeat p99 ({args.hosts:,} hosts every "
                   f"{args.beat_every:g} s, their {fleet_rate:,.0f} reports/min; {of})",
                   target=True),
        *beat_rows(rounds, "saturating", f"heartbeat p99 (the same hosts, ingest of "
                   f"{args.batch} back-to-back; {of})", target=False),
    ]  # fmt: skip
    print()
    print_table(rows)
    for n, one in enumerate(rounds, 1):
        for name, run in (("fleet's ingest", one.fleet), ("saturating ingest", one.saturating),
                          ("no ingest", one.quiet)):  # fmt: skip
            failures = ", ".join(f"{k} {what}" for what, k in sorted(run.failed.items()))
            print(
                f"note: round {n}, heartbeats beside {name}: p50 {run.p50_ms:.1f} ms, p99 "
                f"{run.p99_ms:.1f} ms; {run.answered:,} answered, failed: "
                f"{failures or 'none'}; {run.late_starts} sent over 50 ms late by the client;"
                f" the {args.hosts:,} first heartbeats with their jobs before: p99 "
                f"{run.registered_p99_ms:.1f} ms"
            )
        due = f" (due {fleet_rate / 60:,.0f}/s)"
        kinds = [("fleet's", one.fleet, 1, due), ("saturating", one.saturating, args.batch, "")]
        for name, run, size, of_due in kinds:
            ingest = (
                f"p50 {run.ingest_p50_ms:.1f} ms, p99 {run.ingest_p99_ms:.1f} ms"
                if run.ingest_p50_ms is not None and run.ingest_p99_ms is not None
                else "too few answered for a p99"
            )
            print(
                f"note: round {n}, {name} ingest beside the heartbeats: "
                f"{run.ingest_rate:,.0f} reports/s{of_due}, requests of {size} reports {ingest}"
            )


def print_drain_notes(peer_before: float, peer_after: float, drained: Drain, idle: Idle) -> None:
    print(
        f"note: peer (batched ingest, one connection) {peer_before:,.0f}/s before the "
        f"drain, {peer_after:,.0f}/s after; the agent's rate counts its start-up"
    )
    print(
        f"note: CPU per 1,000 reports during the drain: agent {drained.cpu_per_1000:.3f} s, "
        f"collector {drained.collector_per_1000:.3f} s, MariaDB {drained.database_per_1000:.3f} s"
    )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"note: agent RSS by wait4's ru_maxrss {drained.wait4_mib:.1f} MiB, the "
        f"benchmark's own peak {own:.1f} MiB (see _Peak); by VmHWM {drained.rss_mib:.1f} MiB; "
        f"the idle daemon's VmHWM after {idle.passes} passes {idle.rss_mib:.1f} MiB; the "
        f"peer, a bare `python -c 'import requests'`, median of 3: {drained.peer_rss_mib:.1f} MiB"
    )


if __name__ == "__main__":
    sys.exit(main())
