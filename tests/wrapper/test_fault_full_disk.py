"""Fault injection: the state directory on a (nearly) full disk.

A small tmpfs of the test's own, mounted for the test and unmounted after. A write
that runs out of space part-way must fail as a whole: no spool report renamed into
place as half a JSON document, no log line cut short, no temporary left behind, and
one warning. The job runs all the same, with its own output and exit code.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Wrap, find_wrap

PAGE = os.sysconf("SC_PAGE_SIZE")
BIG_OUTPUT = "import sys; sys.stdout.write('x' * 200_000); sys.exit(5)"


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("smartcron-wrap: warning:")]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, ours alone (mode 0700)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount_point)],
        check=True,
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk: Path, leave: int) -> None:
    """Fill the disk to the last byte, then free `leave` bytes again."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (64 * 1024, PAGE, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
        with pytest.raises(OSError) as full:
            os.write(fd, b"\0")
    finally:
        os.close(fd)
    assert full.value.errno == errno.ENOSPC
    if leave:
        os.truncate(filler, filler.stat().st_size - leave)


@pytest.fixture
def disk_wrap(disk: Path, wrap_env: dict[str, str]) -> Wrap:
    from tests.conftest import StateDir

    return Wrap(find_wrap(), StateDir(disk / "state"), wrap_env)


def assert_nothing_partial(state_dir: Path, runs_before: int) -> None:
    assert list(state_dir.rglob("*.tmp")) == [], "a temporary was left behind"
    for report in (state_dir / "spool").glob("*.json"):
        json.loads(report.read_text())  # never half a document
    log = (state_dir / "logs" / "j.jsonl").read_bytes()
    assert log.endswith(b"\n"), "the log ends in a whole line"
    lines = log.decode().splitlines()
    assert all(json.loads(line) for line in lines)
    assert len(lines) >= runs_before


@pytest.mark.parametrize("leave", [3 * PAGE, PAGE, 0], ids=["3 pages", "1 page", "none"])
def test_a_full_disk_leaves_no_partial_file(disk: Path, disk_wrap: Wrap, leave: int):
    first = disk_wrap("--name", "j", "--", "true")  # directories, a log, a breaker file
    assert first.returncode == 0 and warnings_in(first.stderr) == []
    fill(disk, leave)

    result = disk_wrap("--name", "j", "--", "python3", "-c", BIG_OUTPUT)

    assert result.returncode == 5, result.stderr
    assert result.stdout == "x" * 200_000, "the job's output goes through untouched"
    (warning,) = warnings_in(result.stderr)
    assert "No space left on device" in warning
    assert "Traceback" not in result.stderr
    assert_nothing_partial(disk / "state", runs_before=1)
    spooled = [json.loads(p.read_text()) for p in (disk / "state" / "spool").glob("*.json")]
    assert [r["status"] for r in spooled] == ["success"], "only the first run's whole report"


def test_space_again_means_reports_again(disk: Path, disk_wrap: Wrap):
    disk_wrap("--name", "j", "--", "true")
    fill(disk, PAGE)
    disk_wrap("--name", "j", "--", "python3", "-c", BIG_OUTPUT)
    (disk / "filler").unlink()
    result = disk_wrap("--name", "j", "--", "python3", "-c", BIG_OUTPUT)
    assert result.returncode == 5 and warnings_in(result.stderr) == []
    assert_nothing_partial(disk / "state", runs_before=2)
    statuses = sorted(json.loads(p.read_text())["status"]
                      for p in (disk / "state" / "spool").glob("*.json"))  # fmt: skip
    assert statuses == ["failed", "success"]


# ---------------------------------------------------------------- --quiet on a full TMPDIR

QUIET_JOB = "import sys, time; sys.stdout.write('x' * 200_000); sys.stdout.flush(); sys.exit(5)"


# Never quite full: on a disk with no room at all, Python's tempfile passes $TMPDIR
# over for /tmp.
@pytest.mark.parametrize("leave", [16 * PAGE, PAGE], ids=["16 pages", "1 page"])
def test_quiet_on_a_full_tmpdir_still_supervises_and_records_the_run(
    disk: Path, wrap: Wrap, leave: int
):
    # --quiet holds the output in a file under $TMPDIR. A write to it that failed
    # (ENOSPC) used to escape supervision: a traceback, exit 1, no report, and the
    # job left running unsupervised. What was held is still printed when the run
    # fails; the rest is counted as dropped, and the tail keeps the newest of it.
    fill(disk, leave)
    result = wrap("--name", "j", "--quiet", "--", "python3", "-c", QUIET_JOB,
                  env={"TMPDIR": str(disk)})  # fmt: skip
    assert "Traceback" not in result.stderr
    assert result.returncode == 5, result.stderr
    (warning,) = warnings_in(result.stderr)
    assert "--quiet cannot hold the job's output" in warning
    assert "No space left on device" in warning
    report = wrap.state.report()
    assert report["status"] == "failed" and report["exit_code"] == 5
    printed = len(result.stdout)
    assert result.stdout == "x" * printed
    assert 0 < printed <= leave, printed
    assert printed + report["output_dropped_bytes"] == 200_000 == report["output_bytes"]
    assert report["stdout_tail"] == "x" * 64 * 1024


def test_quiet_on_a_full_tmpdir_prints_nothing_of_a_successful_run(disk: Path, wrap: Wrap):
    fill(disk, PAGE)
    job = "import sys; sys.stdout.write('y' * 100_000)"
    result = wrap("--name", "j", "--quiet", "--", "python3", "-c", job,
                  env={"TMPDIR": str(disk)})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    (warning,) = warnings_in(result.stderr)  # the full disk is for a person to free
    assert "--quiet cannot hold the job's output" in warning
    report = wrap.state.report()
    assert report["status"] == "success" and report["output_dropped_bytes"] == 0
