"""The SQLite database's file and directory are readable by the collector's user alone
(collector/db/sqlite_file.py), through the installed smartcron-collector."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.service import collector_bin, make_report, start_collector


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def init_db(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCRON_")}
    return subprocess.run(
        [collector_bin(), "init-db", *args], capture_output=True, text=True, timeout=60,
        check=False, env=clean | (env or {}),
    )  # fmt: skip


def assert_refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)


def test_a_new_database_and_its_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "collector" / "c.db"
    with start_collector(f"sqlite:///{path}", tmp_path) as service:
        assert service.post_runs([make_report()]).json()["accepted"] == 1
        assert mode(path.parent) == 0o700
        assert mode(path) == 0o600
        # SQLite gives its write-ahead log and shared memory the database file's mode.
        sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(side.exists() for side in sidecars), list(path.parent.iterdir())
        assert [mode(side) for side in sidecars] == [0o600, 0o600]


def test_an_existing_database_open_to_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    assert init_db("--db", f"sqlite:///{path}").returncode == 0
    # A collector of 0.1.0 left them 0644, and one still holds its log and shared memory.
    with contextlib.closing(sqlite3.connect(path)) as holder:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("CREATE TABLE IF NOT EXISTS held (x)")
        holder.execute("INSERT INTO held VALUES (1)")
        holder.commit()
        files = [path, path.with_name("c.db-wal"), path.with_name("c.db-shm")]
        for file in files:
            file.chmod(0o644)
        done = init_db("--db", f"sqlite:///{path}")
        assert done.returncode == 0, done.stderr
        assert [mode(file) for file in files] == [0o600] * 3


def test_a_directory_open_to_others_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    done = init_db("--db", f"sqlite:///{shared / 'c.db'}")
    assert_refused(done, f"{shared} is open to other users", f"chmod 700 {shared}")
    assert not (shared / "c.db").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)  # nobody
    assert_refused(init_db("--db", f"sqlite:///{theirs / 'c.db'}"), "belongs to uid 65534")


def test_a_database_file_that_is_a_link_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.db"
    target.write_bytes(b"")
    target.chmod(0o644)
    link = tmp_path / "c.db"
    link.symlink_to(target)
    assert_refused(init_db("--db", f"sqlite:///{link}"), "symbolic link")
    assert mode(target) == 0o644  # never chmod through the link


def test_the_default_database_has_a_private_directory_in_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)  # as the wrapper or an operator may have made it
    done = init_db(env={"SMARTCRON_STATE_DIR": str(state)})
    assert done.returncode == 0, done.stderr
    assert f"sqlite:///{state}/collector/collector.db" in done.stdout
    assert mode(state / "collector") == 0o700
    assert mode(state / "collector" / "collector.db") == 0o600


def test_a_database_where_0_1_0_kept_it_is_still_used(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    assert init_db("--db", f"sqlite:///{state / 'collector.db'}").returncode == 0
    done = init_db(env={"SMARTCRON_STATE_DIR": str(state)})
    assert done.returncode == 0, done.stderr
    assert f"sqlite:///{state}/collector.db" in done.stdout
    assert not (state / "collector").exists()
