"""The collector's credential commands, as installed: hash-password, create-token, and
serve refusing an admin password hash it could never log anyone in with."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from smartcron.collector.auth import TOKEN_PREFIX, is_password_hash, verify_password

from tests.support.collector_api import login
from tests.support.service import (
    collector_bin,
    free_port,
    password_hash,
    run_cli,
    start_collector,
)


def collector(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([collector_bin(), *args], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def test_hash_password_makes_a_hash_that_verifies() -> None:
    stored = password_hash("s3cret pass")
    assert is_password_hash(stored), stored
    assert verify_password("s3cret pass", stored)
    assert not verify_password("s3cret pass ", stored)
    assert password_hash("s3cret pass") != stored  # salted


@pytest.mark.parametrize(
    "bad",
    [
        "plain-text-password",
        "$2b$12$abcdefghijklmnopqrstuv",  # bcrypt: not ours
        "scrypt$16384$8$1$",  # what `$salt$hash` becomes after the shell expands it
        "scrypt$16384$8$1$c2FsdA==$bm90LWEtMzItYnl0ZS1oYXNo",
        "scrypt$x$8$1$c2FsdA==$" + "A" * 44,
    ],
    ids=["plain", "bcrypt", "expanded", "short", "n"],
)
def test_serve_refuses_a_password_hash_it_cannot_use(tmp_path: Path, bad: str) -> None:
    assert not verify_password("anything", bad)  # and never raises
    listen = f"127.0.0.1:{free_port()}"
    done = collector("serve", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--listen", listen,
                     "--admin-password-hash", bad)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--admin-password-hash" in done.stderr and "hash-password" in done.stderr
    assert "Traceback" not in done.stderr
    assert bad not in done.stderr  # a secret-ish value is not echoed


def test_create_token_prints_a_new_token_each_time(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    run_cli("init-db", "--db", db)
    first = run_cli("create-token", "--db", db, "--name", "web1")
    second = run_cli("create-token", "--db", db, "--name", "web1", "--kind", "admin")
    assert first.startswith(TOKEN_PREFIX) and second.startswith(TOKEN_PREFIX)
    assert first != second and len(first) > 32


def test_create_token_on_a_database_without_the_schema_says_what_to_do(tmp_path: Path) -> None:
    done = collector("create-token", "--db", f"sqlite:///{tmp_path / 'empty.db'}",
                     "--name", "web1")  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "smartcron-collector migrate" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------- the hash out of argv


@pytest.mark.parametrize("via", ["env", "file", "env-file"])
def test_serve_takes_the_password_hash_from_the_environment_or_a_file(
    tmp_path: Path, via: str
) -> None:
    with start_collector(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, password_via=via) as service:
        client = login(service)  # the real form: the hash served is the one given
        page = client.get(f"{service.url}/", headers={"Accept": "text/html"}, timeout=30)
        assert page.status_code == 200
        argv = Path(f"/proc/{service.process.pid}/cmdline").read_bytes().split(b"\0")
        assert not any(b"scrypt$" in argument for argument in argv), argv  # nothing in ps


def serve_with_hash(tmp_path: Path, value: str) -> subprocess.CompletedProcess[str]:
    listen = f"127.0.0.1:{free_port()}"
    return collector("serve", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--listen", listen,
                     "--admin-password-hash", value)  # fmt: skip


def hash_file(tmp_path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "admin.hash"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    path.chmod(mode)
    return path


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing", ["cannot read", "No such file"]),
        ("directory", ["not a regular file"]),
        ("fifo", ["not a regular file"]),  # and serve does not hang opening it
        ("empty", ["not a hash from", "hash-password"]),
        ("not a hash", ["not a hash from", "hash-password"]),
        ("two hashes", ["not a hash from"]),
        ("binary", ["not text"]),
        ("huge", ["over 4096 bytes"]),
        ("group-writable", ["other users", "chmod go-w"]),
        ("world-writable", ["other users", "chmod go-w"]),
        ("no path", ["needs a path"]),
    ],
)
def test_serve_refuses_a_hash_file_it_cannot_trust_in_one_line(
    tmp_path: Path, case: str, words: list[str]
) -> None:
    good = password_hash("pw")
    makers: dict[str, Callable[[], Path | str]] = {
        "missing": lambda: tmp_path / "nowhere.hash",
        "directory": lambda: tmp_path,
        "fifo": lambda: make_fifo(tmp_path / "admin.hash"),
        "empty": lambda: hash_file(tmp_path, ""),
        "not a hash": lambda: hash_file(tmp_path, "my password\n"),
        "two hashes": lambda: hash_file(tmp_path, f"{good}\n{good}\n"),
        "binary": lambda: hash_file(tmp_path, b"\xff\xfe" + good.encode()),
        "huge": lambda: hash_file(tmp_path, good + " " * 5000),
        "group-writable": lambda: hash_file(tmp_path, good, 0o620),
        "world-writable": lambda: hash_file(tmp_path, good, 0o602),
        "no path": lambda: "",
    }
    path = makers[case]()
    done = serve_with_hash(tmp_path, f"file:{path}")
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    message = lines[-1]
    assert "--admin-password-hash" in message, done.stderr
    for word in words:
        assert word in message, done.stderr
    if path:
        assert str(path) in message
    assert "Traceback" not in done.stderr and good not in done.stderr


# ---------------------------------------------------------------- tokens bound to a host


def test_tokens_bound_to_a_host_are_listed_with_it_and_revoked_by_id(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    run_cli("migrate", "--db", db)
    fleet = collector("create-token", "--db", db, "--name", "old-fleet")
    assert fleet.returncode == 0 and fleet.stdout.startswith(TOKEN_PREFIX)
    assert "--host NAME" in fleet.stderr  # the note: a fleet token reports for every host
    bound = collector("create-token", "--db", db, "--name", "web7\tx", "--host", "web7")
    assert bound.returncode == 0 and bound.stderr == "", bound.stderr
    run_cli("create-token", "--db", db, "--name", "prometheus", "--kind", "admin")

    lines = run_cli("list-tokens", "--db", db).splitlines()
    cells = [line.split("\t") for line in lines]
    assert cells[0] == ["id", "kind", "host", "name", "created_at", "revoked_at"]
    assert [row[:4] + row[5:] for row in cells[1:]] == [
        ["1", "ingest", "*", "old-fleet", "-"],
        ["2", "ingest", "web7", "web7\\tx", "-"],  # a tab in a name cannot shift a column
        ["3", "admin", "*", "prometheus", "-"],
    ]
    assert TOKEN_PREFIX not in "\n".join(lines)

    assert run_cli("revoke-token", "--db", db, "2") == "token 2 revoked"
    assert run_cli("list-tokens", "--db", db).splitlines()[2].split("\t")[5] != "-"
    again = collector("revoke-token", "--db", db, "2")
    assert again.returncode == 1 and "no unrevoked token with id 2" in again.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--host", "web7", "--kind", "admin"), "bind ingest tokens only"),
        (("--host", " web7"), "no blanks at its ends"),
        (("--host", ""), "1 to 255 characters"),
        (("--host", "web\n7"), "no control characters"),
    ],
    ids=["admin", "blank", "empty", "newline"],
)
def test_create_token_refuses_a_host_it_could_never_match(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    run_cli("migrate", "--db", db)
    done = collector("create-token", "--db", db, "--name", "web7", *args)
    assert done.returncode == 2, done.stderr
    assert "--host" in done.stderr and says in done.stderr and "Traceback" not in done.stderr
    assert run_cli("list-tokens", "--db", db).count("\n") == 0  # the header alone
