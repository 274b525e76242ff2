"""The run report and where it goes: the spool, logs/NAME.jsonl, and what happens when
the state directory is unusable or a wrapper dies mid-run."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest
from smartcron.wrapper import __version__, runlog
from smartcron.wrapper.clock import iso
from smartcron.wrapper.report import build_report, new_run_id
from smartcron.wrapper.schema import RunReport
from smartcron.wrapper.state import StateDir as WrapperStateDir

if TYPE_CHECKING:
    from tests.conftest import JobTree, StateDir, Wrap

pytestmark = pytest.mark.timeout(60)

WARNING = "smartcron-wrap: warning: "


def validated(report: dict[str, Any]) -> RunReport:
    """The report as the collector will see it: the pydantic model accepts its JSON as
    is, with no type coerced (the collector validates strictly)."""
    model = RunReport.model_validate_json(json.dumps(report), strict=True)
    assert model.model_dump(mode="json", by_alias=True)["run_id"] == report["run_id"]
    # Readers take fields they do not know (and leave them unused): the wrapper must
    # write none, or a misspelt field would go unnoticed.
    assert not model.model_extra, model.model_extra
    assert not [attempt.model_extra for attempt in model.attempts if attempt.model_extra]
    return model


def assert_spool_matches_log(state: StateDir, name: str) -> list[dict[str, Any]]:
    """Every spool report of NAME is exactly one line of logs/NAME.jsonl, and vice versa."""
    spooled = {}
    for file in state.spool_files():
        report = json.loads(file.read_bytes())
        if report["job"] == name:
            spooled[report["run_id"]] = report
    logged = state.log(name)
    assert len(logged) == len(spooled), (len(logged), len(spooled))
    for line in logged:
        assert spooled[line["run_id"]] == line, "the spool file and the log line differ"
    return logged


# ---------------------------------------------------------------- every status validates


def hold_lock(
    wrap: Wrap, name: str, tmp_path: Path, wait_for
) -> tuple[subprocess.Popen[str], Path]:
    started, release = tmp_path / f"{name}.started", tmp_path / f"{name}.release"
    hold = 'touch "$1"; while [ ! -e "$2" ]; do sleep 0.05; done'
    proc = wrap.popen("--name", name, "--", "sh", "-c", hold, "sh", started, release)
    wait_for(started)
    return proc, release


def test_every_kind_of_report_validates_against_the_schema(
    wrap: Wrap, state: StateDir, tmp_path, wait_for
):
    expected: dict[str, tuple[str, int]] = {}

    def run(name: str, status: str, code: int, *args: str | Path) -> None:
        result = wrap("--name", name, *args)
        assert result.returncode == code, (name, result.stderr)
        expected[name] = (status, code)

    run("ok", "success", 0, "--schedule", "@hourly", "--tags", "a,b", "--", "true")
    run("bad", "failed", 3, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    run("slow", "timeout", 124, "--timeout", "200ms", "--kill-after", "100ms", "--", "sleep", "9")
    run("ghost", "error", 127, "--", str(tmp_path / "no-such-program"))
    run("killed", "failed", 128 + 9, "--", "sh", "-c", "kill -KILL $$")
    run("retried", "failed", 1, "--retries", "1", "--retry-delay", "10ms", "--", "false")

    state.path.joinpath("jobs").mkdir(parents=True, exist_ok=True)
    state.path.joinpath("jobs", "broken.json").write_text(
        json.dumps({"state": "open", "failures": [], "opened_at": iso(time.time())})
    )
    run("broken", "skipped_breaker", 0, "--", "true")
    state.path.joinpath("control.json").write_text(json.dumps({"paused": ["paused"]}))
    run("paused", "skipped_paused", 0, "--", "true")
    holder, release = hold_lock(wrap, "busy", tmp_path, wait_for)
    try:
        run("busy", "skipped_locked", 0, "--", "true")
    finally:
        release.touch()
    assert holder.wait(timeout=20) == 0

    reports = {}
    for file in state.spool_files():
        report = json.loads(file.read_bytes())
        assert file.name == f"{report['run_id']}.json"
        model = validated(report)
        if report["status"] != "success" or report["job"] != "busy":
            reports[report["job"]] = (report, model)
    for name, (status, code) in expected.items():
        report, model = reports[name]
        assert model.status == status, (name, report)
        if status in ("success", "failed", "skipped_breaker", "skipped_paused", "skipped_locked"):
            assert report["exit_code"] == (code if code < 128 else None), (name, report)
        assert_spool_matches_log(state, name)

    killed, _ = reports["killed"]
    assert killed["signal"] == 9 and killed["attempts"][0]["signal"] == 9
    assert len(reports["retried"][0]["attempts"]) == 2
    assert reports["broken"][0]["breaker_state"] == "open"
    ok, _ = reports["ok"]
    assert ok["schedule"] == "@hourly" and ok["tags"] == ["a", "b"]


def test_report_fields(wrap: Wrap, state: StateDir):
    job = ("sh", "-c", "echo hello; echo oops >&2")
    result = wrap("--name", "fields", "--priority", "2", "--tags", "db,nightly",
                  "--schedule", "0  3 * * *", "--", *job)  # fmt: skip
    assert result.returncode == 0
    report = state.report()
    assert report["schema"] == 1
    assert report["job"] == "fields"
    assert report["host"] == os.uname().nodename
    assert report["user"] == pwd.getpwuid(os.geteuid()).pw_name
    assert report["command"] == "sh -c 'echo hello; echo oops >&2'"
    assert (report["priority"], report["tags"]) == (2, ["db", "nightly"])
    assert report["schedule"] == "0 3 * * *"
    assert report["trigger"] == "cron", "no terminal on stdin: cron ran it"
    assert report["wrapper_version"] == __version__
    assert (report["stdout_tail"], report["stderr_tail"]) == ("hello\n", "oops\n")
    assert report["output_bytes"] == 11 and report["output_truncated"] is False
    assert report["breaker_state"] == "closed"
    validated(report)
    assert not list((state.path / "running").glob("*.json")), "the in-flight marker is removed"
    assert [p for p in (state.path / "spool").iterdir() if not p.name.endswith(".json")] == []


def test_secrets_are_redacted_in_the_report_and_log_but_not_the_output(wrap: Wrap, state: StateDir):
    script = 'echo "connecting with password=hunter2"; echo "Authorization: Bearer abc.def" >&2'
    result = wrap("--name", "secretive", "--", "sh", "-c", script, "sh", "--token=tok-123")
    assert result.returncode == 0
    assert result.stdout == "connecting with password=hunter2\n", "the terminal sees it as is"
    assert result.stderr == "Authorization: Bearer abc.def\n"
    raw = (state.path / "logs" / "secretive.jsonl").read_text()
    raw += "".join(file.read_text() for file in state.spool_files())
    for secret in ("hunter2", "abc.def", "tok-123"):
        assert secret not in raw, secret
    report = state.report()
    assert report["stdout_tail"] == "connecting with password=[REDACTED]\n"
    assert report["stderr_tail"] == "Authorization: Bearer [REDACTED]\n"
    assert "--token=[REDACTED]" in report["command"]


def test_a_command_the_schema_could_not_take_is_reported_as_valid_text(
    wrap: Wrap, state: StateDir
) -> None:
    # Bytes that are not UTF-8 (a Latin-1 file name) and a command over the schema's
    # 65,536 characters: the collector would refuse either on every delivery.
    latin1 = os.fsdecode(b"caf\xe9.csv")
    long_arg = "x" * 70_000
    result = wrap("--name", "latin1", "--", "true", latin1, long_arg)
    assert result.returncode == 0, result.stderr
    report = state.report()
    assert report["command"].startswith("true 'caf\\xe9.csv' xxxx")
    assert len(report["command"]) == 65_536 and report["command"].endswith(" …[cut]")
    validated(report)  # strictly, from its JSON text, as the collector reads it
    for file in state.spool_files():
        file.read_bytes().decode("utf-8")  # the spooled JSON is UTF-8 throughout


# ---------------------------------------------------------------- the per-job log


def test_the_log_gets_one_line_per_run(wrap: Wrap, state: StateDir):
    for code in (0, 1, 0):
        wrap("--name", "lines", "--", "sh", "-c", f"exit {code}")
    logged = assert_spool_matches_log(state, "lines")
    assert [line["status"] for line in logged] == ["success", "failed", "success"]
    text = (state.path / "logs" / "lines.jsonl").read_text()
    assert text.endswith("\n") and text.count("\n") == 3


def test_the_log_rotates_by_size(tmp_path, monkeypatch):
    monkeypatch.setattr(runlog, "MAX_BYTES", 2000)
    where = WrapperStateDir(str(tmp_path / "state"))
    run_ids = []
    for i in range(30):
        report = build_report(
            run_id=new_run_id(), job="rot", command=["echo", str(i)], schedule=None, priority=5,
            tags=(), status="success", started_at=1e9 + i, finished_at=1e9 + i + 1,
        )  # fmt: skip
        runlog.append_run(where, "rot", report)
        run_ids.append(report["run_id"])

    logs = tmp_path / "state" / "logs"
    assert sorted(p.name for p in logs.iterdir()) == [
        "rot.jsonl", "rot.jsonl.1", "rot.jsonl.2", "rot.jsonl.3",
    ], "KEEP=3 rotated files beside the current one, no more"  # fmt: skip
    kept: list[str] = []
    line_size = 0
    for name in ("rot.jsonl.3", "rot.jsonl.2", "rot.jsonl.1", "rot.jsonl"):
        text = (logs / name).read_text()
        lines = text.splitlines()
        assert lines, name
        line_size = max(line_size, *(len(line) + 1 for line in lines))
        assert len(text) <= runlog.MAX_BYTES + line_size, (name, len(text))
        kept += [json.loads(line)["run_id"] for line in lines]
    assert kept == run_ids[-len(kept) :], "oldest to newest, nothing reordered or lost in between"
    assert len(kept) >= 3 * (runlog.MAX_BYTES // line_size)

    newest_first = runlog.read_runs(where, "rot")
    assert newest_first[0]["run_id"] == run_ids[-1]
    assert runlog.read_runs(where, "rot", limit=1) == newest_first[:1]


def test_log_lines_stay_whole_under_concurrent_writers(wrap: Wrap, state: StateDir):
    chatty = "seq 1 12000"  # ~60 KB of output: a long tail in every line of the log
    procs = [
        wrap.popen(
            "--name", "many", "--no-lock", "--", "sh", "-c", chatty, stdout=subprocess.DEVNULL
        )
        for _ in range(8)
    ]
    assert [proc.wait(timeout=60) for proc in procs] == [0] * 8
    logged = assert_spool_matches_log(state, "many")
    assert len(logged) == 8
    assert all(line["stdout_tail"].endswith("11999\n12000\n") for line in logged)


def test_a_long_line_of_output_is_reported_promptly(wrap: Wrap, state: StateDir):
    # One 64 KiB "word" (a base64 blob, a minified document): the report's redaction
    # must not take the wrapper seconds of CPU after the job has ended. A super-linear
    # redaction of 64 KiB takes minutes, past the watchdog; how fast a linear one is is
    # bench/redact.py's to measure, not a test's.
    blob = "head -c 49152 /dev/zero | base64 -w0"
    result = wrap("--name", "blob", "--", "sh", "-c", blob)
    assert result.returncode == 0
    assert len(result.stdout) == 65536
    assert len(state.report()["stdout_tail"]) == 65536


# ---------------------------------------------------------------- an unusable state directory


def run_with_state_dir(
    wrap: Wrap, state_dir: Path, *args: str | Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [wrap.executable, "--state-dir", str(state_dir), *map(str, args)],
        env=wrap.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def split_stderr(stderr: str) -> tuple[list[str], list[str]]:
    lines = stderr.splitlines()
    warnings = [line[len(WARNING) :] for line in lines if line.startswith(WARNING)]
    others = [line for line in lines if not line.startswith(WARNING)]
    return warnings, others


def assert_one_warning_per_kind(warnings: list[str]) -> None:
    # A kind is named by the message's first two words: "cannot lock", "cannot write" ...
    kinds = Counter(" ".join(message.split()[:2]) for message in warnings)
    repeated = {kind: n for kind, n in kinds.items() if n > 1}
    assert not repeated, f"warned more than once: {repeated}\n" + "\n".join(warnings)


@pytest.mark.parametrize(
    ("options", "code"),
    [((), 3), (("--retries", "2", "--retry-delay", "10ms"), 3), (("--timeout", "300ms"), 124)],
    ids=["once", "retries", "timeout"],
)
def test_an_unusable_state_dir_does_not_stop_the_job(wrap: Wrap, tmp_path, options, code):
    blocker = tmp_path / "file"
    blocker.write_text("a regular file: nothing can be created beneath it, not even by root")
    ran = tmp_path / "ran"
    script = 'echo run >> "$1"; echo out; echo err >&2; [ -n "$2" ] && sleep 5; exit 3'
    slow = "slow" if code == 124 else ""
    result = run_with_state_dir(wrap, blocker / "state", "--name", "nostate", *options,
                                "--", "sh", "-c", script, "sh", ran, slow)  # fmt: skip
    assert result.returncode == code, result.stderr
    runs = 3 if "--retries" in options else 1
    assert ran.read_text() == "run\n" * runs, "the job ran (every attempt)"
    assert result.stdout == "out\n" * runs
    warnings, others = split_stderr(result.stderr)
    assert others == ["err"] * runs, f"stray stderr: {others}"
    assert "Traceback" not in result.stderr
    assert warnings, "the wrapper must say that the run is not recorded"
    assert_one_warning_per_kind(warnings)
    assert any(str(blocker / "state") in w for w in warnings), warnings
    assert len(warnings) <= 6, warnings


def test_a_broken_spool_alone_warns_once_and_the_log_still_works(wrap: Wrap, tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "spool").write_text("not a directory")
    result = run_with_state_dir(wrap, state_dir, "--name", "halfway", "--retries", "1",
                                "--retry-delay", "10ms", "--", "false")  # fmt: skip
    assert result.returncode == 1
    warnings, others = split_stderr(result.stderr)
    assert others == []
    assert len(warnings) == 1, warnings
    assert "run report" in warnings[0]
    logged = (state_dir / "logs" / "halfway.jsonl").read_text().splitlines()
    assert len(logged) == 1
    validated(json.loads(logged[0]))


def test_an_unusable_state_dir_with_a_failing_exec(wrap: Wrap, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_with_state_dir(wrap, blocker / "state", "--name", "nf",
                                "--", str(tmp_path / "missing"))  # fmt: skip
    assert result.returncode == 127
    warnings, others = split_stderr(result.stderr)
    assert_one_warning_per_kind(warnings)
    assert len(others) == 1 and "command not found" in others[0]


# ---------------------------------------------------------------- lost runs


def session_members(sid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(proc.pid) == sid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def kill_session(sid: int) -> None:
    for proc in session_members(sid):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def start_and_sigkill(
    wrap: Wrap, state: StateDir, tree: JobTree, wait_for, name: str, *, with_guardian: bool
) -> tuple[dict[str, Any], list[psutil.Process]]:
    """A wrapper running `sh -c 'sleep 300 & sleep 300'`, SIGKILLed mid-run (and, unless
    `with_guardian`, its guardian helper first: both killed, as by the OOM killer or a
    hard reboot of the container). Returns the in-flight marker and the job's processes
    that outlived the wrapper."""
    proc = wrap.popen("--name", name, "--", "sh", "-c", "sleep 300 & sleep 300", tree.marker)

    def job_started() -> bool:
        markers = state.running()
        return (
            bool(markers)
            and markers[0].get("pgid") is not None
            and len(session_members(markers[0]["pgid"])) >= 3
        )

    wait_for(job_started, what="the job's shell and both sleeps")
    (marker,) = state.running()
    sid = marker["pgid"]
    if not with_guardian:
        helpers = [p for p in psutil.Process(proc.pid).children() if p.pid != sid]
        for helper in helpers:
            helper.kill()
        psutil.wait_procs(helpers, timeout=5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # PR_SET_PDEATHSIG takes the shell down with the wrapper at least.
    wait_for(lambda: all(p.pid != sid for p in session_members(sid)), what="the shell to die")
    return marker, session_members(sid)


def test_a_lost_run_is_reported_by_the_next_run(wrap: Wrap, state: StateDir, tree, wait_for):
    marker, leftovers = start_and_sigkill(wrap, state, tree, wait_for, "lost", with_guardian=False)
    sid = marker["pgid"]
    try:
        assert len(leftovers) == 2, "the two sleeps should outlive wrapper and guardian"
        assert state.spool_files() == [], "a SIGKILLed wrapper writes no report"

        # The same crontab line comes round again (cut short here by a timeout).
        result = wrap("--name", "lost", "--timeout", "500ms", "--kill-after", "200ms",
                      "--", "sh", "-c", "sleep 300 & sleep 300", tree.marker)  # fmt: skip
        assert result.returncode == 124, result.stderr

        wait_for(lambda: not session_members(sid), timeout=3, what="the leftovers to be killed")
    finally:
        kill_session(sid)
    reports = {r["run_id"]: r for r in state.reports()}
    lost = reports.pop(marker["run_id"])
    assert lost["status"] == "lost"
    assert lost["job"] == "lost"
    assert lost["started_at"] == marker["started_at"]
    assert lost["command"] == f"sh -c 'sleep 300 & sleep 300' {tree.marker}"
    # Its end is unknown: noticing the loss is no end of it, and no duration.
    assert (lost["finished_at"], lost["duration_s"]) == (None, None)
    validated(lost)
    assert [r["status"] for r in reports.values()] == ["timeout"], "and the new run's own"
    assert state.running() == [], "the lost run's marker is cleared"
    assert lost in state.log("lost")


def test_the_guardian_kills_the_tree_of_a_sigkilled_wrapper(
    wrap: Wrap, state: StateDir, tree, wait_for
):
    marker, _ = start_and_sigkill(wrap, state, tree, wait_for, "guarded", with_guardian=True)
    sid = marker["pgid"]
    try:
        wait_for(lambda: not session_members(sid), timeout=3, what="the guardian to kill the job")
        result = wrap("--name", "guarded", "--", "true")
        assert result.returncode == 0
    finally:
        kill_session(sid)
    statuses = {r["run_id"]: r["status"] for r in state.reports()}
    assert statuses.pop(marker["run_id"]) == "lost"
    assert list(statuses.values()) == ["success"]


def test_a_lost_run_is_reported_once(wrap: Wrap, state: StateDir, tree, wait_for):
    marker, _ = start_and_sigkill(wrap, state, tree, wait_for, "once", with_guardian=False)
    try:
        wrap("--name", "once", "--", "true")
        wrap("--name", "once", "--", "true")
    finally:
        kill_session(marker["pgid"])
    statuses = sorted(r["status"] for r in state.reports())
    assert statuses == ["lost", "success", "success"]


def test_a_lost_run_of_another_job_is_left_alone(wrap: Wrap, state: StateDir, tree, wait_for):
    marker, leftovers = start_and_sigkill(wrap, state, tree, wait_for, "mine", with_guardian=False)
    try:
        wrap("--name", "theirs", "--", "true")
        assert len(session_members(marker["pgid"])) == len(leftovers)
        assert [r["status"] for r in state.reports()] == ["success"]
        assert len(state.running()) == 1
    finally:
        kill_session(marker["pgid"])


def test_a_lost_report_keeps_the_lost_runs_command(wrap: Wrap, state: StateDir, tree, wait_for):
    # The crontab line changed between the lost run and the next one: the lost run's
    # report must still say what the lost run was running.
    marker, _ = start_and_sigkill(wrap, state, tree, wait_for, "edited", with_guardian=False)
    try:
        wrap("--name", "edited", "--", "true")
    finally:
        kill_session(marker["pgid"])
    lost = next(r for r in state.reports() if r["status"] == "lost")
    assert lost["command"] == f"sh -c 'sleep 300 & sleep 300' {tree.marker}"


def test_a_live_run_is_not_taken_for_lost(wrap: Wrap, state: StateDir, tmp_path, wait_for):
    started, release = tmp_path / "started", tmp_path / "release"
    hold = 'touch "$1"; while [ ! -e "$2" ]; do sleep 0.05; done'
    holder = wrap.popen("--name", "alive", "--", "sh", "-c", hold, "sh", started, release)
    try:
        wait_for(started)
        result = wrap("--name", "alive", "--no-lock", "--", "true")
        assert result.returncode == 0
        assert holder.poll() is None, "the running job was killed"
    finally:
        release.touch()
    assert holder.wait(timeout=20) == 0
    assert sorted(r["status"] for r in state.reports()) == ["success", "success"]
