"""A --grace longer than every gap between the schedule's runs hides each missed run: the
real wrapper says so in --dry-run and at a start from a terminal, never under cron, and
never refuses the line."""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

import pytest
from smartcron.wrapper.grace_check import long_grace_warning

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import StateDir, Wrap

pytestmark = pytest.mark.timeout(60)

EVERY_MINUTE = "* * * * *"
# A Wednesday: the weekday schedule's weekend gap is two days ahead.
NOW = dt.datetime(2026, 3, 4, 12, 0, 30, tzinfo=dt.timezone.utc)


def notes(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("NOTE: --grace")]


def test_dry_run_warns_of_a_grace_longer_than_every_gap(wrap: Wrap, state: StateDir) -> None:
    done = wrap("--dry-run", "--name", "often", "--schedule", EVERY_MINUTE, "--grace", "99d",
                "--", "true")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("verdict: OK, this line is good")
    (note,) = notes(done.stdout)
    assert note.startswith(
        "NOTE: --grace 99d is longer than the longest gap between runs of '* * * * *' (1m, "
    )
    assert "a missed run is never noticed" in note
    assert note.endswith(
        "give --grace shorter than the gap, or leave it out (the default here is 5m)"
    )


def test_dry_run_says_nothing_of_a_grace_within_the_gaps(wrap: Wrap, state: StateDir) -> None:
    for schedule, grace in [(EVERY_MINUTE, "5m"), ("0 9 * * 1-5", "2d"), ("0 * * * *", "30m")]:
        done = wrap("--dry-run", "--name", "fine", "--schedule", schedule, "--grace", grace,
                    "--", "true")  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert notes(done.stdout) == [], (schedule, grace)


def test_a_cron_run_with_a_long_grace_runs_and_says_nothing(
    wrap: Wrap, state: StateDir, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    done = wrap("--name", "often", "--schedule", EVERY_MINUTE, "--grace", "99d",
                "--", "touch", ran)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert ran.exists()


def test_a_start_from_a_terminal_warns_once_and_runs(
    wrap: Wrap, state: StateDir, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    leader, follower = os.openpty()
    try:
        proc = wrap.popen("--name", "often", "--schedule", EVERY_MINUTE, "--grace", "99d",
                          "--", "touch", ran, stderr=follower)  # fmt: skip
        os.close(follower)
        follower = -1
        proc.communicate(timeout=30)
        said = read_all(leader)
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert proc.returncode == 0
    assert ran.exists()
    lines = [line for line in said.splitlines() if line.strip()]
    assert len(lines) == 1, said
    assert lines[0].startswith("smartcron-wrap: warning: --grace 99d is longer than the longest")


def read_all(fd: int) -> str:
    """What a terminal got, once its last writer is gone (Linux then says EIO)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


@pytest.mark.parametrize(
    ("schedule", "grace_s", "warned"),
    [
        (EVERY_MINUTE, 99 * 86400, True),
        (EVERY_MINUTE, 300, False),  # the default's own floor
        ("0 9 * * 1-5", 2 * 86400, False),  # the weekend's gap is 3 days
        ("0 9 * * 1-5", 4 * 86400, True),
        ("0 0 1 * *", 40 * 86400, True),  # a month is at most 31 days
        ("0 0 1 * *", 20 * 86400, False),
        ("0 0 1 1 *", 300 * 86400, False),  # yearly
    ],
)
def test_the_rule(schedule: str, grace_s: float, warned: bool) -> None:
    found = long_grace_warning(schedule, "Europe/Berlin", grace_s, NOW)
    assert (found is not None) is warned, found


def test_no_schedule_or_no_grace_is_never_judged() -> None:
    assert long_grace_warning(None, None, 99 * 86400, NOW) is None
    assert long_grace_warning(EVERY_MINUTE, None, None, NOW) is None
    assert long_grace_warning("not a schedule", None, 99 * 86400, NOW) is None
