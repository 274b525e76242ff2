"""Reports dated ahead of the collector's clock, and the hosts' clocks it keeps: the
5-minute rule at its edge (the writer's clock injected), through the real service, and
what the hosts rows, the JSON API and the hosts page make of it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
from typing import Any

import pytest
from smartcron.collector import clocks, heartbeats, ingest
from smartcron.collector.db import tables
from smartcron.collector.writer import GroupWriter
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, select

from tests.support.collector_api import assert_rejected, count_rows
from tests.support.service import Service, make_report

NOW = dt.datetime(2030, 6, 1, 12, 0)  # the collector's clock, naive UTC
UTC = dt.timezone.utc


def finishing_at(moment: dt.datetime, job: str = "sync", host: str = "web1") -> RunReport:
    """A run of 1.5 s that ended at `moment` (naive UTC) by its host's clock."""
    started = (moment - dt.timedelta(seconds=1.5)).replace(tzinfo=UTC)
    return RunReport.model_validate(make_report(job, host=host, started=started))


def at(engine: Engine, clock: dt.datetime, reports: list[RunReport]) -> ingest.Stored:
    """One request through the group writer, its clock saying `clock`."""
    writer = GroupWriter(engine, clock=lambda: clock)
    return asyncio.run(writer.ingest(reports))


def hosts_page(collector: Service) -> str:
    headers = {"Accept": "text/html", "Authorization": f"Bearer {collector.admin_token}"}
    page = collector.session.get(f"{collector.url}/hosts", headers=headers, timeout=30)
    assert page.status_code == 200, page.text[:300]
    return page.text


def health(engine: Engine, host: str) -> Any:
    with engine.connect() as connection:
        text = connection.execute(
            select(tables.hosts.c.health).where(tables.hosts.c.host == host)
        ).scalar_one()
    return json.loads(text)


# ---------------------------------------------------------------- the 5-minute rule


def test_five_minutes_ahead_is_taken_and_a_microsecond_more_is_refused(engine: Engine) -> None:
    edge = finishing_at(NOW + clocks.MAX_AHEAD, "edge")
    past = finishing_at(NOW + clocks.MAX_AHEAD + dt.timedelta(microseconds=1), "past")
    result = at(engine, NOW, [edge, past])
    assert (result.accepted, result.duplicates, list(result.refused)) == (1, 0, [1])
    assert result.refused[1].startswith("finished_at: 5 min ahead of the collector's clock")
    assert "clock of host 'web1'" in result.refused[1]
    with engine.connect() as connection:
        stored = connection.execute(select(tables.runs.c.job)).scalars().all()
    assert stored == ["edge"]


def test_a_lost_run_is_judged_by_its_start_having_no_end(engine: Engine) -> None:
    def lost(job: str, started: dt.datetime) -> RunReport:
        raw = make_report(job, status="lost", started=started.replace(tzinfo=UTC))
        return RunReport.model_validate(raw | {"finished_at": None, "duration_s": None})

    edge = lost("edge", NOW + clocks.MAX_AHEAD)
    past = lost("past", NOW + clocks.MAX_AHEAD + dt.timedelta(seconds=1))
    result = at(engine, NOW, [edge, past])
    assert (result.accepted, list(result.refused)) == (1, [1])
    assert result.refused[1].startswith("started_at: 5 min 1 s ahead")
    with engine.connect() as connection:
        stored = connection.execute(select(tables.runs.c.job, tables.runs.c.finished_at)).all()
    assert [tuple(row) for row in stored] == [("edge", None)]


def test_a_report_from_2190_no_longer_holds_its_job(engine: Engine) -> None:
    future = finishing_at(dt.datetime(2190, 1, 1))
    result = at(engine, NOW, [future])
    assert result.accepted == 0 and "58,287 d 12 h ahead of the collector's" in result.refused[0]
    assert count_rows(engine, tables.jobs) == 0
    # The host's next report, dated right, moves the job as any other.
    later = finishing_at(NOW - dt.timedelta(minutes=1))
    assert at(engine, NOW, [later]).accepted == 1
    with engine.connect() as connection:
        last = connection.execute(select(tables.jobs.c.last_run_id)).scalar_one()
    assert last == str(later.run_id)


def test_a_heartbeat_keeps_the_estimate_and_ingest_keeps_the_heartbeat(engine: Engine) -> None:
    # Both write the host's health: the agent's heartbeat (its "clock" is the host's time
    # as it read it) and ingest's estimate under its own key. Neither erases the other.
    at(engine, NOW, [finishing_at(NOW + dt.timedelta(hours=2))])
    beat = heartbeats.Heartbeat.model_validate(
        {"host": "web1", "agent_version": "0.2.0", "clock": "2030-06-01T14:00:00Z"}
    )
    heartbeats.store_heartbeat(engine, beat, now=NOW)
    stored = health(engine, "web1")
    assert stored["clock"] == "2030-06-01T14:00:00Z"
    assert stored["reports_clock"]["ahead_s"] == 7200.0
    at(engine, NOW, [finishing_at(NOW - dt.timedelta(minutes=30))])
    stored = health(engine, "web1")
    assert (stored["clock"], stored["reports_clock"]["ahead_s"]) == ("2030-06-01T14:00:00Z", 0.0)


def test_reports_do_not_keep_a_silent_agents_runs_in_flight(engine: Engine) -> None:
    # Ingest moves the host's last_seen_at with its clock note; whether a heartbeat's runs
    # in flight are current is the heartbeat's own time to say.
    running = {"job": "backup", "pid": 4242, "started_at": "2030-06-01T11:59:00Z"}
    beat = heartbeats.Heartbeat.model_validate(
        {"host": "web1", "agent_version": "0.2.0", "running": [running]}
    )
    heartbeats.store_heartbeat(engine, beat, now=NOW)
    assert list(heartbeats.running_now(engine, now=NOW)) == [("backup", "web1")]
    later = NOW + dt.timedelta(minutes=10)
    at(engine, later, [finishing_at(later, "sync")])  # the agent is silent, a wrapper not
    assert heartbeats.running_now(engine, now=later) == {}


def test_the_hosts_clock_is_kept_in_its_health(engine: Engine) -> None:
    at(engine, NOW, [finishing_at(NOW + dt.timedelta(hours=2))])
    assert health(engine, "web1") == {
        "reports_clock": {"ahead_s": 7200.0, "checked_at": "2030-06-01T12:00:00.000000Z"}
    }
    # In step again: the next report brings it back to 0 (a clock behind reads as 0).
    at(engine, NOW, [finishing_at(NOW - dt.timedelta(minutes=30))])
    assert health(engine, "web1")["reports_clock"]["ahead_s"] == 0.0


def test_the_clock_is_merged_into_what_the_agent_keeps_there(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(tables.hosts.insert(), [
            {"host": "web1", "first_seen_at": NOW, "last_seen_at": NOW,
             "health": json.dumps({"disk": {"free_pct": 40}, "reports_clock": {"ahead_s": 9}})},
            {"host": "web2", "first_seen_at": NOW, "last_seen_at": NOW, "health": "{broken"},
        ])  # fmt: skip
    at(engine, NOW, [finishing_at(NOW + dt.timedelta(seconds=90)), finishing_at(NOW, host="web2")])
    assert health(engine, "web1") == {
        "disk": {"free_pct": 40},
        "reports_clock": {"ahead_s": 90.0, "checked_at": "2030-06-01T12:00:00.000000Z"},
    }
    assert health(engine, "web2")["reports_clock"]["ahead_s"] == 0.0  # not JSON: replaced


def test_a_process_writes_a_clock_again_only_when_it_moved_or_grew_old() -> None:
    moments = [100.0]
    notes = clocks.ClockNotes(clock=lambda: moments[0])
    assert notes.due({"a": 0.0, "b": 30.0}) == {"a": 0.0, "b": 30.0}  # never written
    notes.noted({"a": 0.0, "b": 30.0})
    assert notes.due({"a": 0.4, "b": 31.0}) == {"b": 31.0}  # b moved a second
    moments[0] += clocks.REFRESH_S
    assert notes.due({"a": 0.4}) == {"a": 0.4}  # a minute on: written again


@pytest.mark.parametrize(
    "health",
    [None, [], {"reports_clock": 3}, {"reports_clock": {"ahead_s": "x", "checked_at": "t"}},
     {"reports_clock": {"ahead_s": True, "checked_at": "t"}}, {"reports_clock": {"ahead_s": 1}}],
)  # fmt: skip
def test_a_health_without_a_clock_of_that_shape_reads_as_none(health: Any) -> None:
    assert clocks.read_clock(health) is None


# ---------------------------------------------------------------- through the service


def test_a_report_an_hour_ahead_is_refused_naming_the_hosts_clock(
    collector: Service, schema_engine: Engine
) -> None:
    host = f"skewed-{secrets.token_hex(3)}"  # the service's notes outlive a test
    ahead = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    report = make_report(host=host, started=ahead)
    [rejected] = assert_rejected(collector.post_runs([report]), 422, {0: ("finished_at",)})
    assert f"clock of host '{host}'" in rejected["error"] and ": 1 h " in rejected["error"]
    assert rejected["run_id"] == report["run_id"]
    assert count_rows(schema_engine, tables.runs) == 0

    [listed] = [h for h in collector.get("/api/v1/hosts").json()["hosts"] if h["host"] == host]
    assert 3590 <= listed["clock_ahead_s"] <= 3610, listed
    assert "1 h ahead" in hosts_page(collector)

    # Set right: the next report is taken and the host is in step again.
    fixed = make_report(host=host)
    assert collector.post_runs([fixed]).json()["accepted"] == 1
    [listed] = [h for h in collector.get("/api/v1/hosts").json()["hosts"] if h["host"] == host]
    assert listed["clock_ahead_s"] == 0.0
    assert "in step" in hosts_page(collector)


def test_a_report_a_minute_ahead_is_taken(collector: Service) -> None:
    report = make_report(host=f"drift-{secrets.token_hex(3)}",
                         started=dt.datetime.now(UTC) + dt.timedelta(minutes=1))  # fmt: skip
    answer = collector.post_runs([report])
    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}, answer.text
