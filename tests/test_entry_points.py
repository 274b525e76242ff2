"""Smoke tests of what a new user runs first: the installed entry points and the demo."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_entry_points_are_installed_and_answer():
    for name in ("smartcron-wrap", "smartcron-agent", "smartcron-collector"):
        done = subprocess.run([str(BIN / name), "--help"], capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, (name, done.stderr)
        assert "usage" in done.stdout.lower(), (name, done.stdout)
    version = subprocess.run([str(BIN / "smartcron-wrap"), "--version"], capture_output=True,
                             text=True, timeout=60, check=True)  # fmt: skip
    assert version.stdout.startswith("smartcron-wrap ")


def test_the_demo_runs_the_whole_system_and_prints_how_to_log_in(tmp_path: Path) -> None:
    # scripts/demo is `scripts/venv` (the install) and then this, with the venv's Python.
    demo = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--once", "--port", "0",
         "--dir", str(demo)],
        capture_output=True, text=True, timeout=180, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "The summary page: http://127.0.0.1:" in out
    assert "Log in as admin with password " in out
    assert "Reports left in the spool (undelivered): 0" in out
    # The embedded default: no --db, so the collector kept its SQLite file in a directory
    # of its own in the state dir.
    database = demo / "state" / "collector" / "collector.db"
    assert database.exists(), sorted(p.name for p in (demo / "state").iterdir())
    with contextlib.closing(sqlite3.connect(database)) as connection:
        stored = connection.execute(
            "SELECT job, status, attempt_count FROM smartcron_runs ORDER BY job, status"
        ).fetchall()
    # Each kind of outcome the demo promises, as the collector stored it.
    assert stored == [
        ("cache_warm", "success", 1), ("cache_warm", "success", 1), ("cache_warm", "success", 1),
        ("log_rotate", "skipped_locked", 0), ("log_rotate", "success", 1),
        ("nightly_backup", "success", 1),
        ("report_mail", "timeout", 1),
        ("vend_sync", "failed", 3),  # two retries
    ]  # fmt: skip
    # ... and as the demo shows it to the person who ran it.
    recorded = out.split("What the collector recorded", 1)[1]
    for job, status, attempts in stored:
        assert re.search(rf"{job} +{status} +{attempts} attempt", recorded), (job, status)


def test_the_demo_empties_only_a_directory_it_made(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--once", "--port", "0",
         "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode != 0
    assert "holds files the demo did not make" in done.stderr
    assert precious.read_text() == "keep me"


def start_demo(directory: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """The demo serving (no --once), read up to its "Serving until Ctrl-C" line."""
    demo = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--port", "0", "--dir",
         str(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )  # fmt: skip
    assert demo.stdout is not None
    lines: list[str] = []
    # readline() ends at the demo's exit at the latest (pytest-timeout bounds the rest).
    for line in demo.stdout:
        lines.append(line)
        if line.startswith("Serving until Ctrl-C"):
            return demo, lines
    raise AssertionError("the demo never served:\n" + "".join(lines))


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5):
            return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize(
    "stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["SIGTERM", "SIGHUP", "Ctrl-C"]
)
def test_the_collector_stops_with_the_demo(tmp_path: Path, stop: signal.Signals) -> None:
    demo, lines = start_demo(tmp_path / "demo")
    try:
        (url,) = re.findall(r"The summary page: (http://127\.0\.0\.1:\d+)/", "".join(lines))
        assert answers(url)
        demo.send_signal(stop)
        rest, _ = demo.communicate(timeout=30)
        assert demo.returncode == 0, "".join(lines) + rest
        assert "Stopping the collector." in rest
        assert not answers(url), "the collector is still serving after the demo stopped"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


def test_the_demo_says_where_smartcron_wrap_is_and_what_to_read(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--once", "--port", "0",
         "--dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=180, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    after = done.stdout.split("\nNext:\n", 1)[1]
    (wrapper,) = re.findall(r"smartcron-wrap is (\S+);", after)
    assert Path(wrapper) == BIN / "smartcron-wrap" and Path(wrapper).exists()
    # The line it suggests runs as printed (the collector is gone with --once: the
    # report stays in the spool, and the job's own output comes through).
    suggested = after.split("reporting to this collector:\n", 1)[1].split("\n  - ", 1)[0]
    tried = subprocess.run(["sh", "-c", suggested.replace("\\\n", " ")], capture_output=True,
                           text=True, timeout=60, check=False)  # fmt: skip
    assert (tried.returncode, tried.stdout) == (0, "hello\n"), tried.stderr
    for doc in re.findall(r"docs/\w+\.md|crontab\.example", after):
        assert (ROOT / doc).is_file(), doc
    assert {"docs/wrapper.md", "docs/install.md", "docs/collector.md", "docs/delivery.md"} <= set(
        re.findall(r"docs/\w+\.md", after)
    )
