"""The rules a host's heartbeat decides: host_silent, host_disk_low, spool_backlog and
clock_skew (host-level, job ''), and still_running, from the agent's runs in flight.

Hosts are few beside jobs (one agent each), so every pass reads each host's row once.
A host that never sent a heartbeat (reports only, no agent) has nothing to be silent
about. Right after the collector itself was down no host is called silent: their
heartbeats could not arrive; the engine holds these rules until the agents had time.
A host alert's instant is when its condition began (episodes.py), so one episode is one
alert, even after a manual resolve.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Connection, case, func, literal_column, select

from .. import clocks
from ..db import tables
from ..db.keys import rows_by_job_key
from ..heartbeats import ListedRun, listed_in_flight, parse_time
from ..state import run_grace, shown
from .episodes import Episodes
from .rules import HOST_RULES, HOST_SEVERITY, NO_JOB, Occurrence, severity_of
from .silence import Silencer
from .store import AlertKey, Transitions, open_alerts_by_rule

HEARTBEAT_INTERVAL = dt.timedelta(seconds=30)  # the agent's default --interval
SILENT_AFTER = 3 * HEARTBEAT_INTERVAL
DISK_LOW_PCT = 10.0
SPOOL_STUCK = dt.timedelta(minutes=10)  # a report waiting this long: the spool is not draining
MAX_SKEW = dt.timedelta(minutes=1)

_h, _j = tables.hosts.c, tables.jobs.c


def _health(text: str | None) -> dict[str, Any]:
    try:
        health = json.loads(text or "{}")
    except ValueError:
        return {}
    return health if isinstance(health, dict) else {}


Health = tuple[str, dict[str, Any]]  # a host, its stored heartbeat


def read_health(connection: Connection) -> list[Health]:
    """Every host's stored heartbeat, parsed once, less the crontab jobs it lists: no
    rule reads them, and they are most of the document (25 jobs are 6 KB). At 6,000
    hosts, reading and parsing whole documents twice was 0.6 s of a pass's CPU, all of
    it holding the GIL that the worker's requests wait for. A health the database
    does not call JSON (JSON_REMOVE would fail the query on it) comes back whole and is
    read by Python's json, as the state module reads it: NaN and Infinity, which
    json.dumps writes and JSON has not, and, on MariaDB before 12.2, anything nested past
    32 levels. A health that is not JSON at all reads as {}."""
    valid = func.json_valid(_h.health) == literal_column("1")
    without_jobs = case((valid, func.json_remove(_h.health, literal_column("'$.jobs'"))))
    health = func.coalesce(without_jobs, _h.health)
    rows = connection.execute(select(_h.host, health.label("health")).order_by(_h.host))
    return [(row.host, _health(row.health)) for row in rows]


def host_conditions(host: str, health: dict[str, Any], now: dt.datetime) -> list[Occurrence]:
    """What is wrong with a host by its stored heartbeat, at `now`."""
    received = parse_time(health.get("received_at"))
    if received is None:
        return []  # no heartbeat ever: no agent on it
    found = []

    def seen(rule: str, instant: dt.datetime, summary: str, detail: str = "") -> None:
        found.append(Occurrence(rule, NO_JOB, host, instant, instant, HOST_SEVERITY[rule],
                                summary, detail))  # fmt: skip

    if now - received > SILENT_AFTER:
        seen("host_silent", received, f"{host}: no heartbeat since {shown(received, None)}",
             f"the agent beats every {HEARTBEAT_INTERVAL.seconds} s; none for "
             f"{int((now - received).total_seconds())} s")  # fmt: skip
        return found  # the rest would be read from a stale heartbeat
    low = _disk_low(health)
    if low is not None:
        seen("host_disk_low", received, f"{host}: {low[1]:.1f} % free on {low[0]}")
    spool = health.get("spool")
    spool = spool if isinstance(spool, dict) else {}
    oldest = parse_time(spool.get("oldest_at"))
    depth = spool.get("depth")
    if (
        oldest is not None
        and isinstance(depth, int)
        and depth > 0
        and received - oldest > SPOOL_STUCK
    ):
        seen("spool_backlog", oldest, f"{host}: {depth} reports waiting in the spool, the "
             f"oldest since {shown(oldest, None)}")  # fmt: skip
    skew = _skew(health, received)
    if skew is not None and abs(skew) > MAX_SKEW.total_seconds():
        seen("clock_skew", received, f"{host}: clock {abs(skew):.0f} s "
             f"{'ahead' if skew > 0 else 'behind'}; set it right (NTP)")  # fmt: skip
    return found


def _disk_low(health: dict[str, Any]) -> tuple[str, float] | None:
    """(where, percent free) of the fullest filesystem under DISK_LOW_PCT, if any."""
    pct = health.get("disk_free_pct")
    places = pct if isinstance(pct, dict) else {"disk": pct}
    low = [(name, float(value)) for name, value in places.items()
           if isinstance(value, (int, float)) and not isinstance(value, bool)
           and value < DISK_LOW_PCT]  # fmt: skip
    return min(low, key=lambda item: item[1]) if low else None


def _skew(health: dict[str, Any], received: dt.datetime) -> float | None:
    """Seconds the host's clock is ahead (negative: behind): the heartbeat's own clock
    against its arrival, or the reports' estimate (clocks.py), whichever is larger."""
    found = []
    clock = parse_time(health.get("clock"))
    if clock is not None:
        found.append((clock - received).total_seconds())
    estimate = clocks.read_clock(health)
    if estimate is not None:
        found.append(estimate["ahead_s"])
    return max(found, key=abs) if found else None


def apply_host_rules(changes: Transitions, silencer: Silencer, hold: bool) -> None:
    """Open what each host's heartbeat shows, resolve what it no longer shows. `hold`:
    the collector is just back from its own outage; open nothing yet."""
    open_now = {a.key: a for a in open_alerts_by_rule(changes.connection, HOST_RULES)}
    episodes = Episodes(changes.connection)
    hosts = read_health(changes.connection)
    present: set[AlertKey] = set()
    seen_now: list[tuple[Occurrence, str | None]] = []
    for host, health in hosts:
        for found in host_conditions(host, health, changes.now):
            present.add((found.rule, found.job, found.host))
            # The episode's start, not this heartbeat's: an alert resolved by hand is
            # that identity already, and does not reopen while the condition holds.
            seen = episodes.dated(found)
            if not hold or (seen.rule, seen.job, seen.host) in open_now:
                seen_now.append((seen, silencer.why(NO_JOB, host)))
    episodes.write_begun()
    changes.record_all(seen_now, open_now)
    if not hold:
        episodes.end_all_but((rule, host) for rule, _job, host in present)
    for key, alert in list(open_now.items()):
        if key not in present and not hold:
            changes.resolve(alert, open_now)
    _still_running(changes, silencer, hosts)


def _still_running(changes: Transitions, silencer: Silencer, hosts: list[Health]) -> None:
    """A run in flight past its timeout plus grace (the agent lists each run's timeout)."""
    now = changes.now
    # (job, host) -> its longest run in flight with a timeout: (start, timeout, run)
    in_flight: dict[tuple[str, str], tuple[dt.datetime, float, ListedRun]] = {}
    fresh_hosts = set()
    for host, health in hosts:
        listing = listed_in_flight(health)
        if listing is None or not listing.fresh(now):
            continue  # a stale heartbeat says nothing of what runs now
        fresh_hosts.add(host)
        for run in listing.listed:
            if run.started is None or run.timeout_s is None:
                continue
            key = (run.job, host)
            if key not in in_flight or run.started < in_flight[key][0]:
                in_flight[key] = (run.started, run.timeout_s, run)
    open_now = {a.key: a for a in open_alerts_by_rule(changes.connection, ("still_running",))}
    # Only a run past its timeout has a grace to work out, from its job's row.
    past = sorted(key for key, (started, timeout_s, _run) in in_flight.items()
                  if now > started + dt.timedelta(seconds=timeout_s))  # fmt: skip
    jobs = _jobs_of(changes, past)
    seen_now: list[tuple[Occurrence, str | None]] = []
    for job, host in past:
        started, timeout_s, run = in_flight[(job, host)]
        timeout = dt.timedelta(seconds=timeout_s)
        info = jobs.get((job, host))
        zone = info["timezone"] if info is not None else None
        # The job's grace as the state module grants it (its --grace, else the default
        # of the run's slot): the same grace `missed` waits for.
        grace = run_grace(info["schedule"] if info is not None else None, zone,
                          info["grace_s"] if info is not None else None, started)  # fmt: skip
        if now <= started + timeout + grace:
            continue
        seen = Occurrence("still_running", job, host, started, started,
                          severity_of(info["priority"] if info is not None else None),
                          f"{job} on {host}: still running since {shown(started, zone)}, past "
                          f"its timeout of {timeout.total_seconds():g} s and its grace of "
                          f"{_duration(grace)}", "", run.run_id)  # fmt: skip
        paused = bool(info["paused"]) if info is not None else False
        why = silencer.why(job, host, info["paused_by"] if info else None, paused)
        seen_now.append((seen, why))
    changes.record_all(seen_now, open_now)
    for alert in list(open_now.values()):
        # Over when a fresh heartbeat no longer lists the run (or lists a newer one); a
        # silent host's runs are unknown: its alert stays open, host_silent says why.
        current = in_flight.get((alert.job, alert.host))
        if alert.host in fresh_hosts and (current is None or current[0] != alert.instant):
            changes.resolve(alert, open_now)


def _duration(span: dt.timedelta) -> str:
    """A grace as the wrapper's --grace would write it: '5m', '2h24m', '90s'."""
    seconds = int(span.total_seconds())
    if seconds % 60:
        return f"{span.total_seconds():g}s"
    hours, minutes = divmod(seconds // 60, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")


def _jobs_of(changes: Transitions, keys: list[tuple[str, str]]) -> dict[Any, Any]:
    columns = (_j.job, _j.host, _j.priority, _j.timezone, _j.paused, _j.paused_by,
               _j.schedule, _j.grace_s)  # fmt: skip
    rows = rows_by_job_key(changes.connection, columns, keys)
    return {(row["job"], row["host"]): row for row in rows}
