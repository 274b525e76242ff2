"""Shared fixtures: run the installed `smartcron-wrap` as a real child process.

Tests never import the wrapper; they run the executable a user's crontab would run,
each with its own state directory, and read what it left there (spool reports, the
per-job log, the breaker state) the way the agent and an operator would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

WRAP_NAME = "smartcron-wrap"
TAIL_LIMIT = 64 * 1024

REPORT_FIELDS = (
    "schema",
    "run_id",
    "job",
    "host",
    "user",
    "command",
    "schedule",
    "timezone",
    "priority",
    "tags",
    "trigger",
    "status",
    "exit_code",
    "signal",
    "started_at",
    "finished_at",
    "duration_s",
    "attempts",
    "peak_rss_bytes",
    "cpu_user_s",
    "cpu_system_s",
    "stdout_tail",
    "stderr_tail",
    "output_bytes",
    "output_truncated",
    "breaker_state",
    "wrapper_version",
)
ATTEMPT_FIELDS = ("started_at", "finished_at", "exit_code", "signal", "status")
STATUSES = frozenset(
    {
        "success",
        "failed",
        "timeout",
        "killed_memory",
        "skipped_locked",
        "skipped_breaker",
        "skipped_paused",
        "lost",
        "error",
    }
)
SKIPPED = frozenset({"skipped_locked", "skipped_breaker", "skipped_paused"})
BREAKER_STATES = frozenset({"closed", "open", "half_open"})
ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")

# A job process that ignores nothing, sleeps, and is findable by the marker in its argv:
#   python -c SLEEPER MARKER READY_FILE
# SIGINT is reset to the default so that a forwarded SIGINT kills it outright (Python would
# otherwise raise KeyboardInterrupt, and background jobs of sh start with SIGINT ignored).
SLEEPER = (
    "import pathlib, signal, sys, time\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "if len(sys.argv) > 2:\n"
    "    pathlib.Path(sys.argv[2]).touch()\n"
    "time.sleep(300)\n"
)
# The same, but deaf to SIGTERM: only SIGKILL ends it.
STUBBORN_SLEEPER = (
    "import pathlib, signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "pathlib.Path(sys.argv[2]).touch()\n"
    "time.sleep(300)\n"
)


def find_wrap() -> str:
    """The installed executable: next to the interpreter running pytest, else on PATH."""
    beside = Path(sys.executable).parent / WRAP_NAME
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(WRAP_NAME)
    if found is None:
        pytest.fail(f"{WRAP_NAME} is not installed; run scripts/venv test first")
    return found


def wait_for(condition: Callable[[], bool] | Path, timeout: float = 10.0, what: str = "") -> None:
    """Poll for something the test itself set off (a file appearing, a process ending).

    Never used to wait for a schedule or a cooldown: those are injected, not awaited.
    """
    if isinstance(condition, Path):
        path = condition
        what = what or f"{path.name} to appear"
        condition = path.exists
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or 'a condition'}")
        time.sleep(0.02)


# ---------------------------------------------------------------- process trees


def _is_wrapper(cmdline: list[str]) -> bool:
    return any(Path(arg).name == WRAP_NAME for arg in cmdline[:3])


def describe(procs: list[psutil.Process]) -> str:
    lines = []
    for proc in procs:
        try:
            lines.append(f"pid {proc.pid} ppid {proc.ppid()} {proc.status()}: {proc.cmdline()}")
        except psutil.Error:
            lines.append(f"pid {proc.pid} (gone)")
    return "\n".join(lines)


class JobTree:
    """Finds a job's processes by a marker unique to the test, carried in their argv."""

    sleeper_code = SLEEPER
    stubborn_code = STUBBORN_SLEEPER

    def __init__(self) -> None:
        self.marker = f"smartcron-test-{uuid.uuid4().hex}"

    def sleeper(self, ready: Path | None = None, tag: str = "") -> list[str]:
        """argv of a 300 s sleeper that carries the marker (and touches `ready` once running)."""
        argv = [sys.executable, "-c", SLEEPER, self.marker + tag]
        return [*argv, str(ready)] if ready is not None else argv

    def stubborn(self, ready: Path, tag: str = "") -> list[str]:
        """argv of a 300 s sleeper that ignores SIGTERM."""
        return [sys.executable, "-c", STUBBORN_SLEEPER, self.marker + tag, str(ready)]

    def alive(self) -> list[psutil.Process]:
        """Live (non-zombie) processes whose argv carries the marker, wrappers excluded.

        The wrapper's own argv holds the job's command line, so it carries the marker
        too; only the job's processes are of interest here.
        """
        found = []
        for proc in psutil.process_iter(["cmdline", "status"]):
            cmdline = proc.info["cmdline"] or []
            if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                continue
            if any(self.marker in arg for arg in cmdline) and not _is_wrapper(cmdline):
                found.append(proc)
        return found

    def assert_gone(self, within: float = 2.0) -> None:
        """Every marked process is gone, allowing `within` seconds for a SIGKILL to land."""
        deadline = time.monotonic() + within
        while True:
            left = self.alive()
            if not left:
                return
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"{len(left)} job process(es) survived:\n{describe(left)}")
            time.sleep(0.05)

    def kill(self) -> None:
        """Clean-up only: SIGKILL whatever carries the marker so nothing outlives the test."""
        for proc in self.alive():
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


@pytest.fixture
def tree() -> Iterator[JobTree]:
    helper = JobTree()
    yield helper
    helper.kill()


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., None]:
    return wait_for


# ---------------------------------------------------------------- state directory


def assert_iso_utc(value: object, field: str) -> datetime:
    assert isinstance(value, str), f"{field}: {value!r} is not a string"
    assert ISO_UTC.fullmatch(value), f"{field}: {value!r} is not UTC ISO 8601 with microseconds"
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def assert_valid_report(report: Any) -> None:
    """The report carries every field of DESIGN.md's schema 1, each of a sane type."""
    assert isinstance(report, dict), f"report is not a JSON object: {report!r}"
    missing = [field for field in REPORT_FIELDS if field not in report]
    assert not missing, f"report lacks {missing}: {report}"

    assert report["schema"] == 1 and _is_int(report["schema"])
    assert isinstance(report["run_id"], str), report["run_id"]
    assert str(uuid.UUID(report["run_id"])) == report["run_id"].lower()
    assert isinstance(report["job"], str) and NAME.fullmatch(report["job"]), report["job"]
    for field in ("host", "user", "wrapper_version"):
        assert isinstance(report[field], str) and report[field], f"{field}: {report[field]!r}"
    assert isinstance(report["command"], str) and report["command"], report["command"]
    assert report["schedule"] is None or isinstance(report["schedule"], str)
    assert _is_int(report["priority"]) and 1 <= report["priority"] <= 10, report["priority"]
    assert isinstance(report["tags"], list)
    assert all(isinstance(tag, str) for tag in report["tags"]), report["tags"]
    assert report["trigger"] in ("cron", "manual"), report["trigger"]
    assert report["status"] in STATUSES, report["status"]
    assert report["exit_code"] is None or _is_int(report["exit_code"]), report["exit_code"]
    assert report["signal"] is None or (_is_int(report["signal"]) and 0 < report["signal"] < 65), (
        report["signal"]
    )

    started = assert_iso_utc(report["started_at"], "started_at")
    if report["status"] == "lost":
        # Its end is unknown (DESIGN.md): no finished_at, no duration, no attempts.
        assert (report["finished_at"], report["duration_s"], report["attempts"]) == (None, None, [])
        finished = datetime.max
    else:
        finished = assert_iso_utc(report["finished_at"], "finished_at")
        assert finished >= started, (report["started_at"], report["finished_at"])
        duration = report["duration_s"]
        assert _is_number(duration) and duration >= 0, duration
        wall = (finished - started).total_seconds()
        assert abs(wall - duration) <= 1.0, f"duration_s {duration} vs finished-started {wall}"

    attempts = report["attempts"]
    assert isinstance(attempts, list)
    for attempt in attempts:
        assert isinstance(attempt, dict)
        missing = [field for field in ATTEMPT_FIELDS if field not in attempt]
        assert not missing, f"attempt lacks {missing}: {attempt}"
        a_start = assert_iso_utc(attempt["started_at"], "attempts[].started_at")
        a_end = assert_iso_utc(attempt["finished_at"], "attempts[].finished_at")
        assert started <= a_start <= a_end <= finished, attempt
        assert attempt["exit_code"] is None or _is_int(attempt["exit_code"]), attempt
        assert attempt["signal"] is None or _is_int(attempt["signal"]), attempt
        assert attempt["status"] in STATUSES, attempt

    for field in ("peak_rss_bytes",):
        assert report[field] is None or (_is_int(report[field]) and report[field] >= 0), field
    for field in ("cpu_user_s", "cpu_system_s"):
        value = report[field]
        assert value is None or (_is_number(value) and value >= 0), f"{field}: {value!r}"
    for field in ("stdout_tail", "stderr_tail"):
        tail = report[field]
        assert isinstance(tail, str), f"{field}: {tail!r}"
        assert len(tail.encode("utf-8", "surrogatepass")) <= TAIL_LIMIT + 64, field
    assert _is_int(report["output_bytes"]) and report["output_bytes"] >= 0
    assert isinstance(report["output_truncated"], bool)
    assert report["breaker_state"] is None or report["breaker_state"] in BREAKER_STATES

    if report["status"] in SKIPPED:
        assert report["exit_code"] == 0, f"a skipped run has exit_code 0: {report}"
        assert attempts == [], f"a skipped run has no attempts: {report}"
    elif report["status"] not in ("lost", "error"):
        assert attempts, f"a run that ran has its attempts: {report}"
        assert attempts[-1]["status"] == report["status"], report


class StateDir:
    """Reads what the wrapper left under one state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.checked: set[str] = set()

    def spool_files(self) -> list[Path]:
        spool = self.path / "spool"
        return sorted(spool.glob("*.json")) if spool.is_dir() else []

    def reports(self) -> list[dict[str, Any]]:
        """Every spool report, validated, oldest first."""
        reports, files = [], self.spool_files()
        self.checked.update(file.name for file in files)
        for file in files:
            report = json.loads(file.read_text(encoding="utf-8"))
            assert_valid_report(report)
            assert file.name == f"{report['run_id']}.json", file.name
            reports.append(report)
        return sorted(reports, key=lambda r: (r["started_at"], r["finished_at"]))

    def report(self) -> dict[str, Any]:
        """The one report in the spool."""
        reports = self.reports()
        assert len(reports) == 1, f"expected exactly one report, found {len(reports)}"
        return reports[0]

    def log(self, name: str) -> list[dict[str, Any]]:
        """The lines of logs/NAME.jsonl, one JSON object each."""
        path = self.path / "logs" / f"{name}.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        entries = [json.loads(line) for line in lines]
        for entry in entries:
            assert_valid_report(entry)
        return entries

    def deliveries(self, name: str) -> list[dict[str, Any]]:
        """The lines of logs/delivery/NAME.jsonl: what the collector made of each report."""
        path = self.path / "logs" / "delivery" / f"{name}.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        entries = [json.loads(line) for line in lines]
        for entry in entries:
            assert set(entry) == {"run_id", "at", "result", "reason"}, entry
            assert_iso_utc(entry["at"], "at")
        return entries

    def log_with_deliveries(self, name: str) -> list[dict[str, Any]]:
        """The run log, each line with the `delivery` ({result, reason}) that the
        delivery log holds for its run_id (none when no delivery was made)."""
        outcomes = {}
        for line in self.deliveries(name):
            assert line["run_id"] not in outcomes, f"delivered twice: {line}"
            outcomes[line["run_id"]] = {"result": line["result"], "reason": line["reason"]}
        entries = self.log(name)
        assert set(outcomes) <= {entry["run_id"] for entry in entries}, "a delivery of no run"
        return [
            {**entry, "delivery": outcomes[entry["run_id"]]}
            if entry["run_id"] in outcomes
            else entry
            for entry in entries
        ]

    def job_state(self, name: str) -> dict[str, Any]:
        return dict(json.loads((self.path / "jobs" / f"{name}.json").read_text("utf-8")))

    def running(self) -> list[dict[str, Any]]:
        running = self.path / "running"
        files = sorted(running.glob("*.json")) if running.is_dir() else []
        return [json.loads(file.read_text("utf-8")) for file in files]

    def lock_path(self, name: str) -> Path:
        return self.path / "locks" / f"{name}.lock"


class Wrap:
    """Runs smartcron-wrap with --state-dir pointing at this test's own directory."""

    def __init__(self, executable: str, state: StateDir, env: dict[str, str]) -> None:
        self.executable = executable
        self.state = state
        self.env = env
        self.children: list[subprocess.Popen[str]] = []

    def argv(self, args: tuple[str | os.PathLike[str], ...]) -> list[str]:
        return [self.executable, "--state-dir", str(self.state.path), *map(str, args)]

    def __call__(
        self,
        *args: str | os.PathLike[str],
        timeout: float = 30.0,
        env: dict[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(args),
            env={**self.env, **(env or {})},
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(
        self, *args: str | os.PathLike[str], env: dict[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[str]:
        """Start the wrapper without waiting; killed at teardown if still running."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(
            self.argv(args),
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            text=True,
            **kwargs,
        )
        self.children.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=10)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateDir]:
    """This test's state directory; at the end every spool report must be valid."""
    state = StateDir(tmp_path / "state")
    yield state
    if any(file.name not in state.checked for file in state.spool_files()):
        state.reports()  # reports the test never looked at must be valid too


@pytest.fixture
def wrap_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SMARTCRON_") and key != "PYTHONUNBUFFERED"
    }
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg-state")
    return env


@pytest.fixture
def wrap(state: StateDir, wrap_env: dict[str, str]) -> Iterator[Wrap]:
    runner = Wrap(find_wrap(), state, wrap_env)
    yield runner
    runner.close()


# A skipped test proves nothing, and a skip is how a missing browser, database or
# binary would quietly pass CI. Every skip fails the run; xfail (a known bug pinned
# by a strict test) is not a skip.
_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPPED and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SKIPPED:
        terminalreporter.write_line(
            f"FAILED: {len(_SKIPPED)} test(s) skipped; a skip fails the run "
            "(install what the test needs, see scripts/system-deps): " + ", ".join(_SKIPPED[:5]),
            red=True,
        )
