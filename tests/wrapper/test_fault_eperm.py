"""Fault injection: a job the wrapper is not allowed to signal.

A setuid program that takes root as its real user too (what `sudo` does) cannot be
signalled by a non-root wrapper: kill() fails with EPERM. That used to escape
supervision as a PermissionError: no report, the job ran on, the running/ marker
stayed, and every later run crashed in lost-run recovery. Here the installed
wrapper runs as `nobody` (via setpriv) and its job is a setuid-root copy of
setpriv that becomes root entirely before it runs a sleeper; the tests run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Python under /root is reachable for nobody only with CAP_DAC_READ_SEARCH; that
# capability gives no right to signal anyone (that is CAP_KILL).
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]  # fmt: skip


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory nobody can use, holding a setuid-root setpriv and nobody's state dir."""
    if os.geteuid() != 0:
        pytest.fail("these tests make a setuid-root program: run them as root")
    directory = Path(tempfile.mkdtemp(prefix="smartcron-eperm-"))
    try:
        directory.chmod(0o755)
        setuid = directory / "root-setpriv"
        shutil.copy2(shutil.which("setpriv") or "/usr/bin/setpriv", setuid)
        os.chown(setuid, 0, 0)
        setuid.chmod(0o4755 | stat.S_IRUSR)
        state = directory / "state"
        state.mkdir(mode=0o700)
        nobody = pwd.getpwnam("nobody")
        os.chown(state, nobody.pw_uid, nobody.pw_gid)
        yield directory
    finally:
        shutil.rmtree(directory)


class NobodyWrap:
    """The installed wrapper run as nobody, on the shared directory's state."""

    def __init__(self, wrap: Any, state: Any, directory: Path) -> None:
        self.state = type(state)(directory / "state")  # the conftest reader, elsewhere
        self.runner = type(wrap)(wrap.executable, self.state, wrap.env)
        self.setuid = str(directory / "root-setpriv")

    def root_job(self, *argv: str) -> list[str]:
        """argv run as root by a setuid program: real, effective and saved uid 0."""
        return [self.setuid, "--reuid=0", "--regid=0", "--clear-groups", *argv]

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*AS_NOBODY, *self.runner.argv(args)],
            env=self.runner.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __call__(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        proc = self.popen(*args)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def nobody_wrap(wrap: Any, state: Any, shared_dir: Path) -> NobodyWrap:
    return NobodyWrap(wrap, state, shared_dir)


def test_the_job_really_cannot_be_signalled_by_nobody(nobody_wrap: NobodyWrap) -> None:
    # The premise of this module: without it, the tests below would prove nothing.
    probe = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c",
         "import os, subprocess, sys, time\n"
         f"job = subprocess.Popen({nobody_wrap.root_job('sleep', '5')!r})\n"
         "while not open(f'/proc/{job.pid}/status').read().count('Uid:\\t0\\t'):\n"
         "    time.sleep(0.01)\n"
         "try:\n    os.kill(job.pid, 15)\nexcept PermissionError:\n    print('EPERM')\n"
         "job.wait()"],
        check=False, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert probe.stdout.strip() == "EPERM", probe


def test_a_timeout_the_kernel_refuses_is_recorded_and_the_wrapper_waits(
    nobody_wrap: NobodyWrap,
) -> None:
    started = time.monotonic()
    done = nobody_wrap("--name", "sudoish", "--timeout", "1", "--kill-after", "1", "--",
                       *nobody_wrap.root_job("sleep", "4"))  # fmt: skip
    took = time.monotonic() - started
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 124, done
    assert took >= 4, f"the wrapper left after {took:.1f}s while its job still ran"
    report = nobody_wrap.state.report()
    assert report["status"] == "timeout"
    assert report["signal_denied"] is True
    assert report["duration_s"] >= 4
    assert report["attempts"][-1]["exit_code"] == 0  # it ended on its own
    assert nobody_wrap.state.running() == [], "the run's marker must go at the end"


def test_a_signal_to_the_wrapper_it_cannot_forward_is_recorded(
    nobody_wrap: NobodyWrap, tree: Any, tmp_path: Path
) -> None:
    ready = Path(tempfile.mkdtemp(prefix="smartcron-ready-")) / "ready"
    ready.parent.chmod(0o777)
    try:
        proc = nobody_wrap.popen("--name", "sudoish", "--kill-after", "1", "--",
                                 *nobody_wrap.root_job("sh", "-c", f"touch {ready}; sleep 3",
                                                       tree.marker))  # fmt: skip
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        shutil.rmtree(ready.parent)
    assert "Traceback" not in err, err
    report = nobody_wrap.state.report()
    assert report["signal_denied"] is True
    assert report["attempts"][-1]["exit_code"] == 0, report["attempts"]
    assert nobody_wrap.state.running() == []


def test_a_lost_run_whose_leftovers_cannot_be_killed_does_not_stop_later_runs(
    nobody_wrap: NobodyWrap, tree: Any, tmp_path: Path
) -> None:
    ready = Path(tempfile.mkdtemp(prefix="smartcron-ready-")) / "ready"
    ready.parent.chmod(0o777)
    try:
        first = nobody_wrap.popen("--name", "sudoish", "--",
                                  *nobody_wrap.root_job(*tree.sleeper(ready)))  # fmt: skip
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists(), "the setuid job did not start"
        first.kill()  # the wrapper dies outright; its root job runs on (nobody may not kill it)
        first.communicate(timeout=10)
        assert tree.alive(), "the premise: the job outlived its wrapper"
        assert len(nobody_wrap.state.running()) == 1

        second = nobody_wrap("--name", "sudoish", "--", "true")
        assert "Traceback" not in second.stderr, second.stderr
        assert second.returncode == 0, second
        statuses = sorted(r["status"] for r in nobody_wrap.state.reports())
        assert statuses == ["lost", "success"], statuses
        assert nobody_wrap.state.running() == []

        third = nobody_wrap("--name", "sudoish", "--", "true")
        assert third.returncode == 0 and "Traceback" not in third.stderr, third
    finally:
        tree.kill()  # root may
        shutil.rmtree(ready.parent)
