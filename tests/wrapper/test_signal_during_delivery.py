"""A signal to the wrapper while it delivers the report (after the job has ended).

The job's run is over and its report is spooled; what is left is a courtesy to the
collector. A SIGTERM (systemd stopping cron), a ^C or a SIGHUP then used to meet
the default disposition, restored with the job's end: the wrapper died of it (or
printed a KeyboardInterrupt traceback), exited with a status that was not the
job's, and never wrote the run's line in the per-job log. Now the signal cuts the
delivery short: the report stays spooled for the agent, the log line says why, and
the wrapper ends with the job's own exit code.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import pytest

from tests.support.fake_collector import fake_collector, wait_until

JOB = [sys.executable, "-c", "import sys; print('done'); sys.exit(3)"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_during_delivery_ends_it_with_the_jobs_exit_code(
    wrap: Any, state: Any, sig: signal.Signals
) -> None:
    # The answer never ends and the deadline (60 s) is past communicate()'s watchdog
    # (30 s): the wrapper can only be back because the signal ended its wait.
    with fake_collector(endless=True) as server:
        proc = wrap.popen("--name", "nightly", "--collector", server.url,
                          "--delivery-timeout", "60", "--", *JOB)  # fmt: skip
        assert server.received.wait(20), "the wrapper never started its delivery"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, (proc.returncode, err)
    assert out == "done\n"
    assert err == "", "a report safely spooled is nothing to print"
    report = state.report()
    assert report["status"] == "failed" and report["exit_code"] == 3
    [entry] = state.log_with_deliveries("nightly")
    assert entry["run_id"] == report["run_id"]
    assert entry["delivery"] == {
        "result": "kept",
        "reason": f"delivery cut short by {sig.name}",
    }


def test_a_signal_during_delivery_leaves_the_other_reports_spooled_and_logged(
    wrap: Any, state: Any, tree: Any
) -> None:
    # A lost run found at the start is the first report; the signal during its
    # delivery must not cost the run's own report its log line.
    lost = wrap.popen("--name", "nightly", "--", *tree.sleeper())
    assert wait_until(lambda: bool(state.running() and state.running()[0].get("child_pid")))
    lost.kill()
    lost.communicate(timeout=10)
    with fake_collector(endless=True) as server:
        proc = wrap.popen("--name", "nightly", "--collector", server.url,
                          "--delivery-timeout", "60", "--", *JOB)  # fmt: skip
        assert server.received.wait(20), "the wrapper never started its delivery"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, (proc.returncode, err)
    assert sorted(r["status"] for r in state.reports()) == ["failed", "lost"]
    entries = state.log_with_deliveries("nightly")
    assert sorted(e["status"] for e in entries) == ["failed", "lost"]
    assert all(e["delivery"]["result"] == "kept" for e in entries), entries
