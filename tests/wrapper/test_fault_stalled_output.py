"""Fault injection: the reader of the wrapper's stdout/stderr stalls.

`( smartcron-wrap --timeout 2 -- yes ) | sleep 15` used to run 15 s: the wrapper
blocked writing to a pipe nobody read, and stopped supervising. Each test here
gives the installed wrapper a pipe (or socket) that the test never reads, and
checks that the timeout and the memory cap still act on time, that the bytes the
reader never got are counted in the report, and that the tail keeps them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.wrapper.test_hostile_input import assert_refused

# --output-stall: a reader that takes nothing this long has stalled. Short here, so no
# test waits out the default (2 s, wrapper/passthrough.py's STALL_S) for a stall.
STALL, STALL_S = "300ms", 0.3
YES = [sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('y\\n' * 4096)"]


@pytest.fixture
def stalled_pipe() -> Iterator[tuple[int, int]]:
    """(read end, write end) of a pipe whose reader never reads until the test says so."""
    read_end, write_end = os.pipe()
    yield read_end, write_end
    os.close(read_end)
    os.close(write_end)


def drain(fd: int) -> int:
    """Read what is in the pipe now (the writers are gone), in bytes."""
    os.set_blocking(fd, False)
    got = 0
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return got
        if not chunk:
            return got
        got += len(chunk)


def run_into(
    wrap: Any, out_fd: int, *args: str, err_fd: int | None = None, stall: str | None = STALL
) -> int:
    """Run the wrapper with stdout (and stderr) on fds the test does not read; its exit
    code. The reader never reads and the jobs here write (or run) for ever: a wrapper
    that waited on the reader would never be back, and the watchdog fails the test.
    How soon it is back is not asserted: that is the machine's speed. `stall`: the
    --output-stall given (None: the default's)."""
    if stall is not None:
        args = ("--output-stall", stall, *args)
    proc = wrap.popen(*args, stdout=out_fd, stderr=err_fd if err_fd is not None else out_fd)
    try:
        code: int = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the wrapper blocked on a stalled reader for 30 s and stopped supervising")
    return code


def test_the_timeout_acts_on_time_when_the_reader_stalls(wrap: Any, state: Any, stalled_pipe):
    read_end, write_end = stalled_pipe
    code = run_into(wrap, write_end, "--name", "yes", "--timeout", "1", "--kill-after", "1",
                    "--", *YES)  # fmt: skip
    assert code == 124
    report = state.report()
    assert report["status"] == "timeout"
    assert report["duration_s"] >= 1, report["duration_s"]
    passed = drain(read_end)
    assert report["output_dropped_bytes"] > 0
    # Every byte is either in the pipe for the reader or counted as dropped, and the
    # tail holds the newest output whatever the reader did.
    assert passed + report["output_dropped_bytes"] == report["output_bytes"]
    assert report["stdout_tail"].startswith("y\n") and len(report["stdout_tail"]) == 64 * 1024


def test_the_memory_cap_acts_when_the_reader_stalls(wrap: Any, state: Any, stalled_pipe):
    _read_end, write_end = stalled_pipe
    # One thread fills stdout (and would block the wrapper), the other grows to 400 MB.
    hog = (
        "import sys, threading, time\n"
        "def talk():\n"
        "    while True: sys.stdout.write('x' * 65536)\n"
        "threading.Thread(target=talk, daemon=True).start()\n"
        "time.sleep(0.5)\n"
        "block = bytearray(400 * 1024 * 1024)\n"
        "time.sleep(300)\n"
    )
    code = run_into(wrap, write_end, "--name", "hog", "--max-memory", "100M",
                    "--kill-after", "1", "--", sys.executable, "-c", hog)  # fmt: skip
    assert code == 128 + 9 or code > 128, code
    report = state.report()
    assert report["status"] == "killed_memory", report["status"]
    assert report["output_dropped_bytes"] > 0


def test_a_slow_reader_that_keeps_reading_gets_every_byte(wrap: Any, state: Any, tmp_path):
    # Back-pressure, not loss: a reader slower than the job but never stalled for
    # the stall time gets all of the output, as it would without the wrapper.
    size = 3 * 1024 * 1024
    job = [sys.executable, "-c", f"import sys; sys.stdout.buffer.write(b'z' * {size})"]
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nn = 0\n"
         "while chunk := sys.stdin.buffer.read1(65536):\n"
         "    n += len(chunk); time.sleep(0.02)\n"
         "print(n)"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert reader.stdin is not None and reader.stdout is not None
    # The default stall: a reader this slow must never count as stalled by it.
    code = run_into(wrap, reader.stdin.fileno(), "--name", "bulk", "--", *job, stall=None)
    reader.stdin.close()
    got = reader.stdout.read()
    reader.stdout.close()
    reader.wait(timeout=60)
    assert code == 0
    report = state.report()
    assert report["output_dropped_bytes"] == 0
    assert int(got) == size == report["output_bytes"]


def test_output_left_at_the_end_waits_only_for_a_stall(wrap: Any, state: Any, stalled_pipe):
    read_end, write_end = stalled_pipe
    size = 1024 * 1024
    job = [sys.executable, "-c", f"import sys; sys.stdout.buffer.write(b'q' * {size})"]
    code = run_into(wrap, write_end, "--name", "burst", "--", *job)
    assert code == 0
    report = state.report()
    assert report["status"] == "success"
    assert report["output_dropped_bytes"] > 0
    assert drain(read_end) + report["output_dropped_bytes"] == size


def test_stdout_and_stderr_on_one_stalled_socket(wrap: Any, state: Any):
    # A socket (journald's stdout, systemd-run) cannot be reopened: writes are made
    # only when poll() says they fit. stdout and stderr share it here, as with 2>&1.
    ours, theirs = socket.socketpair()
    with ours, theirs:
        both = [sys.executable, "-c",
                "import sys\nwhile True:\n"
                "    sys.stdout.write('o' * 9000); sys.stderr.write('e' * 9000)"]  # fmt: skip
        code = run_into(wrap, theirs.fileno(), "--name", "both", "--timeout", "1",
                        "--kill-after", "1", "--", *both)  # fmt: skip
    assert code == 124
    report = state.report()
    assert report["status"] == "timeout"
    assert report["output_dropped_bytes"] > 0
    assert "o" in report["stdout_tail"] and "e" in report["stderr_tail"]


def test_quiet_output_of_a_failed_run_gives_up_on_a_stalled_reader(
    wrap: Any, state: Any, stalled_pipe
):
    read_end, write_end = stalled_pipe
    size = 4 * 1024 * 1024
    job = [sys.executable, "-c", f"import sys; sys.stdout.buffer.write(b'f' * {size}); sys.exit(3)"]
    code = run_into(wrap, write_end, "--name", "quietly", "--quiet", "--", *job)
    assert code == 3
    report = state.report()
    assert report["status"] == "failed"
    assert drain(read_end) + report["output_dropped_bytes"] == size


def test_a_reader_that_goes_away_is_counted_too(wrap: Any, state: Any):
    read_end, write_end = os.pipe()
    os.close(read_end)  # EPIPE on the first write: the job still runs, on time
    job = [sys.executable, "-c", "import sys; sys.stdout.write('gone\\n' * 1000)"]
    try:
        code = run_into(wrap, write_end, "--name", "gone", "--", *job)
    finally:
        os.close(write_end)
    assert code == 0
    report = state.report()
    assert report["output_dropped_bytes"] == report["output_bytes"] == 5000
    assert report["stdout_tail"] == "gone\n" * 1000


def test_the_wrappers_own_warnings_do_not_wait_for_a_stalled_reader(
    wrap: Any, state: Any, stalled_pipe
):
    read_end, write_end = stalled_pipe
    state.path.parent.mkdir(parents=True, exist_ok=True)
    state.path.write_text("a file where the state directory should be")  # warnings to give
    code = run_into(wrap, write_end, "--name", "yes", "--timeout", "1", "--kill-after", "1",
                    "--", *YES)  # fmt: skip
    assert code == 124
    # The first warnings came while the pipe had room; the later ones (the report,
    # the log) met a full pipe and were dropped rather than waited for.
    os.set_blocking(read_end, False)
    assert os.read(read_end, 1 << 16).startswith(b"smartcron-wrap: warning: state directory")


def test_a_stalled_reader_costs_no_cpu_while_the_job_sleeps(wrap: Any, state: Any, stalled_pipe):
    # Once the reader has stalled there is nothing to wake up for but the reader, the
    # job or a signal. The stall's moment, already past, used to be taken for the next
    # wake-up: poll(0) in a loop, a core's worth of CPU for as long as the job ran.
    import psutil

    _read_end, write_end = stalled_pipe
    job = [sys.executable, "-c",
           "import sys, time\nsys.stdout.buffer.write(b's' * (1 << 20)); sys.stdout.flush()\n"
           "time.sleep(STALL + 2.5)".replace("STALL", str(STALL_S))]  # fmt: skip
    proc = wrap.popen("--name", "sleepy", "--output-stall", STALL, "--", *job,
                      stdout=write_end, stderr=write_end)  # fmt: skip
    wrapper = psutil.Process(proc.pid)
    time.sleep(STALL_S + 0.5)  # the job's own sleep: the stall has begun by now
    before = wrapper.cpu_times()
    time.sleep(1.5)
    after = wrapper.cpu_times()
    used = (after.user + after.system) - (before.user + before.system)
    assert proc.wait(timeout=30) == 0
    assert used < 0.1, f"the wrapper used {used:.2f}s of CPU in 1.5s of a job's sleep"
    report = state.report()
    assert report["status"] == "success" and report["output_dropped_bytes"] > 0


def test_the_stall_is_a_setting_of_2s_by_default_and_never_0(wrap: Any, state: Any, tmp_path):
    plan = wrap("--name", "plan", "--dry-run", "--", "true")
    [line] = [line.split() for line in plan.stdout.splitlines() if "output-stall" in line]
    assert line == ["output-stall", "2s", "default"], plan.stdout
    plan = wrap("--name", "plan", "--dry-run", "--", "true", env={"SMARTCRON_OUTPUT_STALL": STALL})
    [line] = [line.split() for line in plan.stdout.splitlines() if "output-stall" in line]
    assert line == ["output-stall", STALL, "env", "SMARTCRON_OUTPUT_STALL"], plan.stdout
    ran = tmp_path / "ran"
    done = wrap("--name", "never", "--output-stall", "0", "--", "touch", str(ran))
    assert_refused(done, ran, state, "error: --output-stall: 0 would drop")
