"""The host's clock steps backwards (an RTC kept in local time, a VM's clock put
right by NTP after boot): every time the wrapper wrote before the step now lies
ahead of the clock. Those files are the wrapper's own, not corrupt. They used to
be set aside as `.corrupt` (a warning, so a cron mail, for every job that had run
in the last hour), with the breaker's state thrown away and the marker of a run
still in flight taken from it.

The step is made by writing the state files as the wrapper would have before it:
with times an hour ahead of the clock.
"""

from __future__ import annotations

import json
import time
import uuid

from smartcron.wrapper.clock import iso

from tests.conftest import StateDir, Wrap

HOUR = 3600.0


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("smartcron-wrap: warning:")]


def test_a_breaker_written_before_the_clock_stepped_back_is_kept(wrap: Wrap, state: StateDir):
    jobs = state.path / "jobs"
    jobs.mkdir(parents=True)
    before_step = iso(time.time() + HOUR)
    document = {"state": "open", "failures": [before_step] * 3, "opened_at": before_step,
                "trial_started_at": None, "last_success_at": None, "last_status": "failed",
                "reset_applied_at": None}  # fmt: skip
    (jobs / "j.json").write_text(json.dumps(document))

    result = wrap("--name", "j", "--breaker-cooldown", "10m", "--", "true")

    assert result.returncode == 0
    assert warnings_in(result.stderr) == [], "the wrapper's own file is not corrupt"
    assert not (jobs / "j.json.corrupt").exists()
    # Still open, as it was when the clock moved: the run is skipped, not let through
    # by a breaker reset to closed.
    assert [r["status"] for r in state.reports()] == ["skipped_breaker"]
    assert state.job_state("j")["opened_at"] == before_step


def test_a_run_in_flight_when_the_clock_stepped_back_is_still_found_lost(
    wrap: Wrap, state: StateDir
):
    run_id = str(uuid.uuid4())
    started = time.time() + HOUR
    marker = {"run_id": run_id, "job": "j", "command": ["true"], "schedule": None,
              "priority": 5, "tags": [], "pid": 4_000_000, "pid_start_ticks": 1,
              "child_pid": None, "child_start_ticks": None, "pgid": None,
              "started_at": iso(started), "boot_id": "another boot"}  # fmt: skip
    (state.path / "running").mkdir(parents=True)
    (state.path / "running" / f"{run_id}.json").write_text(json.dumps(marker))

    result = wrap("--name", "j", "--", "true")
    found = time.time()

    assert result.returncode == 0
    assert warnings_in(result.stderr) == []
    lost = [r for r in state.reports() if r["status"] == "lost"]
    assert [r["run_id"] for r in lost] == [run_id]
    # A lost run has no end (DESIGN.md): its start is no later than the moment it was
    # found, not the hour ahead the marker claims.
    assert lost[0]["started_at"] <= iso(found)
    assert lost[0]["finished_at"] is None
    assert lost[0]["duration_s"] is None
