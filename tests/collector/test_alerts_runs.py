"""The run rules (collector/alerting/from_runs.py) on both backends, with an injected
clock: each opens once, counts repeats, resolves by itself with one event per
transition; and a run read twice changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from smartcron.collector.alerting.cursors import RUNS, read_cursors, write_cursor
from smartcron.collector.alerting.engine import PassResult
from smartcron.collector.alerting.from_runs import RUN_COLUMNS, SETTLE, RunRules
from smartcron.collector.alerting.silence import Silencer
from smartcron.collector.alerting.store import Transitions
from smartcron.collector.db import tables
from sqlalchemy import Engine, select, update

from tests.support import alerts as support
from tests.support.alerts import alerts, events, one_open, store_run

T0 = dt.datetime(2030, 6, 10, 8, 0, 0)
MINUTE = dt.timedelta(minutes=1)
UNSCHEDULED: dict[str, Any] = {"schedule": None}


def pass_at(engine: Engine, at: dt.datetime) -> PassResult:
    # Passes here are never more than DOWN_AFTER apart: none to fill in between.
    return support.pass_at(engine, at, fill=False)  # no lateness in these tests: runs alone decide


def run(engine: Engine, minute: int, status: str = "success", **fields: Any) -> None:
    store_run(engine, "vend_sync", T0 + minute * MINUTE, status=status, **(UNSCHEDULED | fields))


@pytest.mark.parametrize("status", ["failed", "timeout", "killed_memory", "lost", "error"])
def test_a_failure_opens_once_repeats_and_a_success_resolves_it(
    engine: Engine, status: str
) -> None:
    rule = "failed" if status == "error" else status
    run(engine, 0, status)
    first = pass_at(engine, T0 + 2 * MINUTE)
    assert first.opened == 1
    alert = one_open(engine, rule)
    assert (alert["job"], alert["host"], alert["instant"]) == ("vend_sync", "web1", T0)
    assert alert["severity"] == "warning", "priority 5"
    assert "vend_sync on web1" in alert["summary"] and "\n" not in alert["summary"]

    assert pass_at(engine, T0 + 3 * MINUTE).opened == 0, "the same run is not read twice"
    run(engine, 5, status)
    pass_at(engine, T0 + 7 * MINUTE)
    again = one_open(engine, rule)
    assert (again["id"], again["repeats"]) == (alert["id"], 1)
    assert again["last_seen_at"] == T0 + 5 * MINUTE

    run(engine, 10)
    assert pass_at(engine, T0 + 12 * MINUTE).resolved == 1
    [done] = alerts(engine, rule)
    assert done["resolved_at"] == T0 + 12 * MINUTE and done["resolved_by"] is None
    assert done["open_key"] is None
    assert events(engine) == [(alert["id"], "opened"), (alert["id"], "resolved")]


def test_severity_comes_from_the_priority(engine: Engine) -> None:
    for job, priority in (("p1", 1), ("p2", 2), ("p4", 4), ("p7", 7)):
        store_run(engine, job, T0, status="failed", priority=priority, **UNSCHEDULED)
    pass_at(engine, T0 + MINUTE)
    severities = {row["job"]: row["severity"] for row in alerts(engine, "failed")}
    assert severities == {"p1": "critical", "p2": "high", "p4": "warning", "p7": "info"}


def test_consecutive_failures_open_at_the_third_and_name_the_first(engine: Engine) -> None:
    run(engine, 0, "failed")
    run(engine, 5, "failed")
    pass_at(engine, T0 + 6 * MINUTE)
    assert alerts(engine, "consecutive_failures") == []
    run(engine, 10, "timeout")
    pass_at(engine, T0 + 11 * MINUTE)
    streak = one_open(engine, "consecutive_failures")
    assert streak["instant"] == T0, "the first failing run of the streak"
    run(engine, 15, "failed")
    pass_at(engine, T0 + 16 * MINUTE)
    assert one_open(engine, "consecutive_failures")["repeats"] == 1
    run(engine, 20)
    pass_at(engine, T0 + 21 * MINUTE)
    assert alerts(engine, "consecutive_failures")[0]["resolved_at"] == T0 + 21 * MINUTE
    opened = [e for e in events(engine) if e == (streak["id"], "opened")]
    assert len(opened) == 1


def test_skipped_runs_neither_break_nor_extend_a_streak(engine: Engine) -> None:
    run(engine, 0, "failed")
    run(engine, 1, "skipped_locked")
    run(engine, 2, "failed")
    run(engine, 3, "failed")
    pass_at(engine, T0 + 5 * MINUTE)
    assert one_open(engine, "consecutive_failures")["instant"] == T0


def test_the_breaker_opens_and_closes(engine: Engine) -> None:
    run(engine, 0, "failed", breaker_state="open")
    pass_at(engine, T0 + MINUTE)
    opened = one_open(engine, "breaker_open")
    assert "circuit breaker open" in opened["summary"]
    run(engine, 5, "skipped_breaker", breaker_state="open")
    pass_at(engine, T0 + 6 * MINUTE)
    assert one_open(engine, "breaker_open")["repeats"] == 1
    run(engine, 10, "success", breaker_state="closed")
    pass_at(engine, T0 + 11 * MINUTE)
    assert alerts(engine, "breaker_open")[0]["resolved_at"] is not None
    assert [e for e in events(engine) if e[0] == opened["id"]] == [
        (opened["id"], "opened"),
        (opened["id"], "resolved"),
    ]


def test_too_slow_is_twice_the_p95_of_the_last_successes(engine: Engine) -> None:
    for minute in range(20):
        run(engine, minute, duration_s=10.0 + minute % 3)  # p95 12 s
    pass_at(engine, T0 + 21 * MINUTE)
    run(engine, 21, duration_s=23.0)  # under 24 s
    pass_at(engine, T0 + 22 * MINUTE)
    assert alerts(engine, "too_slow") == []
    run(engine, 22, duration_s=25.0)  # the 23 s run is the 21st of 21: p95 still 12 s
    pass_at(engine, T0 + 23 * MINUTE)
    slow = one_open(engine, "too_slow")
    assert "25.0 s" in slow["summary"] and "p95" in slow["summary"]
    run(engine, 23, duration_s=11.0)
    pass_at(engine, T0 + 24 * MINUTE)
    assert alerts(engine, "too_slow")[0]["resolved_at"] == T0 + 24 * MINUTE


def test_too_slow_needs_a_history(engine: Engine) -> None:
    run(engine, 0, duration_s=1.0)
    run(engine, 1, duration_s=500.0)
    pass_at(engine, T0 + 2 * MINUTE)
    assert alerts(engine) == []


def test_too_fast_and_a_set_maximum(engine: Engine) -> None:
    # The job's own limits are stored on its row by revision 0010 (branch alert-expect);
    # the rules read them from the row they are given, as here.
    run(engine, 0, duration_s=0.1)
    run(engine, 1, duration_s=61.0)
    run(engine, 2, duration_s=5.0)
    job = {"priority": 3, "paused": False, "paused_by": None, "timezone": None,
           "min_duration_s": 1.0, "max_duration_s": 60.0}  # fmt: skip
    with engine.begin() as connection:
        changes = Transitions(connection, T0 + 3 * MINUTE)
        rules = RunRules(changes, Silencer(connection, T0 + 3 * MINUTE))
        runs = connection.execute(select(*RUN_COLUMNS).order_by(tables.runs.c.started_at))
        open_now: dict[Any, Any] = {}
        found = []
        for row in runs:
            rules._durations(row, job, open_now, fresh=True)
            found.append(sorted(rule for rule, _job, _host in open_now))
        changes.flush()
    assert found == [["too_fast"], ["too_slow"], []], "each resolved by the next run"
    assert "its maximum of 60 s" in alerts(engine, "too_slow")[0]["summary"]
    assert "under its minimum of 1 s" in alerts(engine, "too_fast")[0]["summary"]
    assert [event for _id, event in events(engine)] == ["opened", "opened", "resolved", "resolved"]


def test_a_late_report_of_an_old_failure_opens_and_resolves_at_once(engine: Engine) -> None:
    # The success is stored and examined first; the failure before it arrives later
    # (a spool shipped late): the condition is over, so it resolves in the same pass.
    run(engine, 10)
    pass_at(engine, T0 + 11 * MINUTE)
    run(engine, 5, "failed", received=T0 + 12 * MINUTE)
    result = pass_at(engine, T0 + 13 * MINUTE)
    assert (result.opened, result.resolved) == (1, 1)
    assert [e[1] for e in events(engine)] == ["opened", "resolved"]


def test_a_report_older_than_a_day_opens_nothing(engine: Engine) -> None:
    pass_at(engine, T0)
    store_run(engine, "old", T0 - dt.timedelta(days=2), status="failed",
              received=T0 + MINUTE, **UNSCHEDULED)  # fmt: skip
    pass_at(engine, T0 + 2 * MINUTE)
    assert alerts(engine) == []


def test_reading_runs_again_changes_nothing(engine: Engine) -> None:
    # What the cursor's gap rule may cause: the same runs examined by a later pass.
    run(engine, 0, "failed")
    run(engine, 5, "failed")
    run(engine, 10, "failed")
    pass_at(engine, T0 + 11 * MINUTE)
    before = (alerts(engine), events(engine))
    with engine.begin() as connection:
        write_cursor(connection, RUNS, T0, position=0)
    pass_at(engine, T0 + 12 * MINUTE)
    assert (alerts(engine), events(engine)) == before


def test_the_cursor_waits_at_a_fresh_gap_and_passes_an_old_one(engine: Engine) -> None:
    run(engine, 0, "failed")
    run(engine, 1, "failed")
    with engine.begin() as connection:
        # As if a concurrent ingest had taken id (first + 1) and not yet committed.
        first = min(row["id"] for row in connection.execute(tables.runs.select()).mappings())
        connection.execute(update(tables.runs).where(tables.runs.c.id != first)
                           .values(id=first + 2))  # fmt: skip
    pass_at(engine, T0 + 2 * MINUTE)
    with engine.connect() as connection:
        assert read_cursors(connection)[RUNS][0] == first, "held before the gap"
    pass_at(engine, T0 + 2 * MINUTE + SETTLE)
    with engine.connect() as connection:
        assert read_cursors(connection)[RUNS][0] == first + 2, "the gap was a rollback"
    assert len(alerts(engine, "failed")) == 1
