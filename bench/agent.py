"""How fast smartcron-agent drains a spool into MariaDB, against the collector's own
batched ingest rate measured in the same run; its memory and CPU; an idle daemon; and
the collector holding heartbeats from many hosts while ingest goes on.

    .venv/bin/python bench/agent.py [--reports 100000] [--hosts 2000] [--beat-every 30]
    .venv/bin/python bench/agent.py --reports 2000 --hosts 40 --beat-every 2 \\
        --idle-seconds 5 --beat-seconds 6          # a quick check that it runs

A real `smartcron-collector serve` (1 worker) on a loopback port, over a database of the
benchmark's own (smartcron_bench_agent, dropped at the end):

(a) the peer: reports per second that the collector takes in batches of --batch over one
    keep-alive connection, with the same reports the spool will hold;
(b) `smartcron-agent once --batch-size --batch` over a spool of --reports files: reports
    per second (target: at least 0.8 of (a)), its peak RSS (ru_maxrss, target 60 MiB) and
    CPU seconds per 1,000 reports (ru_utime + ru_stime from wait4);
(c) `smartcron-agent run` on an empty spool for --idle-seconds: CPU over wall time
    (target 0.2 % of a core);
(d) --hosts simulated agents each sending a heartbeat every --beat-every seconds for
    --beat-seconds, spread evenly, while one process keeps posting batches of reports:
    the heartbeats' p99 latency (target 200 ms).
Prints figures and PASS/MISS; never asserts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
from bench.ingest import report_for
from bench.table import BenchError, Row

DATABASE = "smartcron_bench_agent"
TARGET_RATIO, TARGET_RSS_MIB, TARGET_IDLE_CPU, TARGET_BEAT_P99_MS = 0.8, 60.0, 0.002, 200.0


def post(connection: http.client.HTTPConnection, path: str, body: bytes, bearer: str) -> int:
    connection.request("POST", path, body, {"Content-Type": "application/json",
                                            "Authorization": f"Bearer {bearer}"})  # fmt: skip
    response = connection.getresponse()
    response.read()
    return response.status


def peer_rate(port: int, bearer: str, reports: int, batch: int) -> float:
    """(a): the collector's batched ingest, reports per second."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    bodies = []
    for first in range(0, reports, batch):
        runs = [
            report_for(n, batch, str(uuid.uuid4()))
            for n in range(first, min(first + batch, reports))
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
    spool = state / "spool"
    spool.mkdir(parents=True)
    state.chmod(0o750)
    for n in range(reports):
        report = report_for(n, batch, str(uuid.uuid4()))
        (spool / f"{report['run_id']}.json").write_text(json.dumps(report, separators=(",", ":")))


def agent_argv(command: str, state: Path, url: str, bearer: str, *extra: str) -> list[str]:
    return [str(BIN / "smartcron-agent"), command, "--state-dir", str(state),
            "--collector", url, "--token", bearer, *extra]  # fmt: skip


def drain(
    state: Path, url: str, bearer: str, reports: int, batch: int
) -> tuple[float, float, float]:
    """(b): reports per second, peak RSS in MiB, CPU seconds per 1,000 reports."""
    argv = agent_argv("once", state, url, bearer, "--batch-size", str(batch))
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=clean_env(), stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    left = len(list((state / "spool").glob("*.json")))
    if process.returncode != 0 or left:
        raise BenchError(f"the agent exited {process.returncode} with {left} reports left")
    cpu = usage.ru_utime + usage.ru_stime
    return reports / elapsed, usage.ru_maxrss / 1024, cpu / reports * 1000


def idle_cpu(state: Path, url: str, bearer: str, seconds: float) -> float:
    """(c): an idle daemon's CPU over wall time (after its start-up)."""
    import psutil

    argv = agent_argv("run", state, url, bearer, "--interval", "30s")
    process = psutil.Popen(argv, env=clean_env(), stdout=subprocess.DEVNULL)
    try:
        time.sleep(min(3.0, seconds))  # start-up and the first pass are not idling
        before, wall = process.cpu_times(), time.perf_counter()
        time.sleep(seconds)
        after = process.cpu_times()
        used = (after.user + after.system) - (before.user + before.system)
        return used / (time.perf_counter() - wall)
    finally:
        process.terminate()
        process.wait(30)


def _ingest_load(port: int, bearer: str, batch: int, stop: Any) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    n = 0
    while not stop.is_set():
        runs = [report_for(n + i, batch, str(uuid.uuid4())) for i in range(batch)]
        n += batch
        post(connection, "/api/v1/runs", json.dumps({"runs": runs}).encode(), bearer)


def heartbeat_p99(
    port: int, bearer: str, hosts: int, every: float, seconds: float, batch: int
) -> tuple[float, int]:
    """(d): p99 heartbeat latency in ms with ingest going on; and how many were sent."""
    stop = multiprocessing.Event()
    load = multiprocessing.Process(target=_ingest_load, args=(port, bearer, batch, stop))
    load.start()
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def beat(host: int) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"host": f"sim-{host:05d}", "agent_version": "0.1.0",
                           "load": [0.1, 0.2, 0.3], "spool": {"depth": 0, "rejected": 0},
                           "running": []}).encode()  # fmt: skip
        started = time.perf_counter()
        status = post(local.connection, "/api/v1/heartbeat", body, bearer)
        took = time.perf_counter() - started
        if status == 200:
            with lock:
                latencies.append(took)

    try:
        gap = every / hosts
        with ThreadPoolExecutor(max_workers=32) as pool:
            start = time.perf_counter()
            n = 0
            while (due := start + n * gap) < start + seconds:
                time.sleep(max(0.0, due - time.perf_counter()))
                pool.submit(beat, n % hosts)
                n += 1
    finally:
        stop.set()
        load.join(60)
    if len(latencies) < 2:
        raise BenchError("too few heartbeats answered to take a p99")
    return statistics.quantiles(latencies, n=100)[98] * 1000, len(latencies)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000, help="spool size (100000)")
    parser.add_argument("--batch", type=int, default=500, help="reports per POST (500)")
    parser.add_argument("--hosts", type=int, default=2000, help="simulated hosts (2000)")
    parser.add_argument("--beat-every", type=float, default=30, help="seconds (30)")
    parser.add_argument("--beat-seconds", type=float, default=60, help="length of (d) (60)")
    parser.add_argument("--idle-seconds", type=float, default=60, help="length of (c) (60)")
    parser.add_argument("--mysql", default="127.0.0.1:3306", help="HOST:PORT, user root")
    args = parser.parse_args(argv)
    if min(args.reports, args.batch, args.hosts) < 1 or args.batch > 1000:
        parser.error("--reports, --hosts >= 1; --batch from 1 to 1000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    host, _, port = args.mysql.rpartition(":")
    server = Server(host=host or "127.0.0.1", port=int(port))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; {args.reports} reports, "
          f"batches of {args.batch}; {args.hosts} hosts every {args.beat_every:g} s")  # fmt: skip
    rows: list[Row] = []
    try:
        with own_database(server, DATABASE) as database, tempfile.TemporaryDirectory() as tmp:
            url = server.url(database)
            collector_cli("init-db", "--db", url)
            bearer = token(url, "ingest")
            with serve(url, 1, Path(tmp) / "collector.log") as collector:
                peer = peer_rate(collector.port, bearer, args.reports, args.batch)
                state = Path(tmp) / "state"
                fill_spool(state, args.reports, args.batch)
                rate, rss, cpu = drain(state, collector.url, bearer, args.reports, args.batch)
                idle = idle_cpu(state, collector.url, bearer, args.idle_seconds)
                p99, beats = heartbeat_p99(collector.port, bearer, args.hosts, args.beat_every,
                                           args.beat_seconds, args.batch)  # fmt: skip
    except (BenchError, OSError) as error:
        print(f"agent: {error}", file=sys.stderr)
        return 1
    ratio = rate / peer
    rows = [
        Row("spool drained (reports/s)", f"{rate:,.0f}", f"{peer:,.0f} batched ingest",
            f"{ratio:.2f}", f">= {TARGET_RATIO}", ratio >= TARGET_RATIO),
        Row("agent peak RSS", f"{rss:.1f} MiB", "-", "-", f"<= {TARGET_RSS_MIB:g} MiB",
            rss <= TARGET_RSS_MIB),
        Row("agent CPU per 1,000 reports", f"{cpu:.3f} s", "-", "-", "-", None),
        Row("idle `run` daemon CPU", f"{idle * 100:.3f} %", "-", "-",
            f"<= {TARGET_IDLE_CPU * 100:g} %", idle <= TARGET_IDLE_CPU),
        Row(f"heartbeat p99 ({beats} sent, ingest on)", f"{p99:.1f} ms", "-", "-",
            f"<= {TARGET_BEAT_P99_MS:g} ms", p99 <= TARGET_BEAT_P99_MS),
    ]  # fmt: skip
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
