"""Fault injection: state files that parse as JSON (or not) but hold bad values.

Each bad file is set aside as NAME.corrupt with one warning, and the job runs as if
the file had never been there; the next run is quiet again.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import StateDir, Wrap

FUTURE = "2199-01-01T00:00:00.000000Z"


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("smartcron-wrap: warning:")]


def open_breaker(**fields: object) -> str:
    return json.dumps(
        {"state": "open", "failures": [], "opened_at": "2026-01-01T00:00:00Z", **fields}
    )


BAD_JOB_STATES = {
    "opened_at yesterday": open_breaker(opened_at="yesterday"),
    "opened_at a number": open_breaker(opened_at=12345),
    "opened_at NaN": '{"state": "open", "failures": [], "opened_at": NaN}',
    "opened_at in 2199": open_breaker(opened_at=FUTURE),
    "trial in 2199": json.dumps({"state": "half_open", "trial_started_at": FUTURE}),
    "deep nesting": '{"state": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "unknown state": json.dumps({"state": "ajar"}),
    "failures not a list": json.dumps({"state": "closed", "failures": "many"}),
    "a failure not a time": json.dumps({"state": "closed", "failures": [None]}),
    "year 0": open_breaker(opened_at="0001-01-01T00:00:00+14:00"),
    "not an object": "[1, 2, 3]",
    "not JSON": "{not json",
    "empty": "",
    "not UTF-8": b'{"state": "\xff"}',
    "too large": json.dumps({"state": "closed", "pad": "x" * 2_000_000}),
}


@pytest.mark.parametrize("content", BAD_JOB_STATES.values(), ids=BAD_JOB_STATES.keys())
def test_a_bad_breaker_file_is_set_aside_and_the_job_runs(
    wrap: Wrap, state: StateDir, content: str | bytes
):
    jobs = state.path / "jobs"
    jobs.mkdir(parents=True)
    raw = content.encode() if isinstance(content, str) else content
    (jobs / "j.json").write_bytes(raw)

    result = wrap("--name", "j", "--", "sh", "-c", "echo ran; exit 4")

    assert result.returncode == 4, result.stderr
    assert result.stdout == "ran\n"
    assert "Traceback" not in result.stderr
    (warning,) = warnings_in(result.stderr)
    assert f"{jobs / 'j.json'} is not valid (" in warning
    assert f"set aside as {jobs / 'j.json.corrupt'}" in warning
    assert (jobs / "j.json.corrupt").read_bytes() == raw, "kept as it was, for a person"
    fresh = state.job_state("j")
    assert fresh["state"] == "closed" and fresh["last_status"] == "failed"
    assert [r["status"] for r in state.reports()] == ["failed"]

    again = wrap("--name", "j", "--", "true")
    assert again.returncode == 0 and warnings_in(again.stderr) == [], "warned about once"


def test_a_breaker_opened_in_the_future_does_not_stay_open(wrap: Wrap, state: StateDir):
    # Valid in every other way: without the future check it would skip for 170 years.
    (state.path / "jobs").mkdir(parents=True)
    failures = ["2026-01-01T00:00:00Z"] * 5
    (state.path / "jobs" / "j.json").write_text(open_breaker(opened_at=FUTURE, failures=failures))
    result = wrap("--name", "j", "--", "true")
    assert [r["status"] for r in state.reports()] == ["success"]
    assert "is in the future" in warnings_in(result.stderr)[0]


def test_a_slightly_fast_clock_is_forgiven(wrap: Wrap, state: StateDir):
    # A time a minute ahead (another host's clock, an NTP step) is not an error.
    import time

    from smartcron.wrapper.clock import iso

    (state.path / "jobs").mkdir(parents=True)
    ahead = iso(time.time() + 60)
    (state.path / "jobs" / "j.json").write_text(open_breaker(opened_at=ahead))
    result = wrap("--name", "j", "--breaker-cooldown", "1h", "--", "true")
    assert warnings_in(result.stderr) == []
    assert [r["status"] for r in state.reports()] == ["skipped_breaker"]


def marker(state: StateDir, **fields: object) -> Path:
    run_id = str(uuid.uuid4())
    document: dict[str, object] = {
        "run_id": run_id, "job": "j", "command": ["true"], "schedule": None, "priority": 5,
        "tags": [], "pid": 4_000_000, "pid_start_ticks": 1, "child_pid": None,
        "child_start_ticks": None, "pgid": None, "started_at": "2026-01-01T00:00:00Z",
        "boot_id": "x",
    }  # fmt: skip
    document.update(fields)
    (state.path / "running").mkdir(parents=True, exist_ok=True)
    path = state.path / "running" / f"{run_id}.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    "fields",
    [
        {"started_at": "garbage"},
        {"started_at": FUTURE},
        {"pid": "1"},
        {"command": "true"},
        {"job": "../j"},
        {"priority": True},
        {"tags": ["a b"]},
    ],
    ids=[
        "started_at garbage",
        "started_at 2199",
        "pid text",
        "command text",
        "job path",
        "priority bool",
        "bad tag",
    ],
)
def test_a_bad_marker_is_set_aside_and_the_job_runs(
    wrap: Wrap, state: StateDir, fields: dict[str, object]
):
    path = marker(state, **fields)
    result = wrap("--name", "j", "--", "true")
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    (warning,) = warnings_in(result.stderr)
    assert f"{path} is not valid" in warning
    assert Path(f"{path}.corrupt").exists() and not path.exists()
    assert [r["status"] for r in state.reports()] == ["success"]


def test_a_good_marker_of_a_dead_wrapper_is_still_reported_lost(wrap: Wrap, state: StateDir):
    path = marker(state, started_at="2026-01-01T00:00:00+01:00")
    result = wrap("--name", "j", "--", "true")
    assert warnings_in(result.stderr) == []
    lost = next(r for r in state.reports() if r["status"] == "lost")
    assert lost["run_id"] == path.stem
    assert lost["started_at"] == "2025-12-31T23:00:00.000000Z", "times normalised to UTC"


BAD_CONTROLS = {
    "reset not a time": {"breaker_resets": {"j": "not-a-time"}},
    "reset in 2199": {"breaker_resets": {"j": FUTURE}},
    "reset a number": {"breaker_resets": {"j": 5}},
    "paused not a list": {"paused": "j"},
    "paused a number": {"paused": [1]},
    "resets a list": {"breaker_resets": ["j"]},
}


@pytest.mark.parametrize("content", BAD_CONTROLS.values(), ids=BAD_CONTROLS.keys())
def test_a_bad_control_file_is_set_aside_and_never_stored(
    wrap: Wrap, state: StateDir, content: dict[str, object]
):
    state.path.mkdir()
    control = state.path / "control.json"
    control.write_text(json.dumps(content))
    result = wrap("--name", "j", "--", "true")
    assert result.returncode == 0
    (warning,) = warnings_in(result.stderr)
    assert f"{control} is not valid" in warning
    assert Path(f"{control}.corrupt").exists() and not control.exists()
    assert state.job_state("j")["reset_applied_at"] is None, "a bad reset is never stored"
    again = wrap("--name", "j", "--", "true")
    assert again.returncode == 0 and warnings_in(again.stderr) == []
    assert [r["status"] for r in state.reports()] == ["success", "success"]


def test_a_hand_typed_reset_time_is_applied(wrap: Wrap, state: StateDir):
    (state.path / "jobs").mkdir(parents=True)
    (state.path / "jobs" / "j.json").write_text(open_breaker(opened_at="2026-01-01T00:00:00Z"))
    (state.path / "control.json").write_text('{"breaker_resets": {"j": "2026-06-01 10:00Z"}}')
    result = wrap("--name", "j", "--breaker-cooldown", "1000d", "--", "true")
    assert warnings_in(result.stderr) == []
    assert [r["status"] for r in state.reports()] == ["success"]
    assert state.job_state("j")["reset_applied_at"] == "2026-06-01T10:00:00.000000Z"


def test_a_dry_run_names_bad_files_and_sets_nothing_aside(wrap: Wrap, state: StateDir):
    (state.path / "jobs").mkdir(parents=True)
    (state.path / "jobs" / "j.json").write_text(open_breaker(opened_at="yesterday"))
    (state.path / "control.json").write_text('{"paused": "j"}')
    result = wrap("--dry-run", "--name", "j", "--", "true")
    assert result.returncode == 0, result.stderr
    assert "j.json is not valid (opened_at: 'yesterday'" in result.stdout
    assert "control.json is not valid (paused: must be a list" in result.stdout
    assert (state.path / "jobs" / "j.json").exists() and (state.path / "control.json").exists()
    assert not list(state.path.rglob("*.corrupt"))
