"""Fault injection: a collector that answers one byte at a time.

Against a server that trickled its answer the wrapper used to take 40 s, holding
the job's lock all along, so the next run was `skipped_locked`. The whole POST
now has one deadline (--delivery-timeout, a few seconds by default) after which
the report simply stays in the spool, and the lock is released before any
delivery. The server here is a loopback socket the test runs itself.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from tests.support.fake_collector import fake_collector, wait_until

JOB = [sys.executable, "-c", "print('done')"]


def wall(text: str) -> float:
    """A report's or a log line's ISO time as epoch seconds."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_trickling_collector_costs_no_more_than_the_delivery_deadline(
    wrap: Any, state: Any
) -> None:
    # The answer never ends, a byte at a time: the old wrapper (a socket timeout per
    # read) waited on for ever, and wrap()'s own 30 s watchdog would fail the test. That
    # the wrapper returns at all is the deadline at work, whatever the machine's speed.
    with fake_collector(endless=True, trickle_s=0.1) as server:
        done = wrap("--name", "nightly", "--collector", server.url, "--token", "sct_any",
                    "--delivery-timeout", "1", "--", *JOB)  # fmt: skip
        # The premise: the report got there (it was sent before the deadline).
        assert wait_until(server.received.is_set), "the report was never sent"
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    assert done.stderr == "", "a report safely spooled is nothing to print"
    report = state.report()  # still spooled, whole, for the agent
    assert server.reports() == [report]
    [delivery] = state.deliveries("nightly")
    # The wrapper's own record: it gave up at its deadline, not at an error or an answer.
    assert (delivery["result"], delivery["reason"]) == (
        "kept", f"{server.url} did not answer within 1s")  # fmt: skip
    # In this order: the job ended, the collector got the report, the wrapper gave up.
    [request] = server.requests
    assert wall(report["finished_at"]) <= request["at"] <= wall(delivery["at"])


def test_the_default_deadline_is_a_few_seconds(wrap: Any, state: Any) -> None:
    # The setting the deadline above is made of: its default, as the run resolves it
    # (the dry run prints the settings a run would use), and its name in the environment.
    plan = wrap("--name", "nightly", "--dry-run", "--", *JOB)
    [line] = [line.split() for line in plan.stdout.splitlines() if "delivery-timeout" in line]
    assert line == ["delivery-timeout", "5s", "default"], plan.stdout
    plan = wrap("--name", "nightly", "--dry-run", "--", *JOB,
                env={"SMARTCRON_DELIVERY_TIMEOUT": "2s"})  # fmt: skip
    [line] = [line.split() for line in plan.stdout.splitlines() if "delivery-timeout" in line]
    assert line[:2] == ["delivery-timeout", "2s"], plan.stdout


def test_the_lock_is_free_while_the_report_is_being_delivered(wrap: Any, state: Any) -> None:
    with fake_collector(endless=True) as server:
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
    # A lost run found at the start is delivered too; both share the one deadline. The
    # first never hears an answer, so it uses the whole deadline and the second has
    # none left: with a deadline each, the second would be sent and wait its own.
    with fake_collector(endless=True) as server:
        lost = wrap.popen("--name", "nightly", "--", *tree.sleeper())
        assert wait_until(lambda: bool(state.running() and state.running()[0].get("child_pid")))
        lost.kill()
        lost.communicate(timeout=10)
        done = wrap("--name", "nightly", "--collector", server.url,
                    "--delivery-timeout", "1", "--", *JOB)  # fmt: skip
        assert len(server.requests) <= 1, "the second report was sent after the deadline"
    assert done.returncode == 0 and done.stderr == "", done.stderr
    statuses = sorted(report["status"] for report in state.reports())
    assert statuses == ["lost", "success"], statuses
    assert [(line["result"], line["reason"]) for line in state.deliveries("nightly")] == [
        ("kept", f"{server.url} did not answer within 1s"),
        ("kept", "no time left of the 1s delivery deadline"),
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
    with fake_collector(endless=True) as server:
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
