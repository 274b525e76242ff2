"""Fault injection: a state directory another user controls, and planted files in it.

The wrapper runs as root here (the tests do). A directory that another user owns or
can write, anywhere from the state directory up to /, is refused the way ssh's
StrictModes refuses it: one warning, and the job runs unlocked and unrecorded. In a
directory that is trusted, links and planted markers are refused file by file.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import StateDir, Wrap, find_wrap

NOBODY = pwd.getpwnam("nobody")
PRECIOUS = "root's file, not to be touched\n"


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("smartcron-wrap: warning:")]


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim"
    path.write_text(PRECIOUS)
    return path


def hand_to_nobody(path: Path) -> None:
    os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)


def assert_untouched(victim: Path) -> None:
    assert victim.read_text() == PRECIOUS, "a root-owned file was written through a link"
    assert victim.stat().st_uid == 0


# ---------------------------------------------------------------- the directory's owner


PLANTS = {
    "lock": ("locks", "j.lock"),
    "log": ("logs", "j.jsonl"),
    "breaker": ("jobs", "j.json"),
}


@pytest.mark.parametrize("plant", [*PLANTS, "spool", "tmp"])
def test_a_directory_another_user_owns_is_refused(
    wrap: Wrap, state: StateDir, victim: Path, plant: str
):
    # What a hostile `nobody` leaves in a state directory it owns: links to root's files.
    state.path.mkdir()
    if plant in PLANTS:
        sub, name = PLANTS[plant]
        (state.path / sub).mkdir()
        (state.path / sub / name).symlink_to(victim)
    elif plant == "spool":
        (state.path / "spool").symlink_to(victim.parent)
    else:  # a temporary name the breaker's writer might pick, for every pid nearby
        (state.path / "jobs").mkdir()
        for pid in range(os.getpid(), os.getpid() + 200):
            (state.path / "jobs" / f".j.json.{pid}.tmp").symlink_to(victim)
    for path in [state.path, *state.path.rglob("*")]:
        os.lchown(path, NOBODY.pw_uid, NOBODY.pw_gid)

    result = wrap("--name", "j", "--", "sh", "-c", "echo ran; exit 3")

    assert result.returncode == 3, "the job ran, with its own exit code"
    assert result.stdout == "ran\n"
    (warning,) = warnings_in(result.stderr)
    assert f"{state.path} is owned by user nobody" in warning
    assert "runs anyway, unlocked and unrecorded" in warning
    assert_untouched(victim)
    assert not (state.path / "running").exists()
    assert plant == "spool" or not (state.path / "spool").exists()
    assert list(victim.parent.glob("*.json")) == [], "no report was written through a link"


def test_a_directory_others_can_write_is_refused(wrap: Wrap, state: StateDir):
    state.path.mkdir()
    state.path.chmod(0o777)
    result = wrap("--name", "j", "--", "true")
    assert result.returncode == 0
    (warning,) = warnings_in(result.stderr)
    assert "is writable by others (mode 0777)" in warning
    assert list(state.path.iterdir()) == [], "nothing was written in it"


def test_a_parent_another_user_owns_is_refused(tmp_path: Path, wrap_env: dict[str, str]):
    # The state directory is root's, but nobody owns the directory above it, so nobody
    # could rename it away and put one of their own in its place.
    parent = tmp_path / "home-of-nobody"
    parent.mkdir()
    hand_to_nobody(parent)
    root_state = parent / "state"
    root_state.mkdir(mode=0o700)
    result = run_wrap(wrap_env, root_state, "--name", "j", "--", "true")
    assert result.returncode == 0
    (warning,) = warnings_in(result.stderr)
    assert f"{parent} is owned by user nobody" in warning
    assert list(root_state.iterdir()) == []


def test_a_link_on_the_way_owned_by_another_user_is_refused(
    tmp_path: Path, wrap_env: dict[str, str]
):
    real = tmp_path / "real-state"
    real.mkdir(mode=0o700)
    link = tmp_path / "state-link"
    link.symlink_to(real)
    os.lchown(link, NOBODY.pw_uid, NOBODY.pw_gid)  # nobody could point it elsewhere
    result = run_wrap(wrap_env, link, "--name", "j", "--", "true")
    (warning,) = warnings_in(result.stderr)
    assert f"{link} is a link owned by user nobody" in warning
    assert list(real.iterdir()) == []


def test_a_state_dir_below_sticky_tmp_is_trusted(wrap_env: dict[str, str]):
    # /tmp is world-writable but sticky and root's: others cannot rename our entries.
    base = Path(tempfile.mkdtemp(prefix="smartcron-trust-", dir="/tmp"))
    try:
        result = run_wrap(wrap_env, base / "state", "--name", "j", "--", "true")
        assert result.returncode == 0
        assert warnings_in(result.stderr) == []
        assert len(list((base / "state" / "spool").glob("*.json"))) == 1
    finally:
        shutil.rmtree(base)


def test_a_sticky_world_writable_state_dir_itself_is_refused(wrap_env: dict[str, str]):
    base = Path(tempfile.mkdtemp(prefix="smartcron-trust-", dir="/tmp"))
    try:
        (base / "state").mkdir()
        (base / "state").chmod(0o1777)
        result = run_wrap(wrap_env, base / "state", "--name", "j", "--", "true")
        (warning,) = warnings_in(result.stderr)
        assert "is writable by others (mode 1777)" in warning
    finally:
        shutil.rmtree(base)


# ---------------------------------------------------------------- a normal user's wrapper


def run_wrap(env: dict[str, str], state_dir: Path, *args: str, as_nobody: bool = False):
    argv = [find_wrap(), "--state-dir", str(state_dir), *args]
    if as_nobody:
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
    return subprocess.run(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def public_base() -> Iterator[Path]:
    """A directory under /tmp that `nobody` can reach (pytest's tmp_path is root's 0700)."""
    base = Path(tempfile.mkdtemp(prefix="smartcron-trust-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base)


def test_a_user_wrapper_trusts_its_own_directory(public_base: Path, wrap_env: dict[str, str]):
    home = public_base / "home"
    home.mkdir(mode=0o755)
    hand_to_nobody(home)
    result = run_wrap(wrap_env, home / ".local" / "state", "--name", "j", "--", "true",
                      as_nobody=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert warnings_in(result.stderr) == []
    (report,) = (home / ".local" / "state" / "spool").glob("*.json")
    assert json.loads(report.read_text())["user"] == "nobody"


def test_a_user_wrapper_accepts_its_private_group(public_base: Path, wrap_env: dict[str, str]):
    # umask 002 makes a user's directories group-writable; with a group that has no
    # other member (nogroup has none here) that is still the user's alone.
    assert grp.getgrgid(NOBODY.pw_gid).gr_mem == [], "nogroup has no members on this host"
    state_dir = public_base / "state"
    state_dir.mkdir()
    state_dir.chmod(0o770)
    hand_to_nobody(state_dir)
    result = run_wrap(wrap_env, state_dir, "--name", "j", "--", "true", as_nobody=True)
    assert warnings_in(result.stderr) == []
    assert len(list((state_dir / "spool").glob("*.json"))) == 1


def test_a_user_wrapper_refuses_another_users_directory(
    public_base: Path, wrap_env: dict[str, str]
):
    state_dir = public_base / "state"
    state_dir.mkdir(mode=0o777)
    state_dir.chmod(0o777)
    os.chown(state_dir, 1, 1)  # daemon: neither nobody nor root
    result = run_wrap(wrap_env, state_dir, "--name", "j", "--", "sh", "-c", "echo ok",
                      as_nobody=True)  # fmt: skip
    assert result.returncode == 0 and result.stdout == "ok\n"
    (warning,) = warnings_in(result.stderr)
    assert f"{state_dir} is owned by user daemon" in warning
    assert list(state_dir.iterdir()) == []


# ---------------------------------------------------------------- links in a trusted directory


@pytest.mark.parametrize("plant", ["lock", "log"])
def test_a_link_in_a_trusted_directory_is_never_followed(
    wrap: Wrap, state: StateDir, victim: Path, plant: str
):
    sub, name = PLANTS[plant]
    (state.path / sub).mkdir(parents=True)
    (state.path / sub / name).symlink_to(victim)
    result = wrap("--name", "j", "--", "sh", "-c", "echo ran")
    assert result.returncode == 0 and result.stdout == "ran\n"
    (warning,) = warnings_in(result.stderr)
    assert "Too many levels of symbolic links" in warning
    assert_untouched(victim)


@pytest.mark.parametrize("plant", ["lock", "log"])
def test_a_hard_link_in_a_trusted_directory_is_never_written(
    wrap: Wrap, state: StateDir, victim: Path, plant: str
):
    # O_NOFOLLOW does not see a hard link. One left in the directory from before it
    # was trusted (a user's own directory, put right with `chown -R root` as the
    # warning advises; fs.protected_hardlinks=0 lets that user link root's files)
    # used to be truncated and overwritten: the lock's holder note, the log's line.
    sub, name = PLANTS[plant]
    (state.path / sub).mkdir(parents=True)
    os.link(victim, state.path / sub / name)
    result = wrap("--name", "j", "--", "sh", "-c", "echo ran")
    assert result.returncode == 0 and result.stdout == "ran\n"
    (warning,) = warnings_in(result.stderr)
    assert "has another hard link" in warning
    assert_untouched(victim)


def test_a_file_another_user_owns_in_a_trusted_directory_is_not_used(wrap: Wrap, state: StateDir):
    # A file chown -R missed, or left by `chown root DIR` alone: its owner can still
    # write it. Held by that user, a lock would skip every run; a control.json they
    # write would pause the job. Neither is ours to trust.
    state.path.mkdir()
    control = state.path / "control.json"
    control.write_text(json.dumps({"paused": ["j"], "breaker_resets": {}}))
    hand_to_nobody(control)
    result = wrap("--name", "j", "--", "sh", "-c", "echo ran")
    assert result.returncode == 0 and result.stdout == "ran\n", "paused by another user"
    (warning,) = warnings_in(result.stderr)
    assert "owned by user nobody" in warning and "set aside" in warning
    assert [r["status"] for r in state.reports()] == ["success"]


def test_a_linked_breaker_file_is_set_aside(wrap: Wrap, state: StateDir, victim: Path):
    (state.path / "jobs").mkdir(parents=True)
    (state.path / "jobs" / "j.json").symlink_to(victim)
    result = wrap("--name", "j", "--", "true")
    assert result.returncode == 0
    (warning,) = warnings_in(result.stderr)
    assert "a link or not a regular file" in warning and "set aside" in warning
    assert (state.path / "jobs" / "j.json.corrupt").is_symlink()
    assert state.job_state("j")["last_status"] == "success"
    assert_untouched(victim)


def test_a_fifo_in_place_of_the_lock_does_not_block_the_job(wrap: Wrap, state: StateDir):
    (state.path / "locks").mkdir(parents=True)
    os.mkfifo(state.path / "locks" / "j.lock")
    result = wrap("--name", "j", "--", "sh", "-c", "echo ran", timeout=10)
    assert result.returncode == 0 and result.stdout == "ran\n"
    (warning,) = warnings_in(result.stderr)
    assert "not a regular file" in warning


def test_a_linked_subdirectory_is_refused(wrap: Wrap, state: StateDir, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state.path.mkdir()
    (state.path / "spool").symlink_to(elsewhere)
    result = wrap("--name", "j", "--", "true")
    assert result.returncode == 0
    (warning,) = warnings_in(result.stderr)
    assert "spool is not a directory" in warning
    assert list(elsewhere.iterdir()) == []


# ---------------------------------------------------------------- planted running/ markers


def start_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return int(stat[stat.rindex(b")") + 2 :].split()[19])


def boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def plant_marker(state: StateDir, name: str, **fields: object) -> Path:
    run_id = str(uuid.uuid4())
    document: dict[str, object] = {
        "run_id": run_id, "job": "j", "command": ["true"], "schedule": None, "priority": 5,
        "tags": [], "pid": 4_000_000, "pid_start_ticks": 1, "child_pid": None,
        "child_start_ticks": None, "pgid": None, "started_at": "2026-01-01T00:00:00.000000Z",
        "boot_id": boot_id(),
    }  # fmt: skip
    document.update(fields)
    (state.path / "running").mkdir(parents=True, exist_ok=True)
    path = state.path / "running" / f"{name or run_id}.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process in a session of its own: what a planted marker points at."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True
    )
    yield proc
    proc.kill()
    proc.wait()


def test_a_marker_naming_an_unrelated_session_kills_nothing(
    wrap: Wrap, state: StateDir, bystander: subprocess.Popen[bytes]
):
    pid = bystander.pid
    marker = plant_marker(state, "", child_pid=pid, pgid=pid, child_start_ticks=start_ticks(pid))
    result = wrap("--name", "j", "--", "true")
    assert result.returncode == 0, result.stderr
    assert bystander.poll() is None, "an unrelated process was killed"
    assert psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    lost = [r for r in state.reports() if r["status"] == "lost"]
    assert [r["run_id"] for r in lost] == [marker.stem], "the run itself is still reported"


def test_a_marker_run_id_cannot_write_outside_the_state_dir(
    wrap: Wrap, state: StateDir, tmp_path: Path
):
    (tmp_path / "victimdir").mkdir()
    marker = plant_marker(state, str(uuid.uuid4()), run_id="../../victimdir/pwned")
    result = wrap("--name", "j", "--", "true")
    assert result.returncode == 0
    (warning,) = warnings_in(result.stderr)
    assert "does not match the file name" in warning and "set aside" in warning
    assert list((tmp_path / "victimdir").iterdir()) == []
    assert not list(tmp_path.rglob("pwned*"))
    assert Path(f"{marker}.corrupt").exists() and not marker.exists()
    assert [r["status"] for r in state.reports()] == ["success"]


def test_a_marker_not_named_by_a_run_id_is_set_aside(wrap: Wrap, state: StateDir):
    marker = plant_marker(state, "evil")
    result = wrap("--name", "j", "--", "true")
    assert result.returncode == 0
    (warning,) = warnings_in(result.stderr)
    assert "its name is not a run id" in warning
    assert Path(f"{marker}.corrupt").exists()
    assert [r["status"] for r in state.reports()] == ["success"]


ESCAPEE = (
    "import os, pathlib, sys, time\n"
    "pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))\n"
    "time.sleep(300)\n"
)


def test_the_leftovers_of_a_lost_run_are_killed_even_outside_its_session(
    wrap: Wrap, state: StateDir, tmp_path: Path, wait_for
):
    # The job leaves its session (setsid) and the wrapper is SIGKILLed with its guardian:
    # the run's id in the escapee's environment is what proves it is the run's.
    ready = tmp_path / "escapee.pid"
    job = 'setsid "$0" -c "$1" "$2" & wait'
    proc = wrap.popen("--name", "j", "--", "sh", "-c", job, sys.executable, ESCAPEE, ready)
    wait_for(lambda: ready.exists() and ready.read_text() != "", what="the escapee to start")
    escapee = psutil.Process(int(ready.read_text()))
    try:
        (marker,) = state.running()
        environ = Path(f"/proc/{escapee.pid}/environ").read_bytes().split(b"\0")
        assert f"SMARTCRON_RUN_ID={marker['run_id']}".encode() in environ
        assert os.getsid(escapee.pid) != marker["pgid"], "the escapee left the job's session"
        for helper in psutil.Process(proc.pid).children(recursive=True):
            if helper.pid != escapee.pid:
                helper.send_signal(signal.SIGKILL)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert escapee.is_running() and escapee.status() != psutil.STATUS_ZOMBIE

        result = wrap("--name", "j", "--", "true")
        assert result.returncode == 0, result.stderr
        wait_for(
            lambda: not escapee.is_running() or escapee.status() == psutil.STATUS_ZOMBIE,
            timeout=3,
            what="the escapee to be killed",
        )
    finally:
        if escapee.is_running():
            escapee.kill()
    assert sorted(r["status"] for r in state.reports()) == ["lost", "success"]


def test_reset_breaker_refuses_a_directory_another_user_owns(
    wrap: Wrap, state: StateDir, victim: Path
):
    (state.path / "jobs").mkdir(parents=True)
    (state.path / "jobs" / ".j.json.lock").symlink_to(victim)
    for path in [state.path, *state.path.rglob("*")]:
        os.lchown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    result = wrap("--reset-breaker", "--name", "j")
    assert result.returncode == 1
    assert result.stderr.startswith("smartcron-wrap: error: state directory ")
    assert "is owned by user nobody" in result.stderr and result.stderr.count("\n") == 1
    assert_untouched(victim)


def test_a_dry_run_says_the_directory_is_not_safe(wrap: Wrap, state: StateDir):
    state.path.mkdir()
    hand_to_nobody(state.path)
    result = wrap("--dry-run", "--name", "j", "--", "true")
    assert result.returncode == 0, result.stderr
    assert f"NOT safe to use ({state.path} is owned by user nobody)" in result.stdout
