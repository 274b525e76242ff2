"""Output: passed through as it comes, tails of 64 KiB in the report, --quiet, redaction, log."""

from __future__ import annotations

import os
import selectors
import subprocess
import time
import uuid
from typing import IO

import pytest

pytestmark = pytest.mark.timeout(60)

TAIL = 64 * 1024


def read_until(stream: IO[str] | None, needle: bytes, timeout: float = 10.0) -> bytes:
    """Read raw bytes from a pipe until `needle` has arrived; fail after `timeout`."""
    assert stream is not None
    fd, data = stream.fileno(), b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while needle not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"{needle!r} did not arrive within {timeout}s; got {data!r}")
            if selector.select(left):
                chunk = os.read(fd, 65536)
                if not chunk:
                    pytest.fail(f"the stream closed before {needle!r} arrived; got {data!r}")
                data += chunk
    return data


def test_output_passes_through_while_the_job_runs(wrap, tmp_path):
    release = tmp_path / "release"
    script = (
        'echo out-first; echo err-first >&2; while [ ! -e "$1" ]; do sleep 0.05; done; '
        "echo out-last; echo err-last >&2"
    )
    proc = wrap.popen("--name", "chatty", "--", "sh", "-c", script, "chatty", release)
    try:
        early_out = read_until(proc.stdout, b"out-first\n")
        early_err = read_until(proc.stderr, b"err-first\n")
        # The job cannot end before the release file exists: these lines came live.
        assert proc.poll() is None
    finally:
        release.touch()
    rest_out, rest_err = proc.communicate(timeout=20)

    assert proc.returncode == 0
    assert early_out.decode() + rest_out == "out-first\nout-last\n"
    assert "err-first\nerr-last\n" in early_err.decode() + rest_err


def test_small_output_is_kept_whole(wrap, state):
    result = wrap("--name", "small", "--", "sh", "-c", "echo hello; printf 'oops' >&2")
    assert result.returncode == 0
    assert result.stdout == "hello\n"
    assert "oops" in result.stderr
    report = state.report()
    assert report["stdout_tail"] == "hello\n"
    assert report["stderr_tail"] == "oops"
    assert report["output_bytes"] == len("hello\n") + len("oops")
    assert report["output_truncated"] is False


def numbered_lines(total: int) -> str:
    lines = "".join(f"line {number:07d}\n" for number in range(total // 13 + 1))
    return lines[:total]


@pytest.mark.parametrize("big_stream", ["stdout", "stderr"])
def test_tails_keep_the_last_64_kib(wrap, state, tmp_path, big_stream):
    big, small = numbered_lines(200_000), "the small stream\n"
    out, err = (big, small) if big_stream == "stdout" else (small, big)
    (tmp_path / "out").write_text(out)
    (tmp_path / "err").write_text(err)
    result = wrap(
        "--name", "big", "--", "sh", "-c", 'cat "$1"; cat "$2" >&2', "big",
        tmp_path / "out", tmp_path / "err",
    )  # fmt: skip

    assert result.returncode == 0
    assert result.stdout == out, "the terminal gets all of stdout, not just the tail"
    assert err in result.stderr, "the terminal gets all of stderr, not just the tail"
    report = state.report()
    tail = report[f"{big_stream}_tail"]
    assert big.endswith(tail), "the tail is not the end of the output"
    assert TAIL - 64 <= len(tail.encode()) <= TAIL, len(tail.encode())
    small_stream = "stderr" if big_stream == "stdout" else "stdout"
    assert report[f"{small_stream}_tail"] == small
    assert report["output_bytes"] == len(big) + len(small)
    assert report["output_truncated"] is True


def test_exactly_64_kib_is_not_truncated(wrap, state, tmp_path):
    content = numbered_lines(TAIL)
    (tmp_path / "out").write_text(content)
    result = wrap("--name", "edge", "--", "cat", tmp_path / "out")
    assert result.returncode == 0
    report = state.report()
    assert report["stdout_tail"] == content
    assert report["output_bytes"] == TAIL
    assert report["output_truncated"] is False


QUIET_JOB = "echo out-line; echo err-line >&2; exit $1"


def test_quiet_prints_nothing_when_the_run_succeeds(wrap, state):
    result = wrap("--name", "hush", "--quiet", "--", "sh", "-c", QUIET_JOB, "hush", "0")
    assert result.returncode == 0
    assert (result.stdout, result.stderr) == ("", "")
    report = state.report()
    assert report["stdout_tail"] == "out-line\n", "--quiet still keeps the output"
    assert report["stderr_tail"] == "err-line\n"


def test_quiet_prints_everything_when_the_run_fails(wrap, state):
    result = wrap("--name", "hush", "--quiet", "--", "sh", "-c", QUIET_JOB, "hush", "3")
    assert result.returncode == 3
    assert result.stdout == "out-line\n"
    assert "err-line\n" in result.stderr
    assert state.report()["status"] == "failed"


def test_quiet_prints_everything_when_the_run_times_out(wrap, state):
    script = "echo out-line; echo err-line >&2; sleep 30"
    result = wrap(
        "--name", "hush", "--quiet", "--timeout", "1s", "--kill-after", "1s", "--",
        "sh", "-c", script,
    )  # fmt: skip
    assert result.returncode == 124
    assert result.stdout == "out-line\n"
    assert "err-line\n" in result.stderr
    assert state.report()["status"] == "timeout"


def test_secrets_are_redacted_in_the_report_and_log_but_not_on_the_terminal(wrap, state):
    def secret(prefix: str) -> str:
        return prefix + uuid.uuid4().hex[:16]

    values = {
        "password": secret("pw"),
        "token": secret("tk"),
        "bearer": secret("br"),
        "basic": secret("ba"),
        "aws_key_id": uuid.uuid4().hex[:16].upper(),
        "aws_secret": secret("as"),
        "url_password": secret("up"),
        "api_key": secret("ak"),
        "passwd": secret("pd"),
        "secret": secret("sc"),
    }
    lines = [
        f"connecting with password={values['password']}",
        f"token={values['token']}",
        f"Authorization: Bearer {values['bearer']}",
        f"Authorization: Basic {values['basic']}",
        f"key id AKIA{values['aws_key_id']} in use",
        f"aws_secret_access_key={values['aws_secret']}",
        f"dsn https://alice:{values['url_password']}@db.example.com/app",
        f"api_key={values['api_key']}",
        f"passwd={values['passwd']}",
        f"secret={values['secret']}",
        "nothing to hide here",
    ]
    script = 'printf "%s\\n" "$@"; printf "%s\\n" "$@" >&2'
    result = wrap("--name", "leaky", "--", "sh", "-c", script, "leaky", *lines)

    assert result.returncode == 0
    expected = "".join(f"{line}\n" for line in lines)
    assert result.stdout == expected, "the terminal gets the output unredacted"
    assert expected in result.stderr

    report = state.report()
    for field in ("command", "stdout_tail", "stderr_tail"):
        assert "[REDACTED]" in report[field], field
    assert "nothing to hide here" in report["stdout_tail"]
    assert "nothing to hide here" in report["stderr_tail"]
    spooled = next((state.path / "spool").glob("*.json")).read_text()
    logged = (state.path / "logs" / "leaky.jsonl").read_text()
    for name, value in values.items():
        assert value not in spooled, f"{name} leaked into the spool report"
        assert value not in logged, f"{name} leaked into the log"


def test_the_log_has_one_line_per_run_matching_the_reports(wrap, state):
    for code in (0, 1, 0):
        result = wrap("--name", "logged", "--", "sh", "-c", f"echo run; exit {code}")
        assert result.returncode == code

    entries = state.log("logged")
    assert [entry["status"] for entry in entries] == ["success", "failed", "success"]
    reports = {report["run_id"]: report for report in state.reports()}
    assert len(reports) == 3
    assert [entry["run_id"] for entry in entries] == sorted(
        reports, key=lambda run_id: reports[run_id]["started_at"]
    )
    for entry in entries:
        assert entry == reports[entry["run_id"]], "a log line is the run's report"


def test_logs_are_kept_per_job(wrap, state):
    assert wrap("--name", "one", "--", "true").returncode == 0
    assert wrap("--name", "two", "--", "true").returncode == 0
    assert wrap("--name", "two", "--", "false").returncode == 1
    assert len(state.log("one")) == 1
    assert [entry["status"] for entry in state.log("two")] == ["success", "failed"]


def test_a_wrapper_started_without_stdout_and_stderr_writes_the_output_nowhere_else(wrap, state):
    # `smartcron-wrap ... >&- 2>&-`: the next files the wrapper opens (the lock, a pipe)
    # would take fds 1 and 2, and the job's output would land in them.
    argv = wrap.argv(("--name", "closed", "--", "sh", "-c", "echo out-line; echo err-line >&2"))
    done = subprocess.run(["sh", "-c", '"$@" >&- 2>&-', "sh", *argv], env=wrap.env,
                          stdin=subprocess.DEVNULL, timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0
    lock = state.lock_path("closed").read_text()
    assert lock.strip().isdigit(), f"the lock file holds the job's output: {lock!r}"
    report = state.report()
    assert (report["stdout_tail"], report["stderr_tail"]) == ("out-line\n", "err-line\n")
