"""The alert engine's pass over a large fleet, on MariaDB (issue 11's first two figures).

    .venv/bin/python bench/alerts.py [--jobs 100000] [--storm 10000] [--quiet-passes 5]

Loads a database of its own (smartcron_bench_alert_pass; dropped at the end unless --keep)
with --jobs jobs, their state rows as the state module decides them at the start: most
daily (`30 2 * * *`, ran today), --storm of them hourly and owed the 10:00 run. Then,
with an injected clock, run_pass (collector/alerting/engine.py) as serve runs it:

- a pass with nothing new (median of --quiet-passes, each a second after the last),
  against a peer measured in the same run: one full read of every job's state row, what
  a pass that looked at every job would cost at the least;
- the storm: the pass at the moment the hourly jobs' grace ends, which finds all of them
  late (the state module decides it, in the pass) and opens one alert, with its outbox
  event, per job; against a peer: the same number of alert rows and events written by
  two bulk INSERTs, with no detection at all.

Prints the figures and PASS/MISS against the targets (≤ 1 s, ≤ 5 s); never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from smartcron.collector.alerting.engine import run_pass
from smartcron.collector.db import tables
from smartcron.collector.db.engine import create_db_engine
from smartcron.collector.db.migrate import migrate
from smartcron.collector.state import JobFacts, decide_state
from sqlalchemy import Engine, delete, func, select, text

from bench.collector_support import Server, own_database, print_table
from bench.table import Row

DATABASE = "smartcron_bench_alert_pass"
START = dt.datetime(2030, 6, 10, 10, 0, 30)  # naive UTC, as stored
HOSTS = 200
CHUNK = 5000


def job_rows(jobs: int, storm: int) -> list[dict[str, Any]]:
    """Every job's row, its state decided by state.py at START."""
    rows = []
    for n in range(jobs):
        hourly = n < storm
        schedule = "0 * * * *" if hourly else "30 2 * * *"
        last = dt.datetime(2030, 6, 10, 9 if hourly else 2, 0 if hourly else 30, 1)
        facts = JobFacts(schedule=schedule, timezone="UTC", first_seen_at=last,
                         last_status="success", last_started_at=last,
                         last_duration_s=30.0)  # fmt: skip
        state = decide_state(facts, START)
        rows.append({
            "job": f"job{n:06d}", "host": f"host{n % HOSTS:03d}", "schedule": schedule,
            "priority": 1 + n % 10, "command": "php /srv/job.php", "first_seen_at": last,
            "last_run_id": None, "last_status": "success", "last_started_at": last,
            "last_finished_at": last + dt.timedelta(seconds=30), "last_success_at": last,
            "last_duration_s": 30.0, "breaker_state": "closed", "paused": False,
            "timezone": "UTC", "state": state.state, "state_reason": state.reason,
            "next_expected_at": state.next_expected_at, "late_after_at": state.late_after_at,
            "missed_at": state.missed_at, "review_at": state.review_at,
        })  # fmt: skip
    return rows


def load(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(tables.jobs.insert(), rows[start : start + CHUNK])


def full_read(engine: Engine) -> float:
    """The peer: one read of every job's state row."""
    j = tables.jobs.c
    started = time.perf_counter()
    with engine.connect() as connection:
        count = sum(1 for _row in connection.execute(select(j.job, j.host, j.state,
                                                            j.late_after_at)))  # fmt: skip
    assert count > 0
    return time.perf_counter() - started


def bulk_alerts(engine: Engine, count: int, at: dt.datetime) -> float:
    """The peer of the storm: as many alert rows and events, two bulk INSERTs, in a
    transaction rolled back (the database is left as it was)."""
    rows = [{"rule": "bench", "job": f"job{n:06d}", "host": "x", "severity": "info",
             "summary": "s", "detail": "", "instant": at, "opened_at": at, "last_seen_at": at,
             "repeats": 0, "open_key": 1} for n in range(count)]  # fmt: skip
    started = time.perf_counter()
    with engine.connect() as connection, connection.begin() as transaction:
        for start in range(0, count, CHUNK):
            connection.execute(tables.alerts.insert(), rows[start : start + CHUNK])
        ids = [row.id for row in connection.execute(
            select(tables.alerts.c.id).where(tables.alerts.c.rule == "bench"))]  # fmt: skip
        events = [{"alert_id": i, "event": "opened", "created_at": at} for i in ids]
        for start in range(0, count, CHUNK):
            connection.execute(tables.alert_events.insert(), events[start : start + CHUNK])
        elapsed = time.perf_counter() - started
        transaction.rollback()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mysql", default="127.0.0.1:3306", metavar="HOST:PORT")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--storm", type=int, default=10_000)
    parser.add_argument("--quiet-passes", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    host, _, port = args.mysql.rpartition(":")
    server = Server(host=host, port=int(port))
    with own_database(server, DATABASE, keep=args.keep) as name:
        engine = create_db_engine(server.url(name))
        migrate(engine)
        rows = job_rows(args.jobs, args.storm)
        late_at = min(r["late_after_at"] for r in rows[: args.storm])
        load(engine, rows)
        with engine.begin() as connection:
            connection.execute(text("ANALYZE TABLE smartcron_jobs"))
        run_pass(engine, START)  # the first pass: cursors and its sweep

        quiet, peers = [], []
        for n in range(args.quiet_passes):
            peers.append(full_read(engine))
            result = run_pass(engine, START + dt.timedelta(seconds=n + 1))
            assert result.opened == 0, result
            quiet.append(result.seconds)
        storm_pass = run_pass(engine, late_at + dt.timedelta(seconds=1))
        with engine.connect() as connection:
            opened = connection.execute(select(func.count()).select_from(tables.alerts)).scalar()
            events = connection.execute(
                select(func.count()).select_from(tables.alert_events)
            ).scalar()  # fmt: skip
        with engine.begin() as connection:  # the peer writes as many rows afresh
            connection.execute(delete(tables.alert_events))
        peer = bulk_alerts(engine, int(opened or 0), late_at)
        engine.dispose()

    q, p = statistics.median(quiet), statistics.median(peers)
    print(f"{args.jobs:,} jobs; storm: {args.storm:,} hourly jobs late at {late_at} UTC; "
          f"the storm pass opened {opened:,} alerts and wrote {events:,} events "
          f"({storm_pass.opened:,} counted)")  # fmt: skip
    steps = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in storm_pass.steps.items())
    print(f"the storm pass's steps: {steps}\n")
    print_table([
        Row(f"pass with nothing new, median of {len(quiet)}", f"{q:.3f} s",
            f"{p:.3f} s (read every job's row)", f"{q / p:.2f}", "≤ 1 s", q <= 1.0),
        Row(f"storm of {args.storm:,} late jobs: one pass", f"{storm_pass.seconds:.2f} s",
            f"{peer:.2f} s (bulk INSERT of the rows)", f"{storm_pass.seconds / peer:.2f}",
            "≤ 5 s", storm_pass.seconds <= 5.0),
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
