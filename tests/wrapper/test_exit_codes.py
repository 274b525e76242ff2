"""Exit status: the job's own, 124, 126, 127, 128+N, 0 for skips, 2 for usage errors."""

from __future__ import annotations

import json
import signal

import pytest

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("code", [0, 1, 7, 255])
def test_the_job_exit_status_is_the_wrapper_exit_status(wrap, state, code):
    result = wrap("--name", "own", "--", "sh", "-c", f"exit {code}")
    assert result.returncode == code, result.stderr
    report = state.report()
    assert report["exit_code"] == code
    assert report["signal"] is None
    assert report["status"] == ("success" if code == 0 else "failed")


def test_a_command_that_is_not_found_exits_127(wrap, state, tmp_path):
    missing = "smartcron-test-no-such-command"
    result = wrap("--name", "missing", "--", missing, "arg")
    assert result.returncode == 127
    assert result.stderr.startswith("smartcron-wrap: "), result.stderr
    assert missing in result.stderr, "the message names the command"
    report = state.report()
    assert report["status"] == "error"
    assert report["exit_code"] == 127


def test_a_missing_path_exits_127(wrap, state, tmp_path):
    result = wrap("--name", "missing", "--", tmp_path / "nope" / "job.sh")
    assert result.returncode == 127
    assert state.report()["status"] == "error"


def test_a_file_that_is_not_executable_exits_126(wrap, state, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\ntouch ran\n")
    script.chmod(0o644)
    result = wrap("--name", "noexec", "--", script)
    assert result.returncode == 126
    assert str(script) in result.stderr, "the message names the command"
    assert not (tmp_path / "ran").exists()
    report = state.report()
    assert report["status"] == "error"
    assert report["exit_code"] == 126


def test_a_directory_as_command_exits_126(wrap, state, tmp_path):
    result = wrap("--name", "dir", "--", tmp_path)
    assert result.returncode == 126
    assert state.report()["status"] == "error"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGUSR1])
def test_a_job_killed_by_signal_n_exits_128_plus_n(wrap, state, sig):
    result = wrap("--name", "killed", "--", "sh", "-c", f"kill -{sig.name[3:]} $$")
    assert result.returncode == 128 + sig, result.stderr
    report = state.report()
    assert report["status"] == "failed"
    assert report["signal"] == sig
    assert report["attempts"][-1]["signal"] == sig


USAGE_ERRORS = {
    "bad timeout": (["--timeout", "banana"], "banana"),
    "bad kill-after": (["--kill-after", "forever"], "forever"),
    "bad lock-wait": (["--lock-wait", "7parsecs"], "7parsecs"),
    "bad name": (["--name", "no spaces/here"], "no spaces/here"),
    "bad priority": (["--priority", "11"], "11"),
    "unknown option": (["--frobnicate"], "--frobnicate"),
}


@pytest.mark.parametrize(("args", "named"), USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_a_usage_error_exits_2_with_one_line_and_runs_nothing(wrap, state, tmp_path, args, named):
    ran = tmp_path / "ran"
    options = args if "--name" in args else ["--name", "usage", *args]
    result = wrap(*options, "--", "touch", ran)

    assert result.returncode == 2
    assert not ran.exists(), "a usage error must not run the job"
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("smartcron-wrap: error: "), lines[0]
    assert named in lines[0], f"the message does not name {named!r}: {lines[0]}"
    assert state.running() == []


def test_no_command_is_a_usage_error(wrap):
    result = wrap("--name", "nothing")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("smartcron-wrap: error: "), result.stderr


def test_a_paused_job_is_skipped_with_exit_0_and_recorded(wrap, state, tmp_path):
    state.path.mkdir(parents=True, exist_ok=True)
    control = {"paused": ["napping"], "breaker_resets": {}}
    (state.path / "control.json").write_text(json.dumps(control))
    ran = tmp_path / "ran"
    result = wrap("--name", "napping", "--", "sh", "-c", 'touch "$1"; exit 9', "job", ran)

    assert result.returncode == 0
    assert (result.stdout, result.stderr) == ("", ""), "a skip is recorded, not printed"
    assert not ran.exists()
    report = state.report()
    assert report["status"] == "skipped_paused"
    assert report["exit_code"] == 0 and report["attempts"] == []


def test_a_job_that_is_not_paused_runs_despite_other_pauses(wrap, state, tmp_path):
    state.path.mkdir(parents=True, exist_ok=True)
    (state.path / "control.json").write_text(json.dumps({"paused": ["someone-else"]}))
    result = wrap("--name", "awake", "--", "sh", "-c", "exit 4")
    assert result.returncode == 4
    assert state.report()["status"] == "failed"
