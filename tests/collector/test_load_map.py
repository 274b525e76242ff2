"""The schedule load map: job starts per minute over the next 24 hours, from the distinct
(schedule, zone) pairs, equal to what counting job by job with next_slot gives; through
the real service on SQLite and MySQL (/api/v1/schedule-load and /load), and as a pure
function of an injected time across clock changes."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from smartcron.collector.db import tables
from smartcron.collector.load_map import build
from smartcron.wrapper.slots import load_zone, next_slot
from sqlalchemy import Engine, insert

from tests.support.service import Service

UTC = dt.timezone.utc
MIN = dt.timedelta(minutes=1)


def per_job(jobs: list[tuple[str, str, str]], start: dt.datetime, hours: int = 24) -> Counter[Any]:
    """The peer: each job's runs one next_slot() at a time, counted in their minute."""
    counts: Counter[Any] = Counter()
    end = start + dt.timedelta(hours=hours)
    for schedule, zone, host in jobs:
        moment = (start - MIN).replace(tzinfo=UTC)
        while True:
            moment = next_slot(schedule, load_zone(zone), moment)
            minute = moment.replace(tzinfo=None, second=0)
            if minute >= end:
                break
            if minute >= start:
                counts[minute] += 1
                counts[(host, minute)] += 1
    return counts


def test_the_top_of_the_hour_pile_up_fleet_wide_and_per_host() -> None:
    groups = [("0 * * * *", "UTC", "web1", 10), ("0 * * * *", "UTC", "web2", 5),
              ("*/15 * * * *", "UTC", "web1", 2), ("7 3 * * *", "Asia/Tokyo", "db1", 1),
              ("nonsense", "UTC", "web3", 4), ("0 * * * *", "Mars/Base", "web3", 1)]  # fmt: skip
    found = build(groups, dt.datetime(2026, 6, 1, 11, 59, 30))
    assert found.start == dt.datetime(2026, 6, 1, 12, 0)
    assert len(found.minutes) == 24 * 60
    assert (found.jobs, found.schedules, found.unreadable) == (18, 5, 5)
    # Every hour at :00: 15 hourly jobs and 2 quarter-hourly ones.
    assert found.busiest(3) == [(dt.datetime(2026, 6, 1, 12 + h, 0), 17) for h in range(3)]
    assert found.minutes[15] == 2 and found.minutes[1] == 0
    assert found.minutes[(18 - 12) * 60 + 7] == 1  # 03:07 in Tokyo is 18:07 UTC
    assert sum(found.minutes) == 24 * 15 + 96 * 2 + 1
    assert found.host_peaks() == [
        ("web1", 24 * 10 + 96 * 2, dt.datetime(2026, 6, 1, 12, 0), 12),
        ("web2", 24 * 5, dt.datetime(2026, 6, 1, 12, 0), 5),
        ("db1", 1, dt.datetime(2026, 6, 1, 18, 7), 1),
    ]
    rows = found.hours()
    assert len(rows) == 24 and rows[0][0] == 17  # the window starts on a whole hour here


def test_clock_changes_move_starts_as_cron_does() -> None:
    # Berlin, 2026-03-29 02:00 CET -> 03:00 CEST: `30 2 * * *` runs once at the jump
    # (01:00 UTC) and `*/30 * * * *` not at all in the skipped hour.
    groups = [("30 2 * * *", "Europe/Berlin", "a", 1), ("*/30 * * * *", "Europe/Berlin", "a", 1)]
    now = dt.datetime(2026, 3, 28, 12, 20)
    found = build(groups, now)
    start = found.start
    assert start == dt.datetime(2026, 3, 28, 12, 21)
    expected = per_job([(s, z, h) for s, z, h, _ in groups], start)
    assert {start + i * MIN: n for i, n in enumerate(found.minutes) if n} == {
        k: v for k, v in expected.items() if isinstance(k, dt.datetime)
    }
    assert found.minutes[int((dt.datetime(2026, 3, 29, 1, 0) - start) / MIN)] == 2
    # A row per clock hour: 12:00 (from 12:21 on) to 12:00 the next day, 25 rows.
    rows = found.hours()
    assert len(rows) == 25 and rows[0][:21] == [None] * 21 and rows[0][21] == 0
    # New York, 2026-11-01 01:00-02:00 happens twice: a wildcard job runs in both.
    fall = build([("15 * * * *", "America/New_York", "b", 3)], dt.datetime(2026, 10, 31, 23, 59))
    assert fall.minutes[5 * 60 + 15] == 3 and fall.minutes[6 * 60 + 15] == 3  # 01:15 EDT, EST
    assert sum(fall.minutes) == 24 * 3  # one an hour of real time, either side of it


def add_jobs(engine: Engine, jobs: list[dict[str, Any]]) -> None:
    now = dt.datetime.now(UTC).replace(tzinfo=None)
    rows = [{"priority": 5, "command": "true", "first_seen_at": now, "breaker_state": "closed",
             "paused": False, "state": "healthy", "state_reason": "", "review_at": None,
             "timezone": None, **job} for job in jobs]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(tables.jobs), rows)


def fleet_of(count: int) -> list[dict[str, Any]]:
    shapes = [("0 * * * *", "UTC"), ("*/5 * * * *", "UTC"), ("30 2 * * *", "Europe/Berlin"),
              ("0 9 * * 1-5", "America/New_York"), ("15,45 * * * *", None),
              ("@daily", "UTC")]  # fmt: skip
    return [
        {"job": f"job{n:04d}", "host": f"host{n % 7}", "schedule": shapes[n % len(shapes)][0],
         "timezone": shapes[n % len(shapes)][1]}
        for n in range(count)
    ]  # fmt: skip


def test_the_api_counts_what_each_job_would_start(
    collector: Service, schema_engine: Engine
) -> None:
    jobs = fleet_of(300)
    jobs += [{"job": "paused_one", "host": "host1", "schedule": "0 * * * *", "paused": True},
             {"job": "unscheduled", "host": "host1", "schedule": None},
             {"job": "odd", "host": "host2", "schedule": "0 * * * *",
              "timezone": "Nowhere/Atlantis"}]  # fmt: skip
    add_jobs(schema_engine, jobs)
    answer = collector.get("/api/v1/schedule-load")
    assert answer.status_code == 200, answer.text[:300]
    body = answer.json()
    start = dt.datetime.fromisoformat(body["start"].rstrip("Z"))
    assert start.second == 0 and len(body["minutes"]) == 24 * 60
    assert (body["jobs"], body["unreadable_jobs"], body["schedules"]) == (300, 1, 7)
    scheduled = [(j["schedule"], j["timezone"] or "UTC", j["host"]) for j in fleet_of(300)]
    expected = per_job(scheduled, start)
    assert {start + i * MIN: n for i, n in enumerate(body["minutes"]) if n} == {
        k: v for k, v in expected.items() if isinstance(k, dt.datetime)
    }
    top = max(body["minutes"])
    assert body["busiest"][0]["jobs"] == top
    hosts = {item["host"]: item for item in body["hosts"]}
    assert set(hosts) == {f"host{n}" for n in range(7)}
    for name, item in hosts.items():
        mine = {k[1]: v for k, v in expected.items() if isinstance(k, tuple) and k[0] == name}
        assert item["starts"] == sum(mine.values())
        assert item["busiest_jobs"] == max(mine.values())

    one = collector.get("/api/v1/schedule-load", params={"host": "host3", "hours": 2}).json()
    assert one["host"] == "host3" and len(one["minutes"]) == 120
    mine = per_job([s for s in scheduled if s[2] == "host3"], start, hours=2)
    assert sum(one["minutes"]) == sum(v for k, v in mine.items() if isinstance(k, dt.datetime))
    assert collector.get("/api/v1/schedule-load", params={"hours": 0}).status_code == 422
    assert collector.get("/api/v1/schedule-load", token=None).status_code == 401

    page = collector.get("/load")
    assert page.status_code == 200
    assert '<svg class="load"' in page.text and 'href="/load?host=host0"' in page.text
    assert "300 scheduled jobs" in page.text and "1 job left out" in page.text
    narrowed = collector.get("/load", params={"host": "host3"})
    assert "Schedule load on host3" in narrowed.text


def test_a_job_reads_its_schedule_in_words_and_its_next_runs(
    collector: Service, schema_engine: Engine
) -> None:
    add_jobs(schema_engine, [{"job": "nightly", "host": "db1", "schedule": "30 2 * * *",
                       "timezone": "Europe/Berlin"}])  # fmt: skip
    body = collector.get("/api/v1/jobs/nightly").json()
    (item,) = body["hosts"]
    assert item["schedule_text"] == "At 02:30"
    assert len(item["next_runs"]) == 5 and len(item["next_runs_local"]) == 5
    for utc, local in zip(item["next_runs"], item["next_runs_local"], strict=True):
        moment = dt.datetime.fromisoformat(local)
        assert moment.astimezone(UTC).replace(tzinfo=None).isoformat() == utc.rstrip("Z")[:19]
        # 02:30 in Berlin, or 03:00 on the day 02:30 does not exist
        assert (moment.hour, moment.minute) in ((2, 30), (3, 0))
