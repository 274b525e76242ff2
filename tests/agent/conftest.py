"""Fixtures for the agent: the installed smartcron-agent as a real process, a real
collector (SQLite for speed, MariaDB where the proof asks for it), the real wrapper."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collector.conftest import mysql_private, mysql_server, mysql_url  # noqa: F401 - fixtures
from tests.conftest import StateDir
from tests.support.service import Service, start_collector

BIN = Path(sys.executable).parent


def agent_bin() -> str:
    found = BIN / "smartcron-agent"
    return str(found) if found.exists() else shutil.which("smartcron-agent") or "smartcron-agent"


class Agent:
    """Runs smartcron-agent against this test's state directory (and a collector)."""

    def __init__(self, state: StateDir, env: dict[str, str]) -> None:
        self.state = state
        self.env = env
        self.collector: Service | None = None
        # Fast settings: time is a setting, never waited out.
        self.fast = ["--backoff-min", "0.05s", "--backoff-max", "0.2s", "--connect-timeout", "2s"]
        # The heartbeat's crontab scan looks here, not at this machine's crontabs.
        self.cron = state.path.parent / "cron"
        self.scan = [
            "--system-crontab", str(self.cron / "crontab"),
            "--cron-dir", str(self.cron / "cron.d"),
            "--spool-dir", str(self.cron / "crontabs"),
        ]  # fmt: skip

    def argv(self, command: str, *args: str) -> list[str]:
        argv = [agent_bin(), command, "--state-dir", str(self.state.path), *self.fast, *self.scan]
        if self.collector is not None:
            argv += ["--collector", self.collector.url, "--token", self.collector.ingest_token]
        return [*argv, *args]

    def __call__(
        self, command: str, *args: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(command, *args), env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def popen(self, command: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(
            self.argv(command, *args), env=self.env, text=True, stdin=subprocess.DEVNULL, **kwargs
        )


@pytest.fixture
def agent(state: StateDir, wrap_env: dict[str, str]) -> Agent:
    return Agent(state, wrap_env)


@pytest.fixture
def sqlite_collector(tmp_path: Path) -> Iterator[Service]:
    """A collector of this test's own, on a fresh SQLite file."""
    with start_collector(f"sqlite:///{tmp_path / 'collector.db'}", tmp_path) as service:
        yield service


def stored_runs(service: Service, **params: str) -> list[dict[str, Any]]:
    """Every run the collector holds (all pages)."""
    runs: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": "500", **params, **({"cursor": cursor} if cursor else {})}
        answer = service.get("/api/v1/runs", params=query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        runs += body["runs"]
        cursor = body["next_cursor"]
        if not cursor:
            return runs


def page_html(service: Service, path: str) -> str:
    """A page of the collector as the admin sees it (token, as a script would read it)."""
    page = service.session.get(
        f"{service.url}{path}", headers=service.headers(service.admin_token), timeout=30
    )
    assert page.status_code == 200, page.text[:500]
    return page.text


def spool_names(state: StateDir) -> set[str]:
    spool = state.path / "spool"
    return {p.name for p in spool.glob("*.json")} if spool.is_dir() else set()


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SMARTCRON_")}
