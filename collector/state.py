"""A job's state: the one definition of healthy, degraded, failing, late, paused and
running, why, when the next run is expected and when its absence makes the job late.

decide_state() is a pure function of a job's facts and the time: ingest calls it
(through state_store.py) for the jobs a batch touched, the evaluation pass for the
jobs whose review moment has come, and the alert engine will call it too. The
page, the API, /metrics and the SQL views only read what it stored on the job's
row. Schedules are read in the job's own zone, with cron's rules at clock changes
(smartcron.wrapper.slots).

Late (a missed run): no run started by its slot plus its grace (grace()). A run is
known to have started by its report, which comes when it ends, or by the agent's
heartbeat listing it in flight (a late job with a run in flight is "running"). So
a job whose host's agent lists its runs is late once the grace is out; without that
knowledge the run's report may still be on its way for about its last duration,
which is added (report_allowance()): a job that did not start is caught after its
grace (plus its last duration where no agent watches), a long run is not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

from smartcron.wrapper.expect import default_grace_s
from smartcron.wrapper.schema import FAILED_STATUSES
from smartcron.wrapper.slots import ScheduleError, load_zone, next_slot

from .clocks import MAX_AHEAD

UTC = dt.timezone.utc
STATES = ("failing", "late", "running", "degraded", "paused", "healthy")
# A failure keeps a job degraded for this long after it, when later runs succeed.
DEGRADED_FOR = dt.timedelta(hours=24)
FAILED = frozenset(FAILED_STATUSES)


@dataclasses.dataclass(frozen=True)
class JobFacts:
    """What is known of a job on a host. Times are naive UTC, as stored."""

    schedule: str | None
    timezone: str | None
    first_seen_at: dt.datetime
    last_status: str | None = None
    last_started_at: dt.datetime | None = None
    last_duration_s: float | None = None
    breaker_state: str = "closed"
    paused: bool = False
    paused_by: str | None = None
    paused_at: dt.datetime | None = None
    last_failure_at: dt.datetime | None = None  # the latest failed run within DEGRADED_FOR
    running_since: dt.datetime | None = None  # a run in flight, as a heartbeat reports it
    # When that heartbeat goes stale: an agent that died (or a host that is gone) stops
    # beating, and a run it listed must not keep the job "running" past this moment.
    running_seen_until: dt.datetime | None = None
    # When the host's crontabs stopped listing the job (collector/registry.py).
    unlisted_at: dt.datetime | None = None
    grace_s: float | None = None  # --grace as the line set it; None: the default
    # The host's agent would list a run of this job in flight: its heartbeat is fresh
    # and complete, and it has listed this job's runs before (the wrapper and the agent
    # share a state directory). Then a run not listed has not started.
    runs_seen: bool = False


@dataclasses.dataclass(frozen=True)
class JobState:
    """What decide_state() stores on the job's row. Times are naive UTC."""

    state: str
    reason: str
    # The run the schedule expects next: the one owed since the last run (in the past
    # only within its grace, while its report may be on the way), once late the first
    # one after now.
    next_expected_at: dt.datetime | None
    late_after_at: dt.datetime | None  # when the run owed now makes the job late
    missed_at: dt.datetime | None  # late: the scheduled moment of the first run missed
    review_at: dt.datetime | None  # when time alone changes this decision


def grace(
    schedule: str | None, zone_name: str | None, grace_s: float | None, slot: dt.datetime
) -> dt.timedelta:
    """How late the run of `slot` may start: the line's --grace, else the larger of five
    minutes and a tenth of the interval, which for a slot is the time from it to the
    schedule's next slot (so `0 9,17 * * *` gives the 09:00 run 48 minutes, the 17:00
    run 1h36m, and a grace never reaches past the next run unless five minutes do)."""
    if grace_s is not None:
        return dt.timedelta(seconds=grace_s)
    after = slot_after(schedule, zone_name, slot) if schedule else None
    interval = (after - slot).total_seconds() if after is not None else 0.0
    return dt.timedelta(seconds=default_grace_s(interval))


# How far back run_grace() looks for the slot a run started at: a minute first (a run
# starts at its slot, or within its --jitter after it), then further for sparse schedules.
_SLOT_LOOK_BACK = tuple(dt.timedelta(days=d) for d in (1 / 1440, 1 / 24, 1, 32, 366))
_SLOT_WALK = 2000  # slots walked forward to the last one at or before the start, at most


def run_grace(
    schedule: str | None, zone_name: str | None, grace_s: float | None, started: dt.datetime
) -> dt.timedelta:
    """The grace of a run that started at `started` (naive UTC): grace() of its slot,
    the schedule's last slot at or before the start. The alert engine adds it to a run
    in flight's timeout (still_running), so that rule and `missed` grant one grace."""
    if grace_s is not None or not schedule:
        return grace(schedule, zone_name, grace_s, started)
    slot = slot_of_run(schedule, zone_name, started)
    return grace(schedule if slot else None, zone_name, None, slot or started)


def slot_of_run(schedule: str, zone_name: str | None, started: dt.datetime) -> dt.datetime | None:
    """The schedule's last slot at or before `started` (naive UTC); None when there is
    none within a year, or the schedule or zone cannot be read here."""
    slot = None
    for back in _SLOT_LOOK_BACK:
        slot = slot_after(schedule, zone_name, _minute(started - back))
        if slot is None:
            return None
        if slot <= started:
            break
    if slot is None or slot > started:
        return None
    for _ in range(_SLOT_WALK):
        after = slot_after(schedule, zone_name, slot)
        if after is None or after > started:
            break
        slot = after
    return slot


def report_allowance(facts: JobFacts) -> dt.timedelta:
    """How long after its grace a run that did start may still be unheard of. A report
    arrives when the run ends: when the host's agent lists the job's runs in flight,
    a run it does not list has not started, and nothing is added; otherwise the run's
    report may be on its way for about its last duration, so a long job is not called
    missed while it runs."""
    if facts.runs_seen or not facts.last_duration_s:
        return dt.timedelta(0)
    return dt.timedelta(seconds=min(facts.last_duration_s, 1e9))


@functools.lru_cache(maxsize=4096)
def slot_after(schedule: str, zone_name: str | None, after: dt.datetime) -> dt.datetime | None:
    """The next run (naive UTC) strictly after `after` (naive UTC); None when the
    schedule or the zone is one this collector cannot read. Memoised: many jobs
    share a schedule, and runs start on the minute."""
    try:
        zone = load_zone(zone_name)
        moment = next_slot(schedule, zone, after.replace(tzinfo=UTC))
    except (ScheduleError, ValueError, OverflowError):
        return None
    return moment.astimezone(UTC).replace(tzinfo=None)


def _minute(moment: dt.datetime) -> dt.datetime:
    # Five-field schedules have no seconds: the next run after any moment of a minute
    # is the next after the minute itself, which makes the memo above hit.
    return moment.replace(second=0, microsecond=0)


def shown(moment: dt.datetime | None, zone_name: str | None) -> str:
    """A stored time in the job's zone and in UTC, '2026-03-29 03:00 CEST (01:00 UTC)';
    only in UTC for a job read in UTC (or in a zone this collector does not know)."""
    if moment is None:
        return "?"
    aware = moment.replace(tzinfo=UTC)
    stamp = f"{aware:%Y-%m-%d %H:%M} UTC"
    if not zone_name or zone_name in ("UTC", "Etc/UTC"):
        return stamp
    try:
        local = aware.astimezone(load_zone(zone_name))
    except ValueError:
        return stamp
    utc = f"{aware:%H:%M} UTC" if local.date() == aware.date() else stamp
    return f"{local:%Y-%m-%d %H:%M %Z} ({utc})"


def local_iso(moment: dt.datetime | None, zone_name: str | None) -> str | None:
    """A stored time in the job's zone, ISO 8601 with its offset, for the API."""
    if moment is None:
        return None
    try:
        zone = load_zone(zone_name)
    except ValueError:
        zone = load_zone(None)
    return moment.replace(tzinfo=UTC).astimezone(zone).isoformat(timespec="seconds")


def decide_state(facts: JobFacts, now: dt.datetime) -> JobState:
    """The job's state at `now` (naive UTC)."""
    owed_at, late_at, next_at = _expectation(facts, now)
    late = late_at is not None and now >= late_at
    missed_at = owed_at if late else None
    failed_at = facts.last_failure_at
    # A failure dated further ahead than ingest accepts (a database from before that
    # refusal) is a wrong clock's, not one of the last 24 hours.
    recent_failure = (
        failed_at is not None and now < failed_at + DEGRADED_FOR and failed_at <= now + MAX_AHEAD
    )
    zone = facts.timezone

    if facts.paused:
        by = facts.paused_by or "?"
        # A paused job owes nothing and no time changes that: nothing to review.
        return JobState("paused", f"paused by {by} at {shown(facts.paused_at, facts.timezone)}",
                        None, None, None, None)  # fmt: skip
    if facts.breaker_state == "open":
        state = "failing"
        reason = "circuit breaker open after repeated failures; last run " + (
            facts.last_status or "unknown"
        )
    elif facts.last_status in FAILED:
        state = "failing"
        reason = f"last run {facts.last_status} at {shown(facts.last_started_at, zone)}"
    elif late and facts.running_since is not None:
        state = "running"
        reason = (f"running since {shown(facts.running_since, zone)}; "
                  f"it was due at {shown(owed_at, zone)}")  # fmt: skip
    elif late:
        state = "late"
        since = facts.last_started_at
        reason = (f"no run since {shown(since, zone)}" if since else "never ran") + (
            f"; one was due at {shown(owed_at, zone)}"
        )
    elif recent_failure:
        state = "degraded"
        reason = (f"a run failed in the last 24 h, at {shown(failed_at, zone)}; "
                  "the last run succeeded")  # fmt: skip
    elif facts.last_status is None:
        state, reason = "healthy", "no run reported yet"
    else:
        state, reason = "healthy", "last run succeeded"
    if _unlisted(facts):
        # Taken out of the crontab: no run is owed, but its history and state stay.
        reason += (f"; not in the host's crontabs since "
                   f"{shown(facts.unlisted_at, zone)}, so no run is expected")  # fmt: skip
    elif facts.schedule and owed_at is None and state in ("healthy", "degraded"):
        # Never late, but not silently: say why lateness is not being checked.
        reason += (f"; lateness not checked: schedule {facts.schedule!r} in zone "
                   f"{facts.timezone or 'UTC'} cannot be read here")  # fmt: skip

    reviews = [late_at if not late else None, next_at if late else None]
    if state == "running":
        reviews.append(facts.running_seen_until)
    if recent_failure and failed_at is not None:
        reviews.append(failed_at + DEGRADED_FOR)
    review_at = min((m for m in reviews if m is not None and m > now), default=None)
    return JobState(state, reason, next_at, late_at, missed_at, review_at)


def _unlisted(facts: JobFacts) -> bool:
    """Gone from the host's crontabs, and not run since: a run after that (the line
    moved to a crontab the agent cannot read) shows it is still expected."""
    unlisted = facts.unlisted_at
    last = facts.last_started_at
    return unlisted is not None and (last is None or last < unlisted)


def _expectation(
    facts: JobFacts, now: dt.datetime
) -> tuple[dt.datetime | None, dt.datetime | None, dt.datetime | None]:
    """(the run owed since the last one, when its absence is late, the next run not
    in the past). A job that never ran owes the first run after it was first seen."""
    if not facts.schedule or _unlisted(facts):
        return None, None, None
    since = facts.last_started_at or facts.first_seen_at
    owed_at = slot_after(facts.schedule, facts.timezone, _minute(since))
    if owed_at is None:
        return None, None, None
    try:
        late_at = owed_at + grace(facts.schedule, facts.timezone, facts.grace_s, owed_at)
        late_at += report_allowance(facts)
    except OverflowError:
        late_at = None
    next_at: dt.datetime | None = owed_at
    if late_at is not None and now >= late_at:
        # Late: the owed run is in the past; the next one expected is the first after now.
        next_at = slot_after(facts.schedule, facts.timezone, _minute(now))
    return owed_at, late_at, next_at
