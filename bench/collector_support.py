"""What bench/ingest.py and bench/page.py share: a MariaDB database of their own, a real
`smartcron-collector serve` on a loopback port, and the result table."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from bench.table import BenchError, Row
from bench.table import print_table as print_rows

BIN = Path(sys.executable).parent


def print_table(rows: list[Row]) -> None:
    print_rows(rows, peer_header="peer/target")


@dataclass(frozen=True)
class Server:
    """A MySQL/MariaDB server the benchmark may create and drop databases on."""

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""

    def connect(
        self, database: str | None = None, *, autocommit: bool = False, local_infile: bool = False
    ) -> pymysql.Connection[Any]:
        try:
            return pymysql.connect(host=self.host, port=self.port, user=self.user,
                                   password=self.password, database=database, charset="utf8mb4",
                                   autocommit=autocommit, local_infile=local_infile)  # fmt: skip
        except pymysql.err.OperationalError as error:
            # Every benchmark's first step: one line naming the server and the fix, no traceback.
            raise BenchError(
                f"cannot reach MariaDB/MySQL at {self.host}:{self.port} as {self.user} "
                f"({error.args[-1]}); start one there or pass --mysql HOST:PORT"
            ) from error

    def url(self, database: str) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"mysql+pymysql://{auth}@{self.host}:{self.port}/{database}"


@contextlib.contextmanager
def own_database(
    server: Server, name: str, keep: bool = False, create: bool = True
) -> Iterator[str]:
    """A database of the benchmark's own, created empty (or, without `create`, the one
    an earlier run kept) and dropped at the end unless `keep`."""
    if name == "test" or not name.startswith("smartcron_bench"):
        raise BenchError(f"refusing database {name!r}: use a smartcron_bench* name")
    with server.connect() as connection, connection.cursor() as cursor:
        if create:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        elif not cursor.execute("SHOW DATABASES LIKE %s", (name,)):
            raise BenchError(f"no database {name!r} to reuse: run once with --keep first")
    try:
        yield name
    finally:
        if not keep:
            with server.connect() as connection, connection.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def collector_cli(*args: str, timeout: float = 120, command: str | None = None) -> str:
    """`smartcron-collector ARGS` (or another build's `command ARGS`), its output."""
    done = subprocess.run([command or COLLECTOR, *args], capture_output=True,
                          text=True, check=False, timeout=timeout, env=clean_env())  # fmt: skip
    if done.returncode != 0:
        raise BenchError(f"smartcron-collector {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SMARTCRON_")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Collector:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


COLLECTOR = str(BIN / "smartcron-collector")


@contextlib.contextmanager
def serve(
    db_url: str, workers: int, log: Path, *extra: str, command: str = COLLECTOR
) -> Iterator[Collector]:
    """`smartcron-collector serve` (or `command serve`) on a free loopback port until
    the block ends."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [command, "serve", "--db", db_url,
             "--listen", f"127.0.0.1:{port}", "--workers", str(workers), *extra],
            stdout=out, stderr=subprocess.STDOUT, env=clean_env(), start_new_session=True,
        )  # fmt: skip
    collector = Collector(f"http://127.0.0.1:{port}", port, process, log)
    try:
        wait_ready(collector, workers)
        yield collector
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_ready(collector: Collector, workers: int, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    answered = 0
    while time.monotonic() < deadline:
        if collector.process.poll() is not None:
            raise BenchError(f"collector exited early:\n{collector.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{collector.url}/healthz", timeout=2) as response:
                answered += response.status == 200
        except OSError:
            time.sleep(0.05)
            continue
        # Every worker has to be up, not just the first: ask a few more times.
        if answered >= 4 * workers:
            time.sleep(0.5)
            return
    raise BenchError(f"collector not ready after {limit_s}s:\n{collector.log.read_text()[-2000:]}")


def token(db_url: str, kind: str, command: str | None = None) -> str:
    return collector_cli("create-token", "--db", db_url, "--name", f"bench-{kind}-"
                         f"{secrets.token_hex(3)}", "--kind", kind, command=command)  # fmt: skip
