"""The job's alert options change the alerts they should, on both backends: each set in
a run report's `expect` (as the wrapper's --alert-after, --grace, --max-duration and
--min-duration put it there), stored on the job's row by ingest, read by the engine
at an injected moment. Beside each job that sets an option runs one that does not, so
every test shows what the option changed, not only that an alert opened. The last test
starts where a user would: options on smartcron-wrap lines, reports delivered to a
real collector."""

from __future__ import annotations

import datetime as dt
import socket
import sys
from pathlib import Path
from typing import Any

from smartcron.collector.state import grace
from sqlalchemy import Engine

from tests.support.alerts import alerts, beat, job_row, one_open, pass_at, store_run
from tests.support.service import iso, start_collector

T0 = dt.datetime(2030, 6, 10, 10, 0, 0)  # a Monday, UTC
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)
HOURLY = "0 * * * *"
UNSCHEDULED: dict[str, Any] = {"schedule": None}


def open_jobs(engine: Engine, rule: str) -> list[str]:
    return sorted(row["job"] for row in alerts(engine, rule) if row["resolved_at"] is None)


def test_alert_after_sets_how_many_failures_in_a_row_alert(engine: Engine) -> None:
    for minute in range(3):
        at = T0 + 5 * minute * MINUTE
        store_run(engine, "default", at, status="failed", **UNSCHEDULED)  # 3, the default
        store_run(engine, "two", at, status="failed", expect={"alert_after": 2}, **UNSCHEDULED)
        store_run(engine, "five", at, status="failed", expect={"alert_after": 5}, **UNSCHEDULED)
        pass_at(engine, at + MINUTE)
        if minute == 1:
            assert open_jobs(engine, "consecutive_failures") == ["two"]
    assert (job_row(engine, "two")["alert_after"], job_row(engine, "default")["alert_after"]) == (
        2, 3,
    )  # fmt: skip
    assert open_jobs(engine, "consecutive_failures") == ["default", "two"]
    summaries = {row["job"]: row["summary"] for row in alerts(engine, "consecutive_failures")}
    assert summaries["two"] == "two on web1: 2 failures in a row"
    assert summaries["default"] == "default on web1: 3 failures in a row"
    for minute in (3, 4):
        at = T0 + 5 * minute * MINUTE
        store_run(engine, "five", at, status="failed", expect={"alert_after": 5}, **UNSCHEDULED)
        pass_at(engine, at + MINUTE)
    assert "five" in open_jobs(engine, "consecutive_failures"), "at its fifth failure"


def test_grace_sets_when_a_missed_run_alerts(engine: Engine) -> None:
    # An hourly job's default grace is 6 minutes (a tenth of the hour); --grace 20m waits.
    store_run(engine, "default", T0, schedule=HOURLY)
    store_run(engine, "patient", T0, schedule=HOURLY, expect={"grace_s": 1200.0})
    pass_at(engine, T0 + MINUTE)
    slot = T0 + 60 * MINUTE
    assert grace(HOURLY, None, None, slot) == 6 * MINUTE
    # No agent lists these jobs' runs: each run's last duration (1.5 s) is added, as its
    # report may still be on the way (state.report_allowance).
    allowance = dt.timedelta(seconds=1.5)
    assert job_row(engine, "default")["late_after_at"] == slot + 6 * MINUTE + allowance
    assert job_row(engine, "patient")["late_after_at"] == slot + 20 * MINUTE + allowance

    pass_at(engine, slot + 6 * MINUTE + 2 * SECOND)
    assert open_jobs(engine, "missed") == ["default"]
    pass_at(engine, slot + 20 * MINUTE)
    assert open_jobs(engine, "missed") == ["default"], "still within its own grace"
    pass_at(engine, slot + 20 * MINUTE + 2 * SECOND)
    assert open_jobs(engine, "missed") == ["default", "patient"]
    instants = {row["job"]: row["instant"] for row in alerts(engine, "missed")}
    assert instants == {"default": slot, "patient": slot}, "the slot missed, not the grace"


def test_a_run_inside_its_own_grace_opens_nothing(engine: Engine) -> None:
    store_run(engine, "patient", T0, schedule=HOURLY, expect={"grace_s": 1200.0})
    pass_at(engine, T0 + MINUTE)
    late_start = T0 + 75 * MINUTE  # 15 minutes late: past the default, inside its own
    pass_at(engine, late_start)
    store_run(engine, "patient", late_start, schedule=HOURLY)  # no expect: the row keeps 20m
    assert job_row(engine, "patient")["grace_s"] == 1200.0
    pass_at(engine, T0 + 90 * MINUTE)
    assert alerts(engine) == []


def test_max_duration_replaces_the_p95_for_too_slow(engine: Engine) -> None:
    for minute in range(20):  # a history of 10 s runs: twice their p95 is 20 s
        at = T0 + minute * MINUTE
        store_run(engine, "by_p95", at, duration_s=10.0, **UNSCHEDULED)
        store_run(engine, "capped", at, duration_s=10.0, expect={"max_duration_s": 120.0},
                  **UNSCHEDULED)  # fmt: skip
        store_run(engine, "tight", at, duration_s=10.0, expect={"max_duration_s": 15.0},
                  **UNSCHEDULED)  # fmt: skip
    pass_at(engine, T0 + 21 * MINUTE)
    assert alerts(engine) == []
    for job in ("by_p95", "capped", "tight"):
        store_run(engine, job, T0 + 21 * MINUTE, duration_s=30.0, **UNSCHEDULED)
    pass_at(engine, T0 + 22 * MINUTE)
    # 30 s: over twice the p95 (20 s), under capped's maximum (120 s), over tight's (15 s).
    assert open_jobs(engine, "too_slow") == ["by_p95", "tight"]
    summaries = {row["job"]: row["summary"] for row in alerts(engine, "too_slow")}
    assert "its maximum of 15 s" in summaries["tight"]
    assert "p95" in summaries["by_p95"]


def test_max_duration_needs_no_history(engine: Engine) -> None:
    store_run(engine, "new", T0, duration_s=61.0, expect={"max_duration_s": 60.0},
              **UNSCHEDULED)  # fmt: skip
    store_run(engine, "unset", T0, duration_s=61.0, **UNSCHEDULED)
    pass_at(engine, T0 + 2 * MINUTE)
    assert open_jobs(engine, "too_slow") == ["new"], "a p95 needs 5 runs; a maximum does not"


def test_min_duration_makes_a_quick_success_too_fast(engine: Engine) -> None:
    store_run(engine, "guarded", T0, duration_s=0.1, expect={"min_duration_s": 1.0},
              **UNSCHEDULED)  # fmt: skip
    store_run(engine, "unset", T0, duration_s=0.1, **UNSCHEDULED)
    pass_at(engine, T0 + MINUTE)
    assert open_jobs(engine, "too_fast") == ["guarded"]
    assert "under its minimum of 1 s" in one_open(engine, "too_fast")["summary"]
    store_run(engine, "guarded", T0 + 5 * MINUTE, duration_s=2.0, **UNSCHEDULED)
    pass_at(engine, T0 + 6 * MINUTE)
    assert open_jobs(engine, "too_fast") == [], "a run long enough resolves it"


def test_still_running_waits_for_the_timeout_plus_the_jobs_grace(engine: Engine) -> None:
    # Two hourly jobs: the default grace of their slot is 6 minutes; one sets 30 minutes.
    store_run(engine, "default", T0 - 60 * MINUTE, schedule=HOURLY)
    store_run(engine, "patient", T0 - 60 * MINUTE, schedule=HOURLY, expect={"grace_s": 1800.0})
    started = T0 + 20 * SECOND  # its slot is 10:00, started within a jitter of it
    since = iso(started.replace(tzinfo=dt.timezone.utc))
    running = [{"job": job, "pid": 4242 + n, "started_at": since, "timeout_s": 600}
               for n, job in enumerate(("default", "patient"))]  # fmt: skip
    timeout = 10 * MINUTE
    for at, expected in (
        (started + timeout + 6 * MINUTE, []),  # the default grace, not yet past
        (started + timeout + 6 * MINUTE + SECOND, ["default"]),
        (started + timeout + 30 * MINUTE, ["default"]),  # the job's own grace, not yet past
        (started + timeout + 30 * MINUTE + SECOND, ["default", "patient"]),
    ):
        beat(engine, "web1", at - SECOND, running=running)
        pass_at(engine, at)
        assert open_jobs(engine, "still_running") == expected, at
    summaries = {row["job"]: row["summary"] for row in alerts(engine, "still_running")}
    assert summaries["default"].endswith("past its timeout of 600 s and its grace of 6m")
    assert summaries["patient"].endswith("past its timeout of 600 s and its grace of 30m")


def test_each_option_on_a_wrapped_line_reaches_its_alert(
    engine: Engine, wrap: Any, tmp_path: Path
) -> None:
    """End to end: the installed smartcron-wrap runs each line and delivers its report
    to a real collector (its own alert loop off: the passes here have their moments)."""
    url = engine.url.render_as_string(hide_password=False)
    (tmp_path / "collector").mkdir()
    with start_collector(url, tmp_path / "collector", extra=("--alert-every", "0")) as service:

        def line(name: str, *options: str, command: tuple[str, ...]) -> None:
            done = wrap("--name", name, *options, "--collector", service.url,
                        "--token", service.ingest_token, "--", *command)  # fmt: skip
            assert "warning" not in done.stderr, done.stderr

        fail = (sys.executable, "-c", "import sys; sys.exit(3)")
        for _ in range(2):
            line("flaky", "--alert-after", "2", command=fail)
            line("plain", command=fail)  # the default: 3 in a row
        line("hasty", "--min-duration", "5s", command=("true",))
        line("slow", "--max-duration", "100ms",
             command=(sys.executable, "-c", "import time; time.sleep(0.5)"))  # fmt: skip
        line("nightly", "--schedule", HOURLY, "--grace", "20m", command=("true",))

    rows = {name: job_row(engine, name, host=socket.gethostname()) for name in
            ("flaky", "plain", "hasty", "slow", "nightly")}  # fmt: skip
    assert (rows["flaky"]["alert_after"], rows["plain"]["alert_after"]) == (2, 3)
    assert rows["hasty"]["min_duration_s"] == 5.0 and rows["slow"]["max_duration_s"] == 0.1
    assert rows["nightly"]["grace_s"] == 1200.0

    last = max(row["last_started_at"] for row in rows.values())
    now = last + MINUTE
    pass_at(engine, now)
    assert open_jobs(engine, "consecutive_failures") == ["flaky"]
    assert open_jobs(engine, "too_fast") == ["hasty"]
    assert open_jobs(engine, "too_slow") == ["slow"]
    assert "its maximum of 0.1 s" in one_open(engine, "too_slow")["summary"]

    # The next hour's run never comes: missed after the line's 20 minutes (and the last
    # run's duration, which is added while no agent lists the job's runs).
    nightly = job_row(engine, "nightly", host=socket.gethostname())
    slot = nightly["next_expected_at"]
    assert nightly["late_after_at"] == slot + 20 * MINUTE + dt.timedelta(
        seconds=nightly["last_duration_s"]
    )
    pass_at(engine, nightly["late_after_at"] - SECOND)
    assert open_jobs(engine, "missed") == []
    pass_at(engine, nightly["late_after_at"] + SECOND)
    assert open_jobs(engine, "missed") == ["nightly"]
