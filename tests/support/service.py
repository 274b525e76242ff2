"""A real smartcron-collector process on a free loopback port, for tests.

with start_collector(db_url) as service:
    service.post_runs([make_report()])
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "correct horse battery staple"
ATTEMPT_STATUSES = ("success", "failed", "timeout", "killed_memory", "error")


def wait_for(condition: Callable[[], object], what: str, limit_s: float = 60.0) -> None:
    """Until `condition` holds, for what the service does on its own; the limit is a
    deadline, never a figure."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {limit_s:.0f} s: {what}")
        time.sleep(0.1)


def collector_bin() -> str:
    found = BIN / "smartcron-collector"
    return (
        str(found)
        if found.exists()
        else shutil.which("smartcron-collector") or "smartcron-collector"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [collector_bin(), *args], capture_output=True, text=True, check=False, env=env, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"smartcron-collector {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


@dataclass
class Service:
    url: str
    db_url: str
    ingest_token: str
    admin_token: str
    process: subprocess.Popen[str]
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session)

    def headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def post_runs(
        self, reports: list[dict[str, Any]], token: str | None = "ingest"
    ) -> requests.Response:
        chosen = self.ingest_token if token == "ingest" else token
        return self.session.post(f"{self.url}/api/v1/runs", json={"runs": reports},
                                 headers=self.headers(chosen), timeout=30)  # fmt: skip

    def get(self, path: str, token: str | None = "admin", **kwargs: Any) -> requests.Response:
        chosen = self.admin_token if token == "admin" else token
        return self.session.get(
            f"{self.url}{path}", headers=self.headers(chosen), timeout=30, **kwargs
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def password_hash(password: str = ADMIN_PASSWORD) -> str:
    return run_cli("hash-password", "--password", password)


@contextlib.contextmanager
def start_collector(
    db_url: str,
    tmp: Path,
    *,
    extra: tuple[str, ...] = (),
    password_via: str = "argv",
    fd_limit: int | None = None,
) -> Iterator[Service]:
    """migrate, create an ingest and an admin token, serve; stop (SIGTERM) at the end.
    password_via: how serve is given the admin password hash, "argv" (the flag), "env"
    (SMARTCRON_ADMIN_PASSWORD_HASH), "file" (the flag, file:PATH) or "env-file".
    `fd_limit` starts the service under that RLIMIT_NOFILE (systemd's default is 1,024)."""
    run_cli("migrate", "--db", db_url)
    ingest = run_cli("create-token", "--db", db_url, "--name", "test-ingest", "--kind", "ingest")
    admin = run_cli("create-token", "--db", db_url, "--name", "test-admin", "--kind", "admin")
    with _serve(db_url, tmp, ingest, admin, extra, password_via, fd_limit) as service:
        yield service


@contextlib.contextmanager
def start_replica(primary: Service, tmp: Path, *, extra: tuple[str, ...] = ()) -> Iterator[Service]:
    """Another `serve` on the primary's database and tokens, as a second replica behind
    a load balancer would be: no migrate, no tokens of its own."""
    with _serve(primary.db_url, tmp, primary.ingest_token, primary.admin_token, extra) as service:
        yield service


def _password_arguments(tmp: Path, via: str, env: dict[str, str]) -> list[str]:
    """serve's arguments for the admin password hash, given `via` (see start_collector);
    the environment variable, if any, goes into `env`."""
    given = password_hash()
    if via in ("file", "env-file"):
        path = tmp / f"admin-{secrets.token_hex(4)}.hash"
        path.write_text(given + "\n")
        path.chmod(0o600)
        given = f"file:{path}"
    if via.startswith("env"):
        env["SMARTCRON_ADMIN_PASSWORD_HASH"] = given
        return []
    return ["--admin-password-hash", given]


@contextlib.contextmanager
def _serve(
    db_url: str,
    tmp: Path,
    ingest: str,
    admin: str,
    extra: tuple[str, ...],
    password_via: str = "argv",
    fd_limit: int | None = None,
) -> Iterator[Service]:
    port = free_port()
    log_path = tmp / f"collector-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCRON_")}
    password = _password_arguments(tmp, password_via, env)
    # util-linux's prlimit sets the limit and execs the service (same pid), as systemd's
    # LimitNOFILE would; a preexec_fn is not safe in a process with threads.
    limit = ["prlimit", f"--nofile={fd_limit}:{fd_limit}", "--"] if fd_limit is not None else []
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [*limit, collector_bin(), "serve", "--db", db_url, "--listen", f"127.0.0.1:{port}",
             *password, *extra],
            stdout=log, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
        )  # fmt: skip
    service = Service(f"http://127.0.0.1:{port}", db_url, ingest, admin, process, log_path)
    try:
        _wait_ready(service)
        yield service
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def workers_of(service: Service, count: int = 2, limit_s: float = 20.0) -> list[psutil.Process]:
    """The service's worker processes once `count` of them listen (the parent's other
    child is multiprocessing's resource tracker, which holds no socket)."""
    deadline = time.monotonic() + limit_s
    while True:
        listening = [
            child for child in psutil.Process(service.process.pid).children() if _listens(child)
        ]
        if len(listening) == count or time.monotonic() > deadline:
            return listening
        time.sleep(0.1)


def _listens(process: psutil.Process) -> bool:
    try:
        return any(c.status == psutil.CONN_LISTEN for c in process.net_connections("tcp"))
    except (psutil.Error, OSError):  # it exited while we looked (a killed worker)
        return False


def _wait_ready(service: Service, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"collector exited early:\n{service.log()}")
        # A timeout too: with --workers a connection can wait for a worker still starting.
        with contextlib.suppress(requests.ConnectionError, requests.Timeout):
            if service.session.get(f"{service.url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"collector not ready after {limit}s:\n{service.log()}")


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_report(
    job: str = "vend_sync",
    *,
    host: str = "web1",
    status: str = "success",
    started: dt.datetime | None = None,
    duration_s: float = 1.5,
    exit_code: int | None = None,
    peak_rss_bytes: int | None = 50 * 2**20,
    stdout: str = "ok\n",
    stderr: str = "",
    schedule: str | None = "*/5 * * * *",
    run_id: str | None = None,
    breaker_state: str = "closed",
) -> dict[str, Any]:
    """A valid schema-1 run report, as smartcron-wrap writes it."""
    started = started or dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=duration_s)
    finished = started + dt.timedelta(seconds=duration_s)
    skipped = status.startswith("skipped")
    if exit_code is None:
        exit_code = 0 if status == "success" or skipped else (None if status == "timeout" else 1)
    attempts = [] if skipped else [{
        "started_at": iso(started), "finished_at": iso(finished), "exit_code": exit_code,
        "signal": 15 if status == "timeout" else None,
        "status": status if status in ATTEMPT_STATUSES else "failed",
    }]  # fmt: skip
    return {
        "schema": 1,
        "run_id": run_id or str(uuid.uuid4()),
        "job": job,
        "host": host,
        "user": "deploy",
        "command": f"php /srv/{job}.php",
        "schedule": schedule,
        "priority": 5,
        "tags": [],
        "trigger": "cron",
        "status": status,
        "exit_code": exit_code,
        "signal": 15 if status == "timeout" else None,
        "started_at": iso(started),
        # A lost run's end is unknown (the wrapper's lost_run_report).
        "finished_at": None if status == "lost" else iso(finished),
        "duration_s": None if status == "lost" else duration_s,
        "attempts": attempts,
        "peak_rss_bytes": None if skipped else peak_rss_bytes,
        "cpu_user_s": None if skipped else 0.5,
        "cpu_system_s": None if skipped else 0.1,
        "stdout_tail": stdout,
        "stderr_tail": stderr,
        "output_bytes": len(stdout) + len(stderr),
        "output_truncated": False,
        "breaker_state": breaker_state,
        "wrapper_version": "0.1.0",
    }
