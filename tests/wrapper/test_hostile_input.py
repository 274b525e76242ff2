"""The installed wrapper against hostile input files and values that used to pass
validation and crash later: each is one clear line and exit 2 (the job does not run),
or a bounded value the run takes in its stride."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import psutil
import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import StateDir, Wrap

pytestmark = pytest.mark.timeout(60)

ONE_LINE = re.compile(r"smartcron-wrap: error: [^\n]+\n")


def assert_refused(result, ran: Path, state: StateDir, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert ONE_LINE.fullmatch(result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    assert not ran.exists(), "the job ran"
    assert state.spool_files() == []


# ---------------------------------------------------------------- input files (point 8)


def test_a_config_on_dev_zero_is_refused_at_once(wrap: Wrap, state: StateDir, tmp_path):
    ran = tmp_path / "ran"
    # /dev/zero never ends: a wrapper that read it would not be back within the watchdog.
    result = wrap("--config", "/dev/zero", "--", "touch", ran, timeout=10)
    assert_refused(result, ran, state, "config /dev/zero", "character device")


def test_a_config_fifo_does_not_hang_the_wrapper(wrap: Wrap, state: StateDir, tmp_path):
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    ran = tmp_path / "ran"
    result = wrap("--config", fifo, "--", "touch", ran, timeout=10)
    assert_refused(result, ran, state, str(fifo), "a FIFO, not a regular file")


def test_a_config_directory_is_refused(wrap: Wrap, state: StateDir, tmp_path):
    ran = tmp_path / "ran"
    result = wrap("--config", tmp_path, "--", "touch", ran)
    assert_refused(result, ran, state, "a directory, not a regular file")


def test_a_config_over_one_mib_is_refused(wrap: Wrap, state: StateDir, tmp_path):
    config = tmp_path / "big.toml"
    config.write_text("[defaults]\n" + "# padding\n" * 110_000)
    ran = tmp_path / "ran"
    result = wrap("--config", config, "--", "touch", ran)
    assert_refused(result, ran, state, "larger than 1024 KiB")


def test_a_config_that_is_not_utf8_is_refused(wrap: Wrap, state: StateDir, tmp_path):
    config = tmp_path / "latin1.toml"
    config.write_bytes(b'[defaults]\ntimeout = "10m"\n# caf\xe9\n')
    ran = tmp_path / "ran"
    result = wrap("--config", config, "--", "touch", ran)
    assert_refused(result, ran, state, "line 3 is not UTF-8", "save the file as UTF-8")


def test_a_config_nested_5000_deep_is_refused(wrap: Wrap, state: StateDir, tmp_path):
    config = tmp_path / "deep.toml"
    config.write_text("[defaults]\ntags = " + "[" * 5000 + "]" * 5000 + "\n")
    ran = tmp_path / "ran"
    result = wrap("--config", config, "--", "touch", ran)
    assert_refused(result, ran, state, "nested too deeply")


def test_a_dry_run_reports_the_bad_config_in_one_line(wrap: Wrap, state: StateDir, tmp_path):
    result = wrap("--dry-run", "--config", "/dev/zero", "--", "true", timeout=10)
    assert result.returncode == 2
    assert ONE_LINE.fullmatch(result.stderr), result.stderr


def test_a_token_file_on_dev_zero_is_refused(wrap: Wrap, state: StateDir, tmp_path):
    ran = tmp_path / "ran"
    result = wrap("--token", "file:/dev/zero", "--", "touch", ran, timeout=10)
    assert_refused(result, ran, state, "--token", "character device")


def test_a_token_with_a_line_break_is_refused(wrap: Wrap, state: StateDir, tmp_path):
    token = tmp_path / "token"
    token.write_text("abc\ndef\n")
    ran = tmp_path / "ran"
    result = wrap("--token", f"file:{token}", "--", "touch", ran)
    assert_refused(result, ran, state, "--token", "line break")


# ---------------------------------------------------------------- values (point 9)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(("--jitter", "1e12"), ("--jitter", "'1e12'", "at most"), id="jitter"),
        pytest.param(("--retry-delay", "1e18", "--retry-max-delay", "1e18", "--retries", "1"),
                     ("--retry-delay", "'1e18'", "at most"), id="retry-delay"),
        pytest.param(("--timeout", "99999999999d"), ("--timeout", "at most"), id="timeout"),
        pytest.param(("--retries", "\u00b2"), ("--retries", "'\u00b2'", "whole number"),
                     id="superscript-two"),
        pytest.param(("--priority", "\u00b9"), ("--priority", "'\u00b9'", "from 1 to 10"),
                     id="superscript-one"),
        pytest.param(("--retries", "\u0663"), ("--retries", "whole number"), id="arabic-three"),
        pytest.param(("--breaker-threshold", "9" * 5000), ("--breaker-threshold", "characters"),
                     id="5000-digits"),
        pytest.param(("--max-memory", "9" * 400 + "T"), ("--max-memory",), id="huge-size"),
        pytest.param(("--lock-wait", "1" * 400), ("--lock-wait",), id="float-overflow"),
    ],
)  # fmt: skip
def test_values_that_used_to_crash_later_are_refused(
    wrap: Wrap, state: StateDir, tmp_path, args, words
):
    ran = tmp_path / "ran"
    result = wrap(*args, "--", "touch", ran)
    assert_refused(result, ran, state, *words)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("jitter = 1e12", ("[defaults] jitter", "at most")),
        ('retries = "\u00b2"', ("[defaults] retries", "whole number")),
        ("retry_delay = 1e18", ("[defaults] retry_delay", "at most")),
        ('state_dir = "a\\u0000b"', ("[defaults] state_dir", "NUL")),
    ],
)
def test_a_value_from_the_config_file_is_bounded_the_same_way(
    wrap: Wrap, state: StateDir, tmp_path, line, words
):
    config = tmp_path / "smartcron.toml"
    config.write_text(f"[defaults]\n{line}\n")
    ran = tmp_path / "ran"
    result = wrap("--config", config, "--", "touch", ran)
    assert_refused(result, ran, state, *words)


def test_the_largest_durations_are_taken_and_the_job_runs(wrap: Wrap, state: StateDir):
    # At the cap, every sleep and deadline the run builds still fits the clock.
    result = wrap(
        "--name", "patient", "--timeout", "1e9", "--kill-after", "1e9", "--lock-wait", "1e9",
        "--retry-delay", "1e9", "--retry-max-delay", "1e9", "--breaker-window", "1e9",
        "--breaker-cooldown", "1e9", "--", "true",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert state.report()["status"] == "success"


@pytest.mark.parametrize("schedule", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"])
def test_a_schedule_that_never_fires_is_refused(wrap: Wrap, state: StateDir, tmp_path, schedule):
    # It used to pass, then crash --dry-run's list of next runs with a traceback.
    ran = tmp_path / "ran"
    result = wrap("--schedule", schedule, "--", "touch", ran)
    assert_refused(result, ran, state, "--schedule", "never fires")
    result = wrap("--dry-run", "--schedule", schedule, "--", "true")
    assert result.returncode == 2 and ONE_LINE.fullmatch(result.stderr), result.stderr


def test_a_schedule_that_fires_once_in_four_years_is_taken(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--schedule", "0 0 29 2 *", "--", "true")
    assert result.returncode == 0, result.stdout + result.stderr


def job_alive(wrapper: psutil.Process) -> bool:
    """Whether the wrapper's job (sh) is still there; its guardian child does not count."""
    for child in wrapper.children():
        try:
            if child.name() == "sh" and child.status() != psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            continue
    return False


def test_a_retry_delay_at_the_cap_sleeps_and_keeps_the_jobs_exit_code(
    wrap: Wrap, state: StateDir, tmp_path, wait_for
):
    # --retry-delay 1e18 used to crash after the first attempt (exit 1, nothing
    # recorded). At the cap the pause is a real one: SIGTERM ends it, and the run is
    # recorded with the job's own exit code.
    ran = tmp_path / "ran"
    proc = wrap.popen(
        "--name", "long-pause", "--retries", "1", "--retry-delay", "1e9",
        "--retry-max-delay", "1e9", "--", "sh", "-c", 'touch "$1"; exit 3', "sh", ran,
    )  # fmt: skip
    wait_for(ran)
    wrapper = psutil.Process(proc.pid)
    wait_for(lambda: not job_alive(wrapper), what="the first attempt to be reaped")
    assert proc.poll() is None, "the wrapper is in its pause, not gone"
    proc.terminate()
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 3, stderr
    assert "Traceback" not in stderr
    report = state.report()
    assert (report["status"], report["exit_code"], len(report["attempts"])) == ("failed", 3, 1)
