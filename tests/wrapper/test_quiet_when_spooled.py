"""Quiet when nothing is wrong: a collector outage with the report safely in the spool
prints nothing (cron would mail every run of every job on every host); the per-job log
says why the report stayed. Only a report that is neither spooled nor delivered is
worth a line on stderr."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest

JOB = [sys.executable, "-c", "import sys; print('out'); sys.exit(int(sys.argv[1]))"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("quiet", [(), ("--quiet",)])
@pytest.mark.parametrize("code", [0, 3])
def test_a_collector_that_is_down_is_not_printed(
    wrap: Any, state: Any, quiet: tuple[str, ...], code: int
) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    for _ in range(2):  # every run, not just the first
        done = wrap("--name", "nightly", *quiet, "--collector", down, "--", *JOB, str(code))
        assert done.returncode == code
        assert done.stderr == "", done.stderr
        assert done.stdout == ("out\n" if code or not quiet else "")
    assert len(state.reports()) == 2
    for entry in state.log_with_deliveries("nightly"):
        assert entry["delivery"]["result"] == "kept"
        assert entry["delivery"]["reason"].startswith(f"cannot reach {down}")


def test_a_report_neither_spooled_nor_delivered_is_printed(
    wrap: Any, state: Any, tmp_path: Path
) -> None:
    state.path.mkdir(parents=True)
    (state.path / "spool").write_text("not a directory")  # the spool cannot be written
    down = f"http://127.0.0.1:{closed_port()}"
    done = wrap("--name", "nightly", "--collector", down, "--", *JOB, "0")
    assert done.returncode == 0 and done.stdout == "out\n"
    lines = done.stderr.splitlines()
    assert any("writing the run report" in line for line in lines), lines
    assert any("it is lost" in line and "cannot reach" in line for line in lines), lines
    assert state.log_with_deliveries("nightly")[0]["delivery"]["result"] == "kept"


def test_without_a_collector_the_log_has_no_delivery(wrap: Any, state: Any) -> None:
    done = wrap("--name", "nightly", "--", *JOB, "0")
    assert done.returncode == 0 and done.stderr == ""
    [entry] = state.log_with_deliveries("nightly")
    assert "delivery" not in entry
