"""Fault injection: another user races the wrapper while it creates its state directory.

Under a sticky directory such as /tmp anyone may add an entry. Between the trust check
(which found the state directory missing) and its creation, another user can plant a
link or a directory of theirs in the missing place. os.makedirs followed such a link,
as root, and made directories wherever it pointed; now each directory is created
relative to its parent's descriptor, opened without following links and checked
before the next one is made, so the planted entry is refused and nothing is made
through it or inside it. The job still runs (unlocked and unrecorded, one warning).

The race is won on purpose, not by luck: the wrapper runs under strace(1), which holds
its first mkdir for a while at the syscall's entry (after the check); the test plants
the entry as soon as strace shows that mkdir, then lets the syscall go on.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import find_wrap, wait_for

pytestmark = pytest.mark.timeout(90)

NOBODY = pwd.getpwnam("nobody")
HOLD_US = 1_500_000  # how long strace holds the first mkdir: room to plant the entry


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("smartcron-wrap: warning:")]


@pytest.fixture
def sticky(tmp_path: Path) -> Path:
    """Stands in for /tmp: root's, world-writable, sticky."""
    path = tmp_path / "sticky"
    path.mkdir()
    path.chmod(0o1777)
    return path


def run_racing(
    wrap_env: dict[str, str], tmp_path: Path, state_dir: Path, plant: object
) -> subprocess.CompletedProcess[str]:
    """Run the wrapper with its first mkdir held; call `plant()` while it is held."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is not installed; run scripts/system-deps")
    trace = tmp_path / "strace.log"
    hold = f"inject=mkdir,mkdirat:delay_enter={HOLD_US}:when=1"
    wrapper = [find_wrap(), "--state-dir", str(state_dir), "--name", "raced", "--", "true"]
    argv = [strace, "-qq", "-o", str(trace), "-e", "trace=mkdir,mkdirat", "-e", hold, *wrapper]
    # No __pycache__ written on the way: the first mkdir must be the state directory's.
    env = {**wrap_env, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for(lambda: trace.exists() and "mkdir" in trace.read_text(), what="the mkdir")
        first = trace.read_text().splitlines()[0]
        assert first.startswith("mkdir"), f"the premise: the first mkdir is held: {first}"
        assert f'"{state_dir.parent}"' in first or f'"{state_dir.parent.name}"' in first, first
        plant()  # type: ignore[operator]
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def test_a_link_planted_while_the_state_dir_is_made_is_not_followed(
    wrap_env: dict[str, str], tmp_path: Path, sticky: Path
) -> None:
    target = tmp_path / "etc"  # where the link points: root's, like /etc
    target.mkdir(mode=0o755)
    planted = sticky / "smartcron"
    state_dir = planted / "state"

    def plant() -> None:
        planted.symlink_to(target)
        os.lchown(planted, NOBODY.pw_uid, NOBODY.pw_gid)

    done = run_racing(wrap_env, tmp_path, state_dir, plant)
    assert done.returncode == 0, done.stderr  # the job ran
    assert list(target.iterdir()) == [], "root made directories through the planted link"
    [warning] = warnings_in(done.stderr)
    assert f"state directory {state_dir} is not safe to use" in warning, warning
    assert str(planted) in warning, warning


def test_a_directory_planted_while_the_state_dir_is_made_is_refused_and_left_empty(
    wrap_env: dict[str, str], tmp_path: Path, sticky: Path
) -> None:
    planted = sticky / "smartcron"
    state_dir = planted / "state"

    def plant() -> None:
        planted.mkdir()
        planted.chmod(0o777)
        os.chown(planted, NOBODY.pw_uid, NOBODY.pw_gid)

    done = run_racing(wrap_env, tmp_path, state_dir, plant)
    assert done.returncode == 0, done.stderr
    assert list(planted.iterdir()) == [], "root made its state directory in nobody's"
    [warning] = warnings_in(done.stderr)
    assert "is not safe to use" in warning and f"{planted} is owned by user nobody" in warning


def test_every_directory_it_makes_is_0750_whatever_the_umask(
    wrap_env: dict[str, str], sticky: Path
) -> None:
    """os.makedirs made the parents with the umask's mode: 0777 under `umask 0`, which
    the wrapper's own check then refused."""
    state_dir = sticky / "a" / "b" / "state"
    done = subprocess.run(
        ["sh", "-c", 'umask 000; exec "$@"', "sh", find_wrap(), "--state-dir", str(state_dir),
         "--name", "made", "--", "true"],
        env=wrap_env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    for path in (sticky / "a", sticky / "a" / "b", state_dir):
        assert (path.stat().st_mode & 0o7777, path.stat().st_uid) == (0o750, 0), path
    assert list((state_dir / "spool").glob("*.json")), "the run was recorded"
