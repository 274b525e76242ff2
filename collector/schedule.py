"""When a job should run next, from its cron schedule (the host's schedule is read
as UTC: the collector does not know the host's time zone yet)."""

from __future__ import annotations

import datetime as dt

MIN_GRACE = dt.timedelta(minutes=2)


def expected_after(
    schedule: str | None, started_at: dt.datetime, duration_s: float
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(next expected start, the moment after which its absence makes the job late).

    The grace is twice the last run's duration and at least two minutes: a run's
    report arrives only when it ends, so a three-hour job must not look late for
    the three hours it is running.
    """
    if not schedule:
        return None, None
    from croniter import CroniterError, croniter

    try:
        next_at = croniter(schedule, started_at).get_next(dt.datetime)
    except (CroniterError, ValueError, OverflowError):
        return None, None
    grace = max(dt.timedelta(seconds=2 * duration_s), MIN_GRACE)
    try:
        return next_at, next_at + grace
    except OverflowError:
        return next_at, None
