"""The host rules and still_running (collector/alerting/hosts.py) on both backends, from
heartbeats stored as the collector stores them, at injected moments."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from smartcron.collector.alert_centre import resolve
from smartcron.collector.alerting.hosts import SILENT_AFTER, SPOOL_STUCK
from smartcron.collector.db import tables
from sqlalchemy import Engine, event, select, update

from tests.support.alerts import alerts, beat, events, one_open, pass_at, store_run
from tests.support.service import iso

T0 = dt.datetime(2030, 6, 10, 8, 0, 0, tzinfo=dt.timezone.utc)
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


def test_a_silent_host_opens_once_and_its_heartbeat_resolves_it(engine: Engine) -> None:
    beat(engine, "db1", T0)
    pass_at(engine, T0 + SILENT_AFTER)
    assert alerts(engine) == [], "exactly three intervals is not yet silent"
    pass_at(engine, T0 + SILENT_AFTER + SECOND)
    silent = one_open(engine, "host_silent")
    assert (silent["job"], silent["host"], silent["severity"]) == ("", "db1", "high")
    pass_at(engine, T0 + 10 * MINUTE)
    assert one_open(engine, "host_silent")["id"] == silent["id"]
    beat(engine, "db1", T0 + 11 * MINUTE)
    pass_at(engine, T0 + 11 * MINUTE + SECOND)
    assert alerts(engine, "host_silent")[0]["resolved_at"] is not None
    assert events(engine) == [(silent["id"], "opened"), (silent["id"], "resolved")]


def test_a_host_without_an_agent_is_never_silent(engine: Engine) -> None:
    store_run(engine, "reports_only", T0, schedule=None)
    pass_at(engine, T0 + 30 * MINUTE)
    assert alerts(engine) == []


def test_disk_spool_and_clock(engine: Engine) -> None:
    beat(engine, "db1", T0, disk_free_pct={"state_dir": 4.5, "logs": 40.0},
         spool={"depth": 7, "oldest_at": iso(T0 - SPOOL_STUCK - MINUTE)},
         clock=iso(T0 + 2 * MINUTE))  # fmt: skip
    pass_at(engine, T0 + SECOND)
    found = {row["rule"]: row for row in alerts(engine)}
    assert sorted(found) == ["clock_skew", "host_disk_low", "spool_backlog"]
    assert found["host_disk_low"]["summary"] == "db1: 4.5 % free on state_dir"
    assert "7 reports waiting" in found["spool_backlog"]["summary"]
    assert "120 s ahead" in found["clock_skew"]["summary"]

    beat(engine, "db1", T0 + 30 * SECOND, disk_free_pct={"state_dir": 50.0})
    pass_at(engine, T0 + 31 * SECOND)
    assert all(row["resolved_at"] is not None for row in alerts(engine))
    assert sorted(event for _id, event in events(engine)) == ["opened"] * 3 + ["resolved"] * 3


def test_a_run_past_its_timeout_and_grace_is_still_running(engine: Engine) -> None:
    store_run(engine, "backup", T0 - 60 * MINUTE, schedule=None, priority=1)
    started = T0 - 20 * MINUTE
    running = [{"job": "backup", "pid": 4242, "started_at": iso(started), "timeout_s": 600,
                "run_id": "11111111-1111-4111-8111-111111111111"}]  # fmt: skip
    # No schedule, no --grace: the default grace's floor, 5 minutes (state.run_grace).
    limit = started + 10 * MINUTE + 5 * MINUTE  # make_report's jobs run on web1
    beat(engine, "web1", limit - MINUTE, running=running)
    pass_at(engine, limit)
    assert alerts(engine) == [], "inside timeout plus grace"
    beat(engine, "web1", T0, running=running)
    pass_at(engine, T0 + SECOND)
    alert = one_open(engine, "still_running")
    assert (alert["job"], alert["host"], alert["instant"]) == (
        "backup",
        "web1",
        started.replace(tzinfo=None),
    )
    assert alert["severity"] == "critical" and alert["run_id"].startswith("1111")
    beat(engine, "web1", T0 + MINUTE, running=[])
    pass_at(engine, T0 + MINUTE + SECOND)
    assert alerts(engine, "still_running")[0]["resolved_at"] is not None


def test_a_host_window_silences_its_host_alerts(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            tables.maintenance.insert().values(
                host="db1", starts_at=T0.replace(tzinfo=None) - MINUTE, ends_at=None,
                schedule="0 8 * * *", timezone="UTC", duration_s=3600,
                reason="nightly reboot", created_by="ops", created_at=T0.replace(tzinfo=None),
            )
        )  # fmt: skip
    beat(engine, "db1", T0)
    pass_at(engine, T0 + 5 * MINUTE)
    [silent] = alerts(engine)
    assert silent["silenced"].endswith("nightly reboot") and events(engine) == []
    beat(engine, "db1", T0 + 70 * MINUTE)
    pass_at(engine, T0 + 70 * MINUTE + SECOND)
    assert alerts(engine)[0]["resolved_at"] is not None
    pass_at(engine, T0 + 75 * MINUTE)  # the window ended at 09:00: this one is announced
    assert [row["silenced"] for row in alerts(engine)] == [silent["silenced"], None]
    assert [event for _id, event in events(engine)] == ["opened"]


# Each host rule's condition as a heartbeat shows it; without it, the heartbeat is fine.
LOW_DISK = {"disk_free_pct": {"state_dir": 4.5}}
EPISODE_RULES = ("clock_skew", "host_disk_low")


def health_of(rule: str, at: dt.datetime, holds: bool) -> dict[str, Any]:
    if not holds:
        return {"disk_free_pct": {"state_dir": 50.0}}  # and beat()'s clock is right
    if rule == "clock_skew":
        return {"clock": iso(at + 2 * MINUTE)}
    return LOW_DISK


@pytest.mark.parametrize("rule", EPISODE_RULES)
def test_one_episode_is_one_alert_even_after_a_manual_resolve(engine: Engine, rule: str) -> None:
    beat(engine, "db1", T0, **health_of(rule, T0, True))
    pass_at(engine, T0 + SECOND)
    first = one_open(engine, rule)
    assert first["instant"] == T0.replace(tzinfo=None), "the episode began at this heartbeat"
    assert resolve(engine, first["id"], "ops")["changed"] is True
    for step in range(1, 5):  # the condition holds through four more heartbeats
        at = T0 + step * 30 * SECOND
        beat(engine, "db1", at, **health_of(rule, at, True))
        pass_at(engine, at + SECOND)
    [still] = alerts(engine, rule)
    assert (still["id"], still["resolved_by"]) == (first["id"], "ops"), "it did not reopen"

    ended = T0 + 150 * SECOND
    beat(engine, "db1", ended, **health_of(rule, ended, False))
    pass_at(engine, ended + SECOND)
    again = T0 + 180 * SECOND
    beat(engine, "db1", again, **health_of(rule, again, True))
    pass_at(engine, again + SECOND)
    second = one_open(engine, rule)
    assert second["id"] != first["id"] and second["instant"] == again.replace(tzinfo=None)
    assert events(engine) == [(first["id"], "opened"), (first["id"], "resolved"),
                              (second["id"], "opened")]  # fmt: skip


def test_an_open_host_alert_keeps_the_instant_its_condition_began(engine: Engine) -> None:
    for step in range(3):
        at = T0 + step * 30 * SECOND
        beat(engine, "db1", at, **LOW_DISK)
        pass_at(engine, at + SECOND)
    alert = one_open(engine, "host_disk_low")
    assert (alert["instant"], alert["repeats"]) == (T0.replace(tzinfo=None), 2)


def test_a_draining_spool_backlog_stays_one_episode(engine: Engine) -> None:
    """The oldest report changes as the spool drains; the backlog is the same one."""
    oldest = T0 - SPOOL_STUCK - 5 * MINUTE
    beat(engine, "db1", T0, spool={"depth": 9, "oldest_at": iso(oldest)})
    pass_at(engine, T0 + SECOND)
    first = one_open(engine, "spool_backlog")
    assert first["instant"] == oldest.replace(tzinfo=None)
    resolve(engine, first["id"], "ops")
    later = T0 + 30 * SECOND
    beat(engine, "db1", later, spool={"depth": 8, "oldest_at": iso(oldest + MINUTE)})
    pass_at(engine, later + SECOND)
    assert [row["id"] for row in alerts(engine, "spool_backlog")] == [first["id"]]


def test_a_silent_host_resolved_by_hand_stays_resolved_until_it_beats(engine: Engine) -> None:
    beat(engine, "db1", T0)
    pass_at(engine, T0 + SILENT_AFTER + SECOND)
    silent = one_open(engine, "host_silent")
    resolve(engine, silent["id"], "ops")
    pass_at(engine, T0 + 10 * MINUTE)
    assert [row["id"] for row in alerts(engine, "host_silent")] == [silent["id"]]
    beat(engine, "db1", T0 + 11 * MINUTE)
    pass_at(engine, T0 + 11 * MINUTE + SECOND)
    pass_at(engine, T0 + 11 * MINUTE + SILENT_AFTER + 2 * SECOND)  # silent again: new episode
    assert len(alerts(engine, "host_silent")) == 2
    assert one_open(engine, "host_silent")["instant"] == (T0 + 11 * MINUTE).replace(tzinfo=None)


def test_a_fleet_going_silent_is_opened_in_a_statement_per_rule(engine: Engine) -> None:
    """200 hosts silent at once, each with a run past its timeout: one INSERT of their
    episodes and one of the alerts per rule, not a round trip per alert (at 6,000 hosts
    those took seconds of a pass, holding the GIL the requests wait for)."""
    hosts = [f"web{n:03d}" for n in range(200)]
    running = [{"run_id": "0" * 32, "job": "backup", "pid": 42,
                "started_at": iso(T0 - 2 * dt.timedelta(hours=1)), "timeout_s": 60.0}]  # fmt: skip
    for host in hosts:
        beat(engine, host, T0, running=running)
    pass_at(engine, T0 + SECOND)
    assert len(alerts(engine, "still_running")) == 200
    inserts: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement.split("(", maxsplit=1)[0])

    event.listen(engine, "before_cursor_execute", count)
    try:
        pass_at(engine, T0 + SILENT_AFTER + SECOND)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(alerts(engine, "host_silent")) == 200
    into = [statement.split()[-1] for statement in inserts]
    assert into.count("smartcron_alerts") == 1, inserts
    assert into.count("smartcron_host_conditions") == 1, inserts
    assert len(events(engine)) == 400, "each opening has its event"


def nested(levels: int) -> Any:
    value: Any = "deep"
    for _ in range(levels):
        value = [value]
    return value


# What a collector before the heartbeat's bound on `jobs` stored from an agent's JSON:
# json.dumps writes NaN and Infinity (from 1e400) as Python reads them, and pydantic
# took a job nested 150 levels deep.
STORED_BEFORE = {"NaN": "NaN", "Infinity": "Infinity", "40 levels": json.dumps(nested(40))}


@pytest.mark.parametrize("value", list(STORED_BEFORE.values()), ids=list(STORED_BEFORE))
def test_a_stored_health_the_database_cannot_read_is_read_as_the_rules_always_did(
    engine: Engine, value: str
) -> None:
    """read_health strips `jobs` with the database's JSON functions, which call NaN and
    Infinity invalid (JSON has neither) and MariaDB anything nested past 32 levels:
    such a host read as {}, never silent and its disk never low, while the state module
    (Python's json) read the same row. It is read in Python then, as before."""
    beat(engine, "db1", T0, **LOW_DISK)
    h = tables.hosts.c
    with engine.begin() as connection:
        health = connection.execute(select(h.health).where(h.host == "db1")).scalar_one()
        spoiled = health.replace('"jobs":null', f'"jobs":[{{"x":{value}}}]')
        assert spoiled != health
        connection.execute(update(tables.hosts).where(h.host == "db1").values(health=spoiled))
    pass_at(engine, T0 + SECOND)
    assert one_open(engine, "host_disk_low")["host"] == "db1"
    pass_at(engine, T0 + SILENT_AFTER + 2 * SECOND)
    assert one_open(engine, "host_silent")["host"] == "db1"
