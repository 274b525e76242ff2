"""The README's first command: the whole system on the embedded default.

Starts smartcron-collector on SQLite, runs a handful of wrapped sample jobs that
report to it (one succeeds, one fails and retries, one times out, one is skipped
by its lock), then prints the page's URL, how to log in and what to read next, and
keeps serving until Ctrl-C or SIGTERM (`--once` stops right after, for scripts); the
collector stops with it.

Everything lives in .demo/ (or --dir): one state directory, which holds the wrapped
jobs' spool and logs and, as on a single host with no --db, the collector's SQLite
database (collector/collector.db). Nothing touches crontab.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = ".smartcron-demo"  # in a directory the demo made, and may empty again
BIN = Path(sys.executable).parent
WRAP, COLLECTOR = str(BIN / "smartcron-wrap"), str(BIN / "smartcron-collector")


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [COLLECTOR, *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free port on 127.0.0.1")


def wrap(env: dict[str, str], *args: str) -> None:
    print("$ smartcron-wrap " + shlex.join(args))
    done = subprocess.run([WRAP, *args], text=True, capture_output=True, env=env, check=False)
    for line in (done.stdout + done.stderr).splitlines():
        print(f"    | {line}")
    print(f"    exit {done.returncode}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="stop the collector after the demo")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--dir", type=Path, default=ROOT / ".demo", help="where it all goes (emptied first)"
    )
    options = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each line as it comes, piped (tee) too

    demo = options.dir.resolve()
    state = demo / "state"
    ours = demo == ROOT / ".demo" or (demo / MARK).exists()  # .demo/: git ignores it
    if demo.exists() and any(demo.iterdir()) and not ours:
        # It empties the directory first: never one it did not make (--dir ~, say).
        sys.exit(f"demo: {demo} holds files the demo did not make; give an empty --dir")
    shutil.rmtree(demo, ignore_errors=True)
    state.mkdir(parents=True)
    (demo / MARK).write_text("made by scripts/demo.py; emptied by its next run\n")
    # The embedded default: with no --db the collector keeps collector/collector.db in the
    # state dir.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCRON_")}
    env["SMARTCRON_STATE_DIR"] = str(state)
    cli(env, "init-db")
    # Bound to this host, as each cron host's token should be: the wrapped jobs report
    # under the node name.
    token = cli(env, "create-token", "--name", "demo-host", "--host", os.uname().nodename)
    admin_token = cli(env, "create-token", "--kind", "admin", "--name", "demo-admin")
    password = secrets.token_urlsafe(9)
    # In a file, as a real deployment keeps it: an argument would show in `ps`.
    hash_file = demo / "admin-password.hash"
    hash_file.write_text(cli(env, "hash-password", "--password", password) + "\n")
    hash_file.chmod(0o600)
    port = free_port(options.port)
    url = f"http://127.0.0.1:{port}"
    log = demo / "collector.log"
    # SIGTERM (a `kill`, a closed terminal's SIGHUP) stops the demo as Ctrl-C does, so that
    # the finally below stops the collector too instead of leaving it serving.
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _interrupt)
    server: subprocess.Popen[bytes] | None = None
    try:
        server = subprocess.Popen(
            [COLLECTOR, "serve", "--listen", f"127.0.0.1:{port}",
             "--admin-password-hash", f"file:{hash_file}"],
            stdout=subprocess.DEVNULL, stderr=open(log, "w"),  # noqa: SIM115
            env=env, start_new_session=True,
        )  # fmt: skip
        _wait_healthy(url, server, log)
        _run_jobs(env | {"SMARTCRON_COLLECTOR_URL": url, "SMARTCRON_TOKEN": token}, state)
        _show_recorded(url, admin_token)
        print(f"\nThe summary page: {url}/")
        print(f"Log in as admin with password {password}")
        print(f"API: curl -H 'Authorization: Bearer {admin_token}' {url}/api/v1/status")
        print(f"State directory (spool, logs, collector/collector.db): {_shown(state)}")
        _show_next_steps(url, token, state)
        if options.once:
            return 0
        print(f"\nServing until Ctrl-C (log: {_shown(log)}).")
        status = server.wait()
        print(f"the collector stopped by itself (exit {status}); see {_shown(log)}",
              file=sys.stderr)  # fmt: skip
        return 1
    except KeyboardInterrupt:
        print("\nStopping the collector.")
        return 0
    finally:
        if server is not None:
            _stop(server)


def _interrupt(number: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(number).name)


def _stop(server: subprocess.Popen[bytes]) -> None:
    """The collector and its workers (its own process group), however the demo ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _show_next_steps(url: str, token: str, state: Path) -> None:
    print("\nNext:")
    print(f"  - smartcron-wrap is {WRAP}; a line of your own, reporting to this collector:")
    print(f"      SMARTCRON_STATE_DIR={state} SMARTCRON_COLLECTOR_URL={url} \\")
    print(f"      SMARTCRON_TOKEN={token} {WRAP} --name hello -- echo hello")
    print("  - wrap your crontab lines: docs/wrapper.md (lines to copy: crontab.example)")
    print("  - install on a cron host: docs/install.md; run the collector for real: "
          "docs/collector.md")  # fmt: skip
    print("  - get alerts by mail or webhook (try it on loopback first): docs/delivery.md")


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _run_jobs(env: dict[str, str], state: Path) -> None:
    print("Running wrapped sample jobs, reporting to the collector:\n")
    wrap(env, "--name", "nightly_backup", "--timeout", "1m", "--schedule", "0 2 * * *", "--",
         "sh", "-c", "echo 'dumping 3 databases'; sleep 0.3; echo done")  # fmt: skip
    wrap(env, "--name", "vend_sync", "--retries", "2", "--retry-delay", "0.2s", "--schedule",
         "*/5 * * * *", "--", "sh", "-c",
         "echo 'connecting to https://api:s3cret@vend.example' >&2; exit 3")  # fmt: skip
    wrap(env, "--name", "report_mail", "--timeout", "1s", "--kill-after", "0.5s", "--schedule",
         "30 6 * * 1-5", "--", "sh", "-c",
         "trap '' TERM; echo 'rendering...'; sleep 30")  # fmt: skip
    # A run still going when cron starts the next one: the second is skipped by the lock.
    holder = subprocess.Popen([WRAP, "--name", "log_rotate", "--schedule", "*/10 * * * *", "--",
                               "sleep", "2"], env=env)  # fmt: skip
    time.sleep(0.7)
    wrap(env, "--name", "log_rotate", "--schedule", "*/10 * * * *", "--", "sleep", "2")
    holder.wait()
    for i in range(3):
        wrap(env, "--name", "cache_warm", "--schedule", "* * * * *", "--",
             "sh", "-c", f"echo warmed {100 + i} keys; sleep 0.{i + 1}")  # fmt: skip
    left = list((state / "spool").glob("*.json"))
    print(f"\nReports left in the spool (undelivered): {len(left)}")


def _show_recorded(url: str, admin_token: str) -> None:
    """What the collector stored, from its API: a skip prints nothing where it happens
    (cron would mail any output), so this is where the demo shows it."""
    bearer = {"Authorization": f"Bearer {admin_token}"}
    request = urllib.request.Request(f"{url}/api/v1/runs?limit=50", headers=bearer)
    with urllib.request.urlopen(request, timeout=10) as answer:
        runs = json.load(answer)["runs"]
    print("\nWhat the collector recorded (GET /api/v1/runs):")
    for run in sorted(runs, key=lambda run: run["started_at"]):
        attempts = f"{run['attempt_count']} attempt" + ("" if run["attempt_count"] == 1 else "s")
        print(f"    {run['job']:<15} {run['status']:<15} {attempts}, {run['duration_s']:.1f} s")


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the collector did not start; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                if json.load(answer).get("status") == "ok":
                    return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"the collector did not answer in 30 s; see {log}")


if __name__ == "__main__":
    sys.exit(main())
