"""`missed` on both backends, with an injected clock: the engine reads lateness from the
state module's stored decision and never re-decides it; an alert opens once per missed
slot (its instant in UTC, across DST), a run inside the grace opens none, a long outage
of a host or of the collector itself gives one alert per job."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from smartcron.collector import actions, alert_centre
from smartcron.collector.alerting import engine as alert_engine
from smartcron.collector.alerting.engine import CATCH_UP, DOWN_AFTER
from smartcron.collector.db import tables
from sqlalchemy import Engine

from tests.support.alerts import alerts, events, job_row, naive, one_open, pass_at, store_run

HOURLY = "0 * * * *"
T0 = dt.datetime(2030, 6, 10, 10, 0, 0)  # a Monday, UTC
MINUTE = dt.timedelta(minutes=1)


def test_a_missed_run_alerts_once_and_a_run_resolves_it(engine: Engine) -> None:
    store_run(engine, "hourly", T0, schedule=HOURLY)
    pass_at(engine, T0 + MINUTE)
    late_at = job_row(engine, "hourly")["late_after_at"]
    assert late_at > T0 + 60 * MINUTE, "the state module's grace"

    assert pass_at(engine, late_at - dt.timedelta(seconds=1)).opened == 0
    assert pass_at(engine, late_at + dt.timedelta(seconds=1)).opened == 1
    alert = one_open(engine, "missed")
    assert alert["instant"] == T0 + 60 * MINUTE == job_row(engine, "hourly")["missed_at"]
    assert alert["summary"] == "hourly on web1: no run of 2030-06-10 11:00 UTC"
    for minutes in (10, 60, 120, 300):  # the next slots are missed too: still one alert
        assert pass_at(engine, late_at + minutes * MINUTE).opened == 0
    assert len(alerts(engine, "missed")) == 1

    store_run(engine, "hourly", T0 + 6 * 60 * MINUTE, schedule=HOURLY)
    assert pass_at(engine, T0 + 6 * 60 * MINUTE + 2 * MINUTE).resolved == 1
    assert events(engine) == [(alert["id"], "opened"), (alert["id"], "resolved")]


def test_a_missed_run_resolved_by_hand_pages_once_and_its_next_miss_again(engine: Engine) -> None:
    """What users expect of a manual resolve: the missed slot it closed does not page
    again while the job stays late (the identity is the slot), a later missed slot is a
    new alert."""
    store_run(engine, "hourly", T0, schedule=HOURLY)
    late_at = job_row(engine, "hourly")["late_after_at"]
    assert pass_at(engine, late_at + dt.timedelta(seconds=1)).opened == 1
    first = one_open(engine, "missed")
    assert alert_centre.resolve(engine, first["id"], "ops")["changed"]
    for minutes in (1, 11, 25, 120):  # passes and sweeps, the job still late on that slot
        result = pass_at(engine, late_at + minutes * MINUTE)
        assert result.opened == result.silenced == 0
    assert [a["id"] for a in alerts(engine, "missed")] == [first["id"]]
    assert events(engine) == [(first["id"], "opened"), (first["id"], "resolved")]

    store_run(engine, "hourly", T0 + 3 * 60 * MINUTE, schedule=HOURLY)  # it runs again
    pass_at(engine, T0 + 3 * 60 * MINUTE + 2 * MINUTE)
    next_late = job_row(engine, "hourly")["late_after_at"]
    pass_at(engine, next_late + dt.timedelta(seconds=1))  # (and the passes before it)
    first_again, second = alerts(engine, "missed")
    assert first_again["resolved_by"] == "ops" and second["resolved_at"] is None
    assert second["id"] != first["id"] and second["instant"] == T0 + 4 * 60 * MINUTE
    assert events(engine)[-1] == (second["id"], "opened")


def test_a_late_run_inside_the_grace_does_not_alert(engine: Engine) -> None:
    store_run(engine, "hourly", T0, schedule=HOURLY)
    pass_at(engine, T0 + MINUTE)
    late_at = job_row(engine, "hourly")["late_after_at"]
    pass_at(engine, T0 + 61 * MINUTE)
    # It started a minute late, and reported before its grace ran out.
    store_run(engine, "hourly", T0 + 61 * MINUTE, schedule=HOURLY)
    for at in (late_at - MINUTE, late_at + MINUTE, late_at + 30 * MINUTE):
        pass_at(engine, at)
    assert alerts(engine) == [] and events(engine) == []


def test_a_paused_job_owes_nothing_and_a_window_silences(engine: Engine) -> None:
    store_run(engine, "paused", T0, schedule=HOURLY)
    store_run(engine, "quiet", T0, schedule=HOURLY)
    actions.apply(engine, "paused", "pause", "ops", host="web1")
    with engine.begin() as connection:
        connection.execute(
            tables.maintenance.insert().values(
                job="quiet", starts_at=T0, ends_at=T0 + 24 * 60 * MINUTE,
                reason="disk swap", created_by="ops", created_at=T0,
            )
        )  # fmt: skip
    pass_at(engine, T0 + 2 * MINUTE)
    pass_at(engine, T0 + 3 * 60 * MINUTE)
    [quiet] = alerts(engine)
    assert quiet["job"] == "quiet"
    assert quiet["silenced"] == f"maintenance window #{_window_id(engine)} by ops: disk swap"
    assert events(engine) == [], "nothing is announced"
    store_run(engine, "quiet", T0 + 3 * 60 * MINUTE, schedule=HOURLY)
    pass_at(engine, T0 + 3 * 60 * MINUTE + 5 * MINUTE)
    assert alerts(engine)[0]["resolved_at"] is not None
    assert events(engine) == [], "nor its end"


def _window_id(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(tables.maintenance.select()).one().id)


# ---------------------------------------------------------------- DST

# (zone, the day the clocks change): spring forward and fall back, 2030.
TRANSITIONS = [
    ("Europe/Berlin", dt.date(2030, 3, 31)),
    ("Europe/Berlin", dt.date(2030, 10, 27)),
    ("America/New_York", dt.date(2030, 3, 10)),
    ("America/New_York", dt.date(2030, 11, 3)),
]
SCHEDULES = {"hourly": HOURLY, "at_0230": "30 2 * * *", "daily": "0 0 * * *"}
STEP = dt.timedelta(minutes=30)


def simulate(engine: Engine, zone: str, day: dt.date) -> dict[str, dt.datetime]:
    """Six jobs in `zone` from the day before `day` to the morning after it, a pass every
    30 minutes: three run at every slot the state module expects; the `stopped_` ones
    stop running at 01:30 on the day, just before the change. Returns when each of those
    stopped."""
    local = ZoneInfo(zone)
    start = naive(dt.datetime.combine(day - dt.timedelta(days=1), dt.time(), local))
    stop = naive(dt.datetime.combine(day, dt.time(1, 30), local))
    end = naive(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6), local))
    names = [(prefix + name, schedule) for name, schedule in SCHEDULES.items()
             for prefix in ("", "stopped_")]  # fmt: skip
    for name, schedule in names:
        store_run(engine, name, start, schedule=schedule, zone=zone)
    at = start + STEP
    while at <= end:
        for name, schedule in names:
            while (due := job_row(engine, name)["next_expected_at"]) is not None and due <= at:
                if name.startswith("stopped_") and due >= stop:
                    break
                store_run(engine, name, due, schedule=schedule, zone=zone)
        pass_at(engine, at, fill=False)
        at += STEP
    return {name: stop for name, _schedule in names if name.startswith("stopped_")}


@pytest.mark.parametrize(("zone", "day"), TRANSITIONS, ids=str)
def test_dst_neither_double_alerts_nor_skips(
    engine: Engine, zone: str, day: dt.date, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pass every 30 simulated minutes, not every 4: no outage of the collector here.
    monkeypatch.setattr(alert_engine, "DOWN_AFTER", 2 * STEP)
    stopped = simulate(engine, zone, day)

    found = alerts(engine, "missed")
    assert sorted(row["job"] for row in found) == sorted(stopped), "one alert per stopped job"
    for row in found:
        job = job_row(engine, row["job"])
        assert row["instant"] == job["missed_at"], "the state module's first slot missed"
        assert row["instant"] >= stopped[row["job"]]
        assert row["resolved_at"] is None and row["repeats"] == 0
    assert [event for _id, event in events(engine)] == ["opened"] * len(stopped)


# ---------------------------------------------------------------- outages

JOBS = [f"job{n:02d}" for n in range(12)]


def _fleet(engine: Engine) -> None:
    for job in JOBS:
        store_run(engine, job, T0, schedule=HOURLY)
    pass_at(engine, T0 + MINUTE)


def test_a_six_hour_host_outage_gives_one_alert_per_job(engine: Engine) -> None:
    _fleet(engine)
    at = T0 + MINUTE
    while at <= T0 + 6 * 60 * MINUTE:
        pass_at(engine, at)
        at += 5 * MINUTE
    found = alerts(engine, "missed")
    assert sorted(row["job"] for row in found) == JOBS
    assert {row["instant"] for row in found} == {T0 + 60 * MINUTE}
    assert len(events(engine)) == len(JOBS)


def test_the_collector_back_from_six_hours_down_makes_no_storm(engine: Engine) -> None:
    _fleet(engine)
    pass_at(engine, T0 + 30 * MINUTE)
    back = T0 + 6 * 60 * MINUTE + 30 * MINUTE  # no pass for six hours

    first = pass_at(engine, back, fill=False)
    assert first.held and first.opened == 0, "its own downtime is not the jobs' fault"
    # Meanwhile the agents send what their spools kept: half the fleet did run.
    for job in JOBS[::2]:
        for hour in range(1, 7):
            store_run(engine, job, T0 + hour * 60 * MINUTE, schedule=HOURLY,
                      received=back + MINUTE)  # fmt: skip
    assert pass_at(engine, back + 5 * MINUTE).opened == 0
    result = pass_at(engine, back + CATCH_UP + MINUTE)

    assert not result.held
    found = alerts(engine, "missed")
    assert sorted(row["job"] for row in found) == JOBS[1::2], "one per job that did not run"
    assert all("the collector itself was down" in row["detail"] for row in found)
    assert {row["instant"] for row in found} == {T0 + 60 * MINUTE}
    assert pass_at(engine, back + CATCH_UP + 10 * MINUTE).opened == 0
    assert len(events(engine)) == len(JOBS[1::2])


def test_a_short_gap_between_passes_is_no_outage(engine: Engine) -> None:
    _fleet(engine)
    pass_at(engine, T0 + 60 * MINUTE)
    result = pass_at(engine, T0 + 60 * MINUTE + DOWN_AFTER)
    assert not result.held and result.outage is None
