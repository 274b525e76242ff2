"""Fault injection: a collector that answers one byte at a time.

Against a server that trickled its answer the wrapper used to take 40 s, holding
the job's lock all along, so the next run was `skipped_locked`. The whole POST
now has one deadline (--delivery-timeout, a few seconds by default) after which
the report simply stays in the spool, and the lock is released before any
delivery. The server here is a loopback socket the test runs itself.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tests.support.fake_collector import fake_collector

JOB = [sys.executable, "-c", "print('done')"]


def test_a_trickling_collector_costs_no_more_than_the_delivery_deadline(
    wrap: Any, state: Any
) -> None:
    with fake_collector(trickle_s=0.5) as server:
        started = time.monotonic()
        done = wrap("--name", "nightly", "--collector", server.url, "--token", "sct_any",
                    "--delivery-timeout", "1", "--", *JOB)  # fmt: skip
        took = time.monotonic() - started
        assert server.received.is_set(), "the report was never sent"
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    # Slack for a loaded machine; the old wrapper took over 40 s against this server.
    assert took < 1 + 4, f"delivery held the wrapper {took:.1f}s past a 1s deadline"
    assert done.stderr == "", "a report safely spooled is nothing to print"
    report = state.report()  # still spooled, whole, for the agent
    assert server.reports() == [report]
    [entry] = state.log_with_deliveries("nightly")
    reason = f"{server.url} did not answer within 1s"
    assert entry["delivery"] == {"result": "kept", "reason": reason}


def test_the_default_deadline_is_a_few_seconds(wrap: Any, state: Any) -> None:
    with fake_collector(trickle_s=1.0) as server:
        started = time.monotonic()
        done = wrap("--name", "nightly", "--collector", server.url, "--", *JOB)
        took = time.monotonic() - started
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert 4 < took < 5 + 4, took
    assert "within 5s" in state.log_with_deliveries("nightly")[0]["delivery"]["reason"]


def test_the_lock_is_free_while_the_report_is_being_delivered(wrap: Any, state: Any) -> None:
    with fake_collector(trickle_s=0.5) as server:
        first = wrap.popen("--name", "nightly", "--collector", server.url,
                           "--delivery-timeout", "60", "--", *JOB)  # fmt: skip
        assert server.received.wait(20), "the first run never started its delivery"
        second = wrap("--name", "nightly", "--", *JOB)
        assert second.returncode == 0, second.stderr
        assert first.poll() is None, "the premise: the first run is still delivering"
    # The server hung up on the first run: it ends now, its report kept.
    first.communicate(timeout=30)
    assert first.returncode == 0
    statuses = [report["status"] for report in state.reports()]
    assert statuses == ["success", "success"], statuses


def test_one_deadline_covers_every_report_of_the_run(wrap: Any, state: Any, tree: Any) -> None:
    # A lost run found at the start is delivered too; both share the one deadline.
    with fake_collector(trickle_s=0.5) as server:
        lost = wrap.popen("--name", "nightly", "--", *tree.sleeper())
        for _ in range(500):
            if state.running() and state.running()[0].get("child_pid"):
                break
            time.sleep(0.02)
        lost.kill()
        lost.communicate(timeout=10)
        started = time.monotonic()
        done = wrap("--name", "nightly", "--collector", server.url,
                    "--delivery-timeout", "3", "--", *JOB)  # fmt: skip
        took = time.monotonic() - started
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert took < 3 + 2.5, f"{took:.1f}s: two reports had a deadline each"  # not 3 + 3
    statuses = sorted(report["status"] for report in state.reports())
    assert statuses == ["lost", "success"], statuses
    assert [entry["delivery"]["result"] for entry in state.log_with_deliveries("nightly")] == [
        "kept",
        "kept",
    ]


def test_a_zero_delivery_timeout_is_refused_before_the_job_runs(
    wrap: Any, state: Any, tmp_path: Any
) -> None:
    ran = tmp_path / "ran"
    done = wrap("--name", "nightly", "--delivery-timeout", "0", "--", "touch", str(ran))
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("smartcron-wrap: error: --delivery-timeout:"), line
    assert not ran.exists() and state.spool_files() == []


def test_the_run_is_logged_before_its_report_is_sent(wrap: Any, state: Any) -> None:
    """A collector that holds the POST delays only the delivery's own line, never the
    run's: the run is in logs/NAME.jsonl before the first byte is sent."""
    with fake_collector(trickle_s=0.5) as server:
        proc = wrap.popen("--name", "nightly", "--collector", server.url,
                          "--delivery-timeout", "60", "--", *JOB)  # fmt: skip
        assert server.received.wait(20), "the wrapper never started its delivery"
        logged = state.log("nightly")
        assert proc.poll() is None, "the premise: the wrapper is still delivering"
        assert [entry["status"] for entry in logged] == ["success"]
        assert "delivery" not in logged[0]  # the run's line is the report, as spooled
        assert logged[0] == state.report()
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    [delivery] = state.deliveries("nightly")
    assert delivery["run_id"] == logged[0]["run_id"]
    assert delivery["result"] == "kept", delivery  # the server hung up on it
