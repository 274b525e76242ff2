"""Smoke tests of what a new user runs first: the installed entry points and the demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_the_demo_runs_the_whole_system_and_prints_how_to_log_in():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--once", "--port", "0"],
        capture_output=True, text=True, timeout=180, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "The summary page: http://127.0.0.1:" in out
    assert "Log in as admin with password " in out
    assert "Reports left in the spool (undelivered): 0" in out
    # The sample jobs covered each kind of outcome.
    for expected in ("exit 0", "exit 3", "exit 124"):
        assert expected in out, expected
