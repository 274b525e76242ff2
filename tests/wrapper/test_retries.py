"""Retries: exponential backoff with jitter and a cap; every attempt is in the one report."""

from __future__ import annotations

import itertools
import random
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from smartcron.wrapper.retry import JITTER, retry_delay, should_retry
from smartcron.wrapper.schema import RunReport

if TYPE_CHECKING:
    from tests.conftest import StateDir, Wrap

pytestmark = pytest.mark.timeout(60)

# Counts its runs in COUNTER and fails until the FIRST_SUCCESS-th run.
#   sh -c FLAKY sh COUNTER FIRST_SUCCESS
FLAKY = 'n=$(($(cat "$1" 2>/dev/null || echo 0) + 1)); echo "$n" > "$1"; [ "$n" -ge "$2" ]'


def flaky(counter: Path, first_success: int) -> tuple[str, ...]:
    return ("sh", "-c", FLAKY, "sh", str(counter), str(first_success))


def runs(counter: Path) -> int:
    return int(counter.read_text()) if counter.exists() else 0


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def gaps(report: dict[str, object]) -> list[float]:
    """Seconds between the end of each attempt and the start of the next."""
    attempts = report["attempts"]
    assert isinstance(attempts, list)
    return [
        (at(b["started_at"]) - at(a["finished_at"])).total_seconds()
        for a, b in itertools.pairwise(attempts)
    ]


# ---------------------------------------------------------------- unit: retry_delay


def test_the_delay_doubles_within_the_jitter():
    rng = random.Random(7)
    for failures, base in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0), (5, 160.0)]:
        delay = retry_delay(failures, 10.0, 10_000.0, rng)
        assert base * 0.8 <= delay <= base * 1.2, (failures, delay)


def test_the_delay_is_the_base_times_a_seeded_spread():
    expected_rng, rng = random.Random(42), random.Random(42)
    for failures in range(1, 6):
        spread = expected_rng.uniform(1 - JITTER, 1 + JITTER)
        assert retry_delay(failures, 2.0, 1000.0, rng) == pytest.approx(
            2.0 * 2 ** (failures - 1) * spread
        )


def test_the_delay_is_capped_even_with_jitter():
    rng = random.Random(1)
    delays = [retry_delay(failures, 10.0, 60.0, rng) for failures in range(4, 40)]
    assert all(delay <= 60.0 for delay in delays), max(delays)
    assert all(delay >= 60.0 * 0.8 for delay in delays), "the cap is the base, then jittered"
    assert retry_delay(1000, 10.0, 60.0, rng) <= 60.0, "no overflow for a huge count"


def test_the_jitter_is_within_twenty_percent_and_spread_both_ways():
    rng = random.Random(2026)
    delays = [retry_delay(1, 10.0, 600.0, rng) for _ in range(2000)]
    assert min(delays) >= 8.0 and max(delays) <= 12.0
    assert min(delays) < 8.5 and max(delays) > 11.5, "the jitter uses its whole range"
    assert len(set(delays)) > 1900, "no two hosts should retry in lockstep"


def test_the_same_seed_gives_the_same_delays():
    first = [retry_delay(n, 1.0, 100.0, random.Random(3)) for n in range(1, 5)]
    again = [retry_delay(n, 1.0, 100.0, random.Random(3)) for n in range(1, 5)]
    assert first == again


def test_without_a_generator_the_module_random_is_used():
    delays = [retry_delay(2, 5.0, 600.0) for _ in range(200)]
    assert all(8.0 <= delay <= 12.0 for delay in delays)


@pytest.mark.parametrize(
    ("status", "made", "retries", "retry_timeouts", "expected"),
    [
        ("failed", 1, 2, False, True),
        ("failed", 2, 2, False, True),
        ("failed", 3, 2, False, False),
        ("failed", 1, 0, False, False),
        ("timeout", 1, 2, False, False),
        ("timeout", 1, 2, True, True),
        ("timeout", 3, 2, True, False),
        ("killed_memory", 1, 2, True, False),
        ("success", 1, 2, True, False),
        ("error", 1, 2, True, False),
    ],
)
def test_should_retry(status, made, retries, retry_timeouts, expected):
    assert should_retry(status, made, retries, retry_timeouts) is expected


# ---------------------------------------------------------------- the installed executable


def test_fails_twice_then_succeeds(wrap: Wrap, state: StateDir, tmp_path):
    counter = tmp_path / "counter"
    result = wrap(
        "--name", "flaky", "--retries", "2", "--retry-delay", "0.1s", "--", *flaky(counter, 3)
    )
    assert result.returncode == 0, result.stderr
    assert runs(counter) == 3
    report = state.report()
    assert report["status"] == "success" and report["exit_code"] == 0
    attempts = report["attempts"]
    assert [a["status"] for a in attempts] == ["failed", "failed", "success"]
    assert [a["exit_code"] for a in attempts] == [1, 1, 0]
    first, second = gaps(report)
    assert 0.08 <= first < 2.0, first
    assert 0.16 <= second < 2.0, f"the second delay doubles: {second}"
    assert report["started_at"] <= attempts[0]["started_at"]
    assert attempts[-1]["finished_at"] <= report["finished_at"]
    assert state.log("flaky") == [report], "one run, one line: attempts are inside it"
    document = state.job_state("flaky")
    assert document["failures"] == [] and document["last_status"] == "success"


def test_retries_run_out(wrap: Wrap, state: StateDir, tmp_path):
    counter = tmp_path / "counter"
    result = wrap("--name", "hopeless", "--retries", "2", "--retry-delay", "50ms", "--",
                  "sh", "-c", 'echo x >> "$1"; exit 5', "sh", counter)  # fmt: skip
    assert result.returncode == 5
    assert len(counter.read_text().split()) == 3
    report = state.report()
    assert report["status"] == "failed" and report["exit_code"] == 5
    assert [a["status"] for a in report["attempts"]] == ["failed"] * 3
    assert len(state.job_state("hopeless")["failures"]) == 1, "one run is one breaker failure"


def test_a_success_stops_the_retries(wrap: Wrap, state: StateDir, tmp_path):
    counter = tmp_path / "counter"
    result = wrap("--name", "fine", "--retries", "5", "--retry-delay", "50ms",
                  "--", *flaky(counter, 1))  # fmt: skip
    assert result.returncode == 0
    assert runs(counter) == 1
    assert len(state.report()["attempts"]) == 1


def test_each_attempt_output_reaches_the_terminal_and_the_tail(
    wrap: Wrap, state: StateDir, tmp_path
):
    counter = tmp_path / "counter"
    script = FLAKY.replace('echo "$n" > "$1";', 'echo "$n" > "$1"; echo "attempt $n";')
    result = wrap("--name", "chatty", "--retries", "2", "--retry-delay", "50ms",
                  "--", "sh", "-c", script, "sh", counter, "3")  # fmt: skip
    assert result.returncode == 0
    assert result.stdout == "attempt 1\nattempt 2\nattempt 3\n"
    assert state.report()["stdout_tail"].endswith("attempt 3\n")


def test_timeouts_are_not_retried_by_default(wrap: Wrap, state: StateDir, tmp_path):
    counter = tmp_path / "counter"
    result = wrap(
        "--name", "slow", "--retries", "2", "--retry-delay", "50ms", "--timeout", "300ms",
        "--kill-after", "200ms", "--", "sh", "-c", 'echo x >> "$1"; sleep 20', "sh", counter,
    )  # fmt: skip
    assert result.returncode == 124
    assert len(counter.read_text().split()) == 1
    report = state.report()
    assert report["status"] == "timeout"
    assert [a["status"] for a in report["attempts"]] == ["timeout"]


def test_timeouts_are_retried_with_retry_timeouts(wrap: Wrap, state: StateDir, tmp_path):
    counter = tmp_path / "counter"
    result = wrap(
        "--name", "slow", "--retries", "2", "--retry-delay", "50ms", "--timeout", "300ms",
        "--kill-after", "200ms", "--retry-timeouts",
        "--", "sh", "-c", 'echo x >> "$1"; sleep 20', "sh", counter,
    )  # fmt: skip
    assert result.returncode == 124
    assert len(counter.read_text().split()) == 3
    report = state.report()
    assert report["status"] == "timeout"
    assert [a["status"] for a in report["attempts"]] == ["timeout"] * 3
    # Each attempt was ended by the timeout (its status says so), none before it; how
    # soon after it is the machine's speed, not asserted.
    for attempt in report["attempts"]:
        seconds = (at(attempt["finished_at"]) - at(attempt["started_at"])).total_seconds()
        assert seconds >= 0.25, attempt


def test_a_timed_out_attempt_then_a_success(wrap: Wrap, state: StateDir, tmp_path):
    counter = tmp_path / "counter"
    script = (
        'n=$(($(cat "$1" 2>/dev/null || echo 0) + 1)); echo "$n" > "$1"; [ "$n" -ge 2 ] || sleep 20'
    )
    result = wrap(
        "--name", "second", "--retries", "1", "--retry-delay", "50ms", "--timeout", "300ms",
        "--kill-after", "200ms", "--retry-timeouts", "--", "sh", "-c", script, "sh", counter,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = state.report()
    assert report["status"] == "success"
    assert [a["status"] for a in report["attempts"]] == ["timeout", "success"]


def test_a_command_not_found_is_not_retried(wrap: Wrap, state: StateDir, tmp_path):
    result = wrap("--name", "ghost", "--retries", "3", "--retry-delay", "1s",
                  "--", str(tmp_path / "no-such-program"))  # fmt: skip
    assert result.returncode == 127
    report = state.report()
    assert (report["status"], report["exit_code"], report["signal"]) == ("error", 127, None)
    [attempt] = report["attempts"]  # the one try, and why it never started
    assert (attempt["status"], attempt["exit_code"], attempt["signal"]) == ("error", 127, None)
    assert attempt["error"] == f"cannot run {str(tmp_path / 'no-such-program')!r}: command " \
        "not found; check the path, or PATH in the crontab"  # fmt: skip
    assert report["cpu_user_s"] is None and report["peak_rss_bytes"] is None, "nothing ran"
    assert RunReport.model_validate(report).attempts[0].error == attempt["error"]


@pytest.mark.parametrize(("mode", "code", "words"), [
    ("rm", 127, "command not found"), ("chmod", 126, "permission denied"),
])  # fmt: skip
def test_a_retry_whose_command_is_gone_keeps_the_attempts_before_it(
    wrap: Wrap, state: StateDir, tmp_path: Path, mode: str, code: int, words: str
):
    # The job fails (exit 3) and takes its own script away (deletes it, or makes it
    # not executable): the retry cannot start it. The report keeps the first attempt as
    # it was, and the failed start as the last attempt, with the wrapper's exit code.
    script = tmp_path / "vanishing.sh"
    undo = 'rm -- "$0"' if mode == "rm" else 'chmod 644 -- "$0"'
    script.write_text(f'#!/bin/sh\necho "ran once"\n{undo}\nexit 3\n')
    script.chmod(0o755)
    result = wrap("--name", "vanish", "--retries", "2", "--retry-delay", "0", "--", script)
    assert result.returncode == code, result.stderr
    assert result.stdout == "ran once\n"
    [line] = result.stderr.splitlines()
    assert line.startswith(f"smartcron-wrap: error: cannot run {str(script)!r}: {words}"), line
    report = state.report()
    assert (report["status"], report["exit_code"], report["signal"]) == ("error", code, None)
    first, last = report["attempts"]
    assert (first["status"], first["exit_code"], first["signal"]) == ("failed", 3, None)
    assert "error" not in first
    assert (last["status"], last["exit_code"], last["signal"]) == ("error", code, None)
    assert last["error"] == line.removeprefix("smartcron-wrap: error: ")
    assert at(first["finished_at"]) <= at(last["started_at"]) <= at(last["finished_at"])
    # What ran is measured (the first attempt); the failed start adds nothing to it.
    assert report["cpu_user_s"] is not None and report["stdout_tail"] == "ran once\n"
    RunReport.model_validate(report)
