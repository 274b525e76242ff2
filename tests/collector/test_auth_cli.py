"""The collector's credential commands, as installed: hash-password, create-token, and
serve refusing an admin password hash it could never log anyone in with."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from smartcron.collector.auth import TOKEN_PREFIX, is_password_hash, verify_password

from tests.support.service import collector_bin, free_port, password_hash, run_cli


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
    assert "init-db" in done.stderr and "Traceback" not in done.stderr
