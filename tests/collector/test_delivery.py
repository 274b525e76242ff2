"""The installed smartcron-wrap delivers its report to the real collector (SQLite and MySQL):
the spooled copy goes on 2xx and stays otherwise, silently (cron would mail a warning on
every run): the per-job log says why. The job's exit status and output never change
because of delivery."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from smartcron.collector.db import tables
from sqlalchemy import Engine, select

from tests.support.service import Service, free_port

WARNING = "smartcron-wrap: warning:"


def job(code: int, out: str = "hello") -> list[str]:
    """A job that prints `out` and exits with `code`."""
    return [sys.executable, "-c", f"import sys; print({out!r}); sys.exit({code})"]


def stored(engine: Engine) -> list[dict[str, Any]]:
    r = tables.runs.c
    with engine.connect() as connection:
        rows = connection.execute(select(r.run_id, r.job, r.status, r.exit_code))
        return [dict(row) for row in rows.mappings()]


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(WARNING)]


def kept_reason(state: Any, name: str = "nightly") -> str:
    """Why the newest run's report stayed in the spool, as the per-job log tells it."""
    delivery = state.log_with_deliveries(name)[-1]["delivery"]
    assert delivery["result"] == "kept", delivery
    return str(delivery["reason"])


@pytest.mark.parametrize("code", [0, 3])
def test_a_delivered_report_leaves_the_spool(
    collector: Service, schema_engine: Engine, wrap: Any, state: Any, code: int
) -> None:
    done = wrap("--name", "nightly", "--collector", collector.url,
                "--token", collector.ingest_token, "--", *job(code))  # fmt: skip
    assert done.returncode == code, done.stderr
    assert done.stdout == "hello\n"
    assert warnings(done.stderr) == [], done.stderr
    assert state.spool_files() == []
    [run] = stored(schema_engine)
    assert run["job"] == "nightly"
    assert (run["status"], run["exit_code"]) == (("success", 0) if code == 0 else ("failed", 3))
    # The per-job log keeps its line whatever happens to the spool.
    [logged] = state.log("nightly")
    assert logged["run_id"] == run["run_id"]
    detail = collector.get(f"/api/v1/runs/{run['run_id']}").json()
    assert detail["stdout_tail"] == "hello\n"


def test_the_token_may_come_from_a_file_and_the_url_from_the_environment(
    collector: Service, schema_engine: Engine, wrap: Any, state: Any, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(collector.ingest_token + "\n")
    env = {"SMARTCRON_COLLECTOR_URL": collector.url}
    done = wrap("--name", "nightly", "--token", f"file:{token_file}", "--", *job(0), env=env)
    assert done.returncode == 0 and warnings(done.stderr) == [], done.stderr
    assert state.spool_files() == []
    assert len(stored(schema_engine)) == 1


@pytest.mark.parametrize("code", [0, 3])
def test_a_wrong_token_keeps_the_report_in_the_spool(
    collector: Service, schema_engine: Engine, wrap: Any, state: Any, code: int
) -> None:
    done = wrap("--name", "nightly", "--collector", collector.url,
                "--token", "sct_wrong", "--", *job(code))  # fmt: skip
    assert done.returncode == code, done.stderr
    assert done.stdout == "hello\n"
    assert warnings(done.stderr) == [], done.stderr
    assert "401" in kept_reason(state)
    report = state.report()
    assert report["job"] == "nightly"
    assert stored(schema_engine) == []
    # What stayed behind is a whole report: the agent can ship it later.
    assert collector.post_runs([report]).json() == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_no_token_keeps_the_report_in_the_spool(
    collector: Service, schema_engine: Engine, wrap: Any, state: Any
) -> None:
    done = wrap("--name", "nightly", "--collector", collector.url, "--", *job(0))
    assert done.returncode == 0
    assert warnings(done.stderr) == [], done.stderr
    assert "401" in kept_reason(state)
    assert len(state.reports()) == 1
    assert stored(schema_engine) == []


@pytest.mark.parametrize("code", [0, 3])
def test_a_collector_that_is_down_keeps_the_report_in_the_spool(
    wrap: Any, state: Any, code: int
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    done = wrap("--name", "nightly", "--collector", nobody, "--token", "sct_any",
                "--retries", "2", "--retry-delay", "0", "--", *job(code))  # fmt: skip
    assert done.returncode == code, done.stderr
    assert done.stdout == "hello\n" * (3 if code else 1)
    assert warnings(done.stderr) == [], done.stderr
    reason = kept_reason(state)
    assert "cannot reach" in reason and nobody in reason, reason
    assert state.report()["attempts"][-1]["exit_code"] == code


@pytest.mark.slow
def test_a_collector_that_never_answers_costs_a_short_timeout(wrap: Any, state: Any) -> None:
    with socket.socket() as listener:  # accepts connections, never reads or answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        # The deadline made short (its default, 5 s, is test_fault_slow_collector's):
        # the wrapper's own record says the deadline ended the wait.
        done = wrap("--name", "nightly", "--collector", url, "--delivery-timeout", "1",
                    "--", *job(3))  # fmt: skip
    assert done.returncode == 3
    assert warnings(done.stderr) == [], done.stderr
    assert kept_reason(state) == f"{url} did not answer within 1s"
    assert len(state.reports()) == 1


def test_without_a_collector_the_report_just_stays(wrap: Any, state: Any) -> None:
    done = wrap("--name", "nightly", "--", *job(0))
    assert done.returncode == 0 and warnings(done.stderr) == [], done.stderr
    assert len(state.reports()) == 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:port", "http://[::1"])
def test_a_collector_url_that_cannot_be_used_is_refused_before_the_job_runs(
    wrap: Any, state: Any, url: str, tmp_path: Any
) -> None:
    # A bad value names itself and the fix, and the job does not run (DESIGN.md).
    ran = tmp_path / "ran"
    done = wrap("--name", "nightly", "--collector", url, "--", "touch", str(ran))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("smartcron-wrap: error: --collector:") and url in line, line
    assert not ran.exists()
    assert state.reports() == []
