"""A reader of the wrapper's own output that goes away early (`--dry-run | head -1`).

What the wrapper prints for a person (the plan, --help, --version, --reset-breaker's
line, a usage error) is no reason for a traceback when the person stops reading: the
wrapper ends quietly with the status it would have had. The reader is gone before the
first byte here (the read end of the pipe is closed), which is what `head -1` leaves
once it has its line, without depending on who wins the race.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import StateDir, Wrap

pytestmark = pytest.mark.timeout(60)


def run_with_reader_gone(wrap: Wrap, *args: str, stream: str = "stdout") -> tuple[int, str]:
    """Run with `stream` on a pipe nobody reads; (exit status, what went to the other)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    other = subprocess.PIPE
    try:
        proc = subprocess.run(
            wrap.argv(args),
            env=wrap.env,
            stdin=subprocess.DEVNULL,
            stdout=write_end if stream == "stdout" else other,
            stderr=write_end if stream == "stderr" else other,
            timeout=30,
            check=False,
        )
    finally:
        os.close(write_end)
    seen = proc.stderr if stream == "stdout" else proc.stdout
    return proc.returncode, seen.decode()


def test_a_dry_run_whose_reader_left_ends_quietly_with_its_verdict(wrap: Wrap, state: StateDir):
    code, stderr = run_with_reader_gone(wrap, "--dry-run", "--name", "pipe", "--", "true")
    assert stderr == ""  # no BrokenPipeError, no "Exception ignored" at exit
    assert code == 0
    code, stderr = run_with_reader_gone(wrap, "--dry-run", "--", "/nonexistent/job")
    assert (code, stderr) == (2, "")


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_whose_reader_left_end_quietly(wrap: Wrap, flag: str):
    assert run_with_reader_gone(wrap, flag) == (0, "")


def test_a_usage_error_with_stderr_gone_still_exits_2(wrap: Wrap):
    assert run_with_reader_gone(wrap, "--timeout", "5x", "--", "true", stream="stderr") == (2, "")


def test_reset_breaker_whose_reader_left_still_resets(wrap: Wrap, state: StateDir):
    failed = wrap("--name", "flaky", "--breaker-threshold", "1", "--", "false")
    assert failed.returncode == 1
    assert state.job_state("flaky")["state"] == "open"
    code, stderr = run_with_reader_gone(wrap, "--reset-breaker", "--name", "flaky")
    assert (code, stderr) == (0, "")
    assert state.job_state("flaky")["state"] == "closed"


def test_dry_run_piped_into_head(wrap: Wrap, state: StateDir, tmp_path: Path):
    """The line from the issue, through a real shell pipeline."""
    line = " ".join([*map(str, wrap.argv(("--dry-run", "--name", "h", "--", "true"))), "| head -1"])
    result = subprocess.run(
        ["sh", "-c", line], env=wrap.env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.stdout == "smartcron-wrap dry run: job 'h' (nothing is run)\n"
    assert result.stderr == ""
