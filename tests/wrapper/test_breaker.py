"""The circuit breaker: pure decisions with injected time, and the installed wrapper's use of it.

Cooldowns are never waited out: the tests rewrite jobs/NAME.json's times into the past.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from smartcron.wrapper import breaker as brk
from smartcron.wrapper.clock import iso, parse_iso

if TYPE_CHECKING:
    from tests.conftest import StateDir, Wrap

pytestmark = pytest.mark.timeout(90)

T0 = 1_800_000_000.0  # a fixed "now" for the pure functions
HOUR = 3600.0


def fail_n(state: brk.State, times: list[float], threshold: int = 5, window: float = HOUR):
    for moment in times:
        state = brk.record(state, moment, "failed", threshold, window)
    return state


# ---------------------------------------------------------------- unit: decisions


def test_a_new_breaker_is_closed_and_runs():
    state = brk.new_state()
    assert state["state"] == brk.CLOSED
    assert brk.decide(state, T0, HOUR) == brk.RUN


def test_opens_at_the_threshold_within_the_window():
    state = fail_n(brk.new_state(), [T0, T0 + 10, T0 + 20, T0 + 30])
    assert state["state"] == brk.CLOSED and len(state["failures"]) == 4
    assert brk.decide(state, T0 + 31, HOUR) == brk.RUN
    state = fail_n(state, [T0 + 40])
    assert state["state"] == brk.OPEN
    assert state["opened_at"] == iso(T0 + 40)
    assert state["last_status"] == "failed"
    assert len(state["failures"]) == 5


@pytest.mark.parametrize("status", ["failed", "timeout", "killed_memory", "error"])
def test_every_kind_of_failure_counts(status):
    state = brk.new_state()
    for i in range(3):
        state = brk.record(state, T0 + i, status, 3, HOUR)
    assert state["state"] == brk.OPEN


@pytest.mark.parametrize("status", ["skipped_locked", "skipped_breaker", "skipped_paused", "lost"])
def test_skips_neither_count_nor_close(status):
    state = fail_n(brk.new_state(), [T0, T0 + 1], threshold=3)
    after = brk.record(state, T0 + 2, status, 3, HOUR)
    assert after["failures"] == state["failures"]
    assert after["state"] == brk.CLOSED
    assert after["last_status"] == status
    opened = fail_n(brk.new_state(), [T0, T0 + 1, T0 + 2], threshold=3)
    assert brk.record(opened, T0 + 3, status, 3, HOUR)["state"] == brk.OPEN


def test_failures_outside_the_window_do_not_count():
    window = 60.0
    state = fail_n(brk.new_state(), [T0, T0 + 61, T0 + 122, T0 + 183], threshold=2, window=window)
    assert state["state"] == brk.CLOSED
    assert state["failures"] == [iso(T0 + 183)], "old failures are dropped"
    state = fail_n(state, [T0 + 183 + 59], threshold=2, window=window)
    assert state["state"] == brk.OPEN


def test_a_success_clears_the_count():
    state = fail_n(brk.new_state(), [T0, T0 + 1, T0 + 2, T0 + 3])
    state = brk.record(state, T0 + 4, "success", 5, HOUR)
    assert state["failures"] == [] and state["state"] == brk.CLOSED
    assert state["last_success_at"] == iso(T0 + 4)
    assert fail_n(state, [T0 + 5])["state"] == brk.CLOSED


def test_open_skips_until_the_cooldown_then_allows_a_trial():
    state = fail_n(brk.new_state(), [T0] * 5)
    assert brk.decide(state, T0, HOUR) == brk.SKIP
    assert brk.decide(state, T0 + HOUR - 0.001, HOUR) == brk.SKIP
    assert brk.decide(state, T0 + HOUR, HOUR) == brk.TRIAL
    assert brk.decide(state, T0 + 10 * HOUR, HOUR) == brk.TRIAL


def test_only_one_trial_at_a_time():
    state = fail_n(brk.new_state(), [T0] * 5)
    state = brk.start_trial(state, T0 + HOUR)
    assert state["state"] == brk.HALF_OPEN
    assert state["trial_started_at"] == iso(T0 + HOUR)
    assert brk.decide(state, T0 + HOUR + 1, HOUR) == brk.SKIP, "a second run during the trial"


def test_a_successful_trial_closes():
    state = brk.start_trial(fail_n(brk.new_state(), [T0] * 5), T0 + HOUR)
    state = brk.record(state, T0 + HOUR + 5, "success", 5, HOUR)
    assert state["state"] == brk.CLOSED
    assert state["failures"] == [] and state["opened_at"] is None
    assert state["trial_started_at"] is None
    assert brk.decide(state, T0 + HOUR + 6, HOUR) == brk.RUN


@pytest.mark.parametrize("status", ["failed", "timeout"])
def test_a_failed_trial_reopens_at_once(status):
    state = brk.start_trial(fail_n(brk.new_state(), [T0] * 5), T0 + HOUR)
    state = brk.record(state, T0 + HOUR + 5, status, 5, HOUR)
    assert state["state"] == brk.OPEN
    assert state["opened_at"] == iso(T0 + HOUR + 5), "the cooldown starts again"
    assert brk.decide(state, T0 + HOUR + 6, HOUR) == brk.SKIP
    assert brk.decide(state, T0 + 2 * HOUR + 5, HOUR) == brk.TRIAL


def test_a_failed_trial_reopens_even_when_old_failures_left_the_window():
    # The trial comes after a cooldown longer than the window: one failure must reopen.
    state = brk.start_trial(fail_n(brk.new_state(), [T0] * 5), T0 + 3 * HOUR)
    state = brk.record(state, T0 + 3 * HOUR + 1, "failed", 5, HOUR)
    assert state["state"] == brk.OPEN


def test_a_stuck_half_open_breaker_gets_a_new_trial_after_the_cooldown():
    state = brk.start_trial(fail_n(brk.new_state(), [T0] * 5), T0 + HOUR)
    # The trial's wrapper was SIGKILLed: nothing ever recorded its outcome.
    assert brk.decide(state, T0 + 2 * HOUR - 1, HOUR) == brk.SKIP
    assert brk.decide(state, T0 + 2 * HOUR, HOUR) == brk.TRIAL


def test_a_remote_reset_is_applied_once():
    opened = fail_n(brk.new_state(), [T0] * 5)
    reset_at = iso(T0 + 10)
    state = brk.apply_remote_reset(opened, reset_at)
    assert state["state"] == brk.CLOSED and state["failures"] == []
    assert state["reset_applied_at"] == reset_at
    # It opens again; the same reset request, still in control.json, must not close it.
    state = fail_n(state, [T0 + 20 + i for i in range(5)])
    assert state["state"] == brk.OPEN
    assert brk.apply_remote_reset(state, reset_at)["state"] == brk.OPEN
    assert brk.apply_remote_reset(state, iso(T0 + 5))["state"] == brk.OPEN, "an older request"
    # A newer request closes it again.
    newer = brk.apply_remote_reset(state, iso(T0 + 100))
    assert newer["state"] == brk.CLOSED and newer["reset_applied_at"] == iso(T0 + 100)


def test_no_remote_reset_changes_nothing():
    opened = fail_n(brk.new_state(), [T0] * 5)
    assert brk.apply_remote_reset(opened, None) == opened


def test_hand_reset_closes():
    state = brk.reset(brk.start_trial(fail_n(brk.new_state(), [T0] * 5), T0 + HOUR))
    assert state["state"] == brk.CLOSED
    assert state["failures"] == [] and state["opened_at"] is None
    assert state["trial_started_at"] is None


def test_the_pure_functions_do_not_mutate_their_input():
    state = fail_n(brk.new_state(), [T0] * 4)
    frozen = json.loads(json.dumps(state))
    brk.record(state, T0 + 1, "failed", 5, HOUR)
    brk.record(state, T0 + 1, "success", 5, HOUR)
    brk.start_trial(state, T0)
    brk.reset(state)
    brk.apply_remote_reset(state, iso(T0))
    assert state == frozen


# ---------------------------------------------------------------- unit: the store


def test_store_missing_and_corrupt_files_read_as_closed(tmp_path):
    store = brk.BreakerStore(str(tmp_path / "job.json"))
    assert store.load() == brk.new_state()
    (tmp_path / "job.json").write_text("{not json")
    assert store.load() == brk.new_state()
    (tmp_path / "job.json").write_text("[1, 2]")
    assert store.load() == brk.new_state()


def test_store_update_round_trips(tmp_path):
    path = tmp_path / "job.json"
    store = brk.BreakerStore(str(path), clock=lambda: T0)
    with store.update() as box:
        box[0] = fail_n(box[0], [T0] * 5)
    on_disk = json.loads(path.read_text())
    assert on_disk["state"] == "open" and len(on_disk["failures"]) == 5
    assert store.load() == on_disk
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------------- the installed executable

# Appends a line to RUNS each time it runs, then exits with CODE.
#   sh -c COUNT sh RUNS CODE
COUNT = 'echo run >> "$1"; exit "$2"'


def job(runs: Path, code: int) -> tuple[str, ...]:
    return ("sh", "-c", COUNT, "sh", str(runs), str(code))


def count(runs: Path) -> int:
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def rewrite(where: StateDir, name: str, **fields: Any) -> None:
    """Change jobs/NAME.json the way time would have: never by waiting."""
    path = where.path / "jobs" / f"{name}.json"
    document = json.loads(path.read_text())
    document.update(fields)
    path.write_text(json.dumps(document))


def open_breaker(wrap: Wrap, state: StateDir, name: str, runs: Path, *options: str) -> None:
    for i in range(5):
        result = wrap("--name", name, "--breaker-threshold", "5", *options, "--", *job(runs, 3))
        assert result.returncode == 3, (i, result.stderr)
    assert count(runs) == 5
    assert state.job_state(name)["state"] == "open"


def test_five_failures_open_it_and_the_sixth_run_is_skipped(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    open_breaker(wrap, state, "flaky", runs)
    document = state.job_state("flaky")
    assert len(document["failures"]) == 5
    assert parse_iso(document["opened_at"]) == pytest.approx(time.time(), abs=30)

    result = wrap("--name", "flaky", "--breaker-threshold", "5", "--", *job(runs, 3))
    assert result.returncode == 0
    assert (result.stdout, result.stderr) == ("", ""), "a skipped run prints nothing"
    assert count(runs) == 5, "the job ran while the breaker was open"

    reports = state.reports()
    assert [r["status"] for r in reports] == ["failed"] * 5 + ["skipped_breaker"]
    assert [r["breaker_state"] for r in reports] == ["closed"] * 4 + ["open", "open"]
    skipped = reports[-1]
    assert skipped["exit_code"] == 0 and skipped["attempts"] == []
    assert state.log("flaky") == reports
    assert state.job_state("flaky")["failures"] == document["failures"], "a skip is no failure"


def test_a_successful_trial_after_the_cooldown_closes_it(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    open_breaker(wrap, state, "trial", runs, "--breaker-cooldown", "10m")
    options = ("--name", "trial", "--breaker-cooldown", "10m")

    rewrite(state, "trial", opened_at=iso(time.time() - 9 * 60))  # not yet
    result = wrap(*options, "--", *job(runs, 0))
    assert (result.returncode, count(runs)) == (0, 5)
    assert state.reports()[-1]["status"] == "skipped_breaker"

    rewrite(state, "trial", opened_at=iso(time.time() - 11 * 60))
    result = wrap(*options, "--", *job(runs, 0))
    assert result.returncode == 0, result.stderr
    assert count(runs) == 6, "the trial ran"
    document = state.job_state("trial")
    assert document["state"] == "closed"
    assert document["failures"] == [] and document["opened_at"] is None
    assert document["last_success_at"] is not None
    last = state.reports()[-1]
    assert (last["status"], last["breaker_state"]) == ("success", "closed")

    result = wrap(*options, "--", *job(runs, 0))
    assert count(runs) == 7, "closed again: runs as usual"


def test_a_failing_trial_reopens_it(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    open_breaker(wrap, state, "retrial", runs)
    long_ago = time.time() - 2 * HOUR
    rewrite(state, "retrial", opened_at=iso(long_ago))

    result = wrap("--name", "retrial", "--", *job(runs, 4))
    assert result.returncode == 4
    assert count(runs) == 6, "the trial ran"
    document = state.job_state("retrial")
    assert document["state"] == "open"
    assert parse_iso(document["opened_at"]) > long_ago + HOUR, "the cooldown starts again"
    last = state.reports()[-1]
    assert (last["status"], last["breaker_state"]) == ("failed", "open")

    result = wrap("--name", "retrial", "--", *job(runs, 0))
    assert (result.returncode, count(runs)) == (0, 6), "open again: skipped"


def test_only_one_trial_while_half_open(wrap: Wrap, state: StateDir, tmp_path, wait_for):
    runs, started, release = tmp_path / "runs", tmp_path / "started", tmp_path / "release"
    open_breaker(wrap, state, "single", runs)
    rewrite(state, "single", opened_at=iso(time.time() - 2 * HOUR))
    hold = 'touch "$1"; while [ ! -e "$2" ]; do sleep 0.05; done'
    trial = wrap.popen("--name", "single", "--", "sh", "-c", hold, "sh", started, release)
    try:
        wait_for(started, what="the trial run to start")
        assert state.job_state("single")["state"] == "half_open"
        result = wrap("--name", "single", "--no-lock", "--", *job(runs, 0))
        assert result.returncode == 0
        assert count(runs) == 5, "a second run went ahead during the trial"
    finally:
        release.touch()
    assert trial.wait(timeout=20) == 0
    assert state.job_state("single")["state"] == "closed"
    statuses = [r["status"] for r in state.reports()]
    assert sorted(statuses[5:]) == ["skipped_breaker", "success"]


def test_a_stuck_half_open_breaker_gets_a_new_trial(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    open_breaker(wrap, state, "stuck", runs)
    rewrite(state, "stuck", state="half_open", trial_started_at=iso(time.time() - 2 * HOUR))
    result = wrap("--name", "stuck", "--", *job(runs, 0))
    assert result.returncode == 0
    assert count(runs) == 6
    assert state.job_state("stuck")["state"] == "closed"


def test_reset_breaker_command(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    open_breaker(wrap, state, "manual", runs)
    result = wrap("--reset-breaker", "--name", "manual")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "breaker of 'manual': open -> closed\n"
    document = state.job_state("manual")
    assert document["state"] == "closed" and document["failures"] == []
    assert len(state.spool_files()) == 5, "a reset is no run"

    result = wrap("--name", "manual", "--", *job(runs, 0))
    assert (result.returncode, count(runs)) == (0, 6)


def test_reset_breaker_of_an_unknown_job_says_so(wrap: Wrap, state: StateDir):
    result = wrap("--reset-breaker", "--name", "never-existed")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        f"smartcron-wrap: error: no job 'never-existed' in {state.path} (it has never run "
        "there); check --name, and run as the job's user or pass its --state-dir\n"
    )
    assert not (state.path / "jobs").exists(), "a reset of nothing writes nothing"


def test_reset_breaker_of_a_job_that_ran_without_a_breaker(wrap: Wrap, state: StateDir):
    assert wrap("--no-breaker", "--name", "plain", "--", "true").returncode == 0
    result = wrap("--reset-breaker", "--name", "plain")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "breaker of 'plain': closed -> closed\n"


def test_reset_breaker_needs_a_name(wrap: Wrap):
    result = wrap("--reset-breaker")
    assert result.returncode == 2
    assert result.stderr == (
        "smartcron-wrap: error: --reset-breaker needs --name NAME to know which job to reset\n"
    )


def write_control(state: StateDir, document: dict[str, Any]) -> None:
    state.path.mkdir(parents=True, exist_ok=True)
    (state.path / "control.json").write_text(json.dumps(document))


def test_a_reset_in_control_json_closes_it_once(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    open_breaker(wrap, state, "remote", runs)
    requested = iso(time.time())
    write_control(state, {"paused": [], "breaker_resets": {"remote": requested}})

    result = wrap("--name", "remote", "--", *job(runs, 3))
    assert result.returncode == 3
    assert count(runs) == 6, "the reset let the run through"
    document = state.job_state("remote")
    assert document["state"] == "closed" and len(document["failures"]) == 1
    assert document["reset_applied_at"] == requested

    for _ in range(4):
        wrap("--name", "remote", "--", *job(runs, 3))
    assert count(runs) == 10 and state.job_state("remote")["state"] == "open"
    result = wrap("--name", "remote", "--", *job(runs, 3))
    assert (result.returncode, count(runs)) == (0, 10), "the same reset was applied twice"
    assert state.reports()[-1]["status"] == "skipped_breaker"


def test_a_reset_for_another_job_does_not_apply(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    open_breaker(wrap, state, "mine", runs)
    write_control(state, {"breaker_resets": {"theirs": iso(time.time())}})
    result = wrap("--name", "mine", "--", *job(runs, 0))
    assert (result.returncode, count(runs)) == (0, 5)


def test_paused_in_control_json(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    write_control(state, {"paused": ["sleepy"], "breaker_resets": {}})
    result = wrap("--name", "sleepy", "--", *job(runs, 0))
    assert result.returncode == 0
    assert (result.stdout, result.stderr) == ("", "")
    assert count(runs) == 0, "a paused job ran"
    report = state.report()
    assert (report["status"], report["exit_code"], report["attempts"]) == (
        "skipped_paused",
        0,
        [],
    )
    assert state.log("sleepy") == [report]

    result = wrap("--name", "awake", "--", *job(runs, 0))
    assert (result.returncode, count(runs)) == (0, 1), "only the paused job is skipped"


def test_a_paused_job_leaves_the_breaker_alone(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    for _ in range(4):
        wrap("--name", "p", "--", *job(runs, 1))
    write_control(state, {"paused": ["p"]})
    for _ in range(3):
        assert wrap("--name", "p", "--", *job(runs, 1)).returncode == 0
    document = state.job_state("p")
    assert (document["state"], len(document["failures"])) == ("closed", 4)


def test_a_corrupt_control_file_warns_and_runs(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    state.path.mkdir(parents=True)
    (state.path / "control.json").write_text("{oops")
    result = wrap("--name", "c", "--", *job(runs, 0))
    assert result.returncode == 0
    assert count(runs) == 1
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith("smartcron-wrap: warning: ")
    assert "control.json" in warnings[0]


def test_no_breaker_runs_and_records_no_state(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    for _ in range(7):
        assert wrap("--name", "nb", "--no-breaker", "--", *job(runs, 1)).returncode == 1
    assert count(runs) == 7
    assert not (state.path / "jobs" / "nb.json").exists()


def test_concurrent_wrappers_lose_no_failures(wrap: Wrap, state: StateDir, tmp_path):
    runs = tmp_path / "runs"
    job = ("--", "sh", "-c", 'echo run >> "$1"; sleep 0.3; exit 1', "sh", str(runs))
    procs = [
        wrap.popen("--name", "crowd", "--no-lock", "--breaker-threshold", "100", *job)
        for _ in range(10)
    ]
    codes = [proc.wait(timeout=60) for proc in procs]
    assert codes == [1] * 10
    assert count(runs) == 10
    document = state.job_state("crowd")
    assert len(document["failures"]) == 10, "concurrent updates lost failures"
    assert document["state"] == "closed"
    assert len(state.reports()) == 10
    leftovers = [p.name for p in (state.path / "jobs").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_concurrent_failures_open_it_exactly_at_the_threshold(
    wrap: Wrap, state: StateDir, tmp_path
):
    runs = tmp_path / "runs"
    job = ("--", "sh", "-c", 'echo run >> "$1"; sleep 0.3; exit 1', "sh", str(runs))
    procs = [
        wrap.popen("--name", "crowd2", "--no-lock", "--breaker-threshold", "6", *job)
        for _ in range(6)
    ]
    assert [proc.wait(timeout=60) for proc in procs] == [1] * 6
    assert state.job_state("crowd2")["state"] == "open"
