"""When a job should run next, from its cron schedule (the host's schedule is read
as UTC: the collector does not know the host's time zone yet)."""

from __future__ import annotations

import datetime as dt

MIN_GRACE = dt.timedelta(minutes=2)


def expected_after(
    schedule: str | None, started_at: dt.datetime, duration_s: float
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(next expected start, the moment after which its absence makes the job late)."""
    next_at = next_start(schedule, started_at)
    return next_at, late_after(next_at, duration_s)


def next_start(schedule: str | None, after: dt.datetime) -> dt.datetime | None:
    """The schedule's first start after `after`; None without a schedule (or a bad one)."""
    if not schedule:
        return None
    from croniter import CroniterError, croniter

    try:
        next_at: dt.datetime = croniter(schedule, after).get_next(dt.datetime)
    except (CroniterError, ValueError, OverflowError):
        return None
    return next_at


def late_after(next_at: dt.datetime | None, duration_s: float) -> dt.datetime | None:
    """When a run expected at `next_at` is late: after a grace of twice the last run's
    duration, and at least two minutes. A run's report arrives only when it ends, so a
    three-hour job must not look late for the three hours it is running."""
    if next_at is None:
        return None
    grace = max(dt.timedelta(seconds=2 * duration_s), MIN_GRACE)
    try:
        return next_at + grace
    except OverflowError:
        return None
