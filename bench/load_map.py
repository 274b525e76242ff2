"""What the schedule load map costs for 10,000 jobs: from the distinct (schedule, zone)
pairs (collector/load_map.py), against the peer that walks each job's slots on its own
(slots_between per job, what working job by job costs), measured in the same run, on a
SQLite store of the jobs (the reads included). Walking with next_slot() one run at a
time, as a first version might, is slower still: about 0.17 s a job on this machine.

    .venv/bin/python bench/load_map.py [--jobs 10000] [--hosts 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from smartcron.collector.db import tables
from smartcron.collector.db.engine import create_db_engine
from smartcron.collector.db.migrate import migrate
from smartcron.collector.load_map import load_map
from smartcron.wrapper.slots import load_zone, slots_between
from sqlalchemy import Engine, insert, select

from bench.table import Row, print_table

UTC = dt.timezone.utc
MIN = dt.timedelta(minutes=1)
# What crontabs hold: the top of the hour, quarter hours, nightly jobs in local zones.
SHAPES = [
    ("0 * * * *", "UTC"), ("*/5 * * * *", "UTC"), ("*/15 * * * *", "Europe/Berlin"),
    ("30 2 * * *", "Europe/Berlin"), ("0 3 * * *", "America/New_York"), ("@daily", None),
    ("15,45 * * * *", "UTC"), ("0 9 * * 1-5", "America/New_York"), ("*/10 * * * *", None),
    ("0 0 * * 0", "Asia/Tokyo"), ("5 * * * *", "UTC"), ("0 */2 * * *", "Europe/London"),
]  # fmt: skip
TARGET_S = 1.0  # the page must answer well inside the summary's refresh


def fill(engine: Engine, jobs: int, hosts: int) -> None:
    now = dt.datetime.now(UTC).replace(tzinfo=None)
    rows = [{"job": f"job{n:05d}", "host": f"host{n % hosts:03d}", "priority": 5,
             "command": "true", "first_seen_at": now, "breaker_state": "closed",
             "paused": False, "state": "healthy", "state_reason": "", "review_at": None,
             "schedule": SHAPES[n % len(SHAPES)][0], "timezone": SHAPES[n % len(SHAPES)][1]}
            for n in range(jobs)]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(tables.jobs), rows)


def per_job(engine: Engine, now: dt.datetime) -> Counter[dt.datetime]:
    """The peer: read every job, walk each one's slots on its own."""
    j = tables.jobs.c
    with engine.connect() as connection:
        jobs = connection.execute(select(j.schedule, j.timezone, j.host)).all()
    start = now.replace(second=0, microsecond=0) + MIN
    end = start + dt.timedelta(hours=24)
    counts: Counter[dt.datetime] = Counter()
    low, high = (start - MIN).replace(tzinfo=UTC), end.replace(tzinfo=UTC)
    for schedule, zone, _host in jobs:
        for moment in slots_between(schedule, load_zone(zone), low, high):
            minute = moment.replace(tzinfo=None, second=0)
            if start <= minute < end:
                counts[minute] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)
        fill(engine, options.jobs, options.hosts)
        now = dt.datetime(2026, 3, 28, 12, 0, 30)  # a spring-forward inside the window
        ours, theirs = [], []
        for _ in range(options.rounds):  # alternated, so both see the same load
            begin = time.perf_counter()
            found = load_map(engine, now)
            ours.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            peer = per_job(engine, now)
            theirs.append(time.perf_counter() - begin)
        engine.dispose()
    same = {found.start + i * MIN: n for i, n in enumerate(found.minutes) if n} == dict(peer)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(f"{options.jobs} jobs on {options.hosts} hosts, {found.schedules} distinct "
          f"(schedule, zone) pairs, {sum(found.minutes)} starts in 24 h; "
          f"the two agree minute by minute: {same}")  # fmt: skip
    print_table(
        [Row("load map, 24 h, median s", f"{ours_s:.3f}", f"{theirs_s:.3f}",
             f"{ours_s / theirs_s:.3f}", f"≤ {TARGET_S} s", ours_s <= TARGET_S and same)],
        peer_header="per job",
    )  # fmt: skip


if __name__ == "__main__":
    main()
