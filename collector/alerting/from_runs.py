"""The rules a stored run decides: failed (after its retries), timeout, killed_memory,
lost, consecutive_failures, breaker_open, too_slow and too_fast; and what a success (or
a closed breaker) resolves.

A pass reads the runs stored since the last one by a cursor on smartcron_runs.id.
Concurrent transactions can commit ids out of order (id 8 visible before id 7), so the
cursor never moves past a gap in the ids until the row after the gap is SETTLE old: by
then the gap's transaction has committed (and the next pass reads its row) or rolled
back (the id is never used). Reading a run twice changes nothing: a repeat counts only
a sighting newer than the alert's last, a resolution only an alert last seen before the
success, and an occurrence already alerted (open or resolved) is never inserted again
(its identity is unique).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from smartcron.wrapper.expect import ALERT_AFTER_DEFAULT
from smartcron.wrapper.schema import FAILED_STATUSES, SKIPPED_STATUSES
from sqlalchemy import Connection, select

from ..db import tables
from ..db.keys import rows_by_job_key
from ..state import shown
from .rules import JOB_RUN_RULES, Occurrence, severity_of
from .silence import Silencer
from .slow_samples import SuccessSamples
from .store import AlertKey, OpenAlert, Transitions, naive, open_alerts_of

Key = tuple[str, str]
SETTLE = dt.timedelta(minutes=2)  # longer than any ingest transaction lasts
RUNS_PER_PASS = 5000  # the rest wait for the next pass (the cursor says where)
SLOW_SAMPLE = 30  # too_slow: against the p95 of this many successful runs before it
SLOW_MIN_SAMPLE = 5  # fewer say nothing about what is slow
SLOW_FACTOR = 2.0
# A report shipped long after its run (a host's spool after an outage) is history: it
# is shown on the page, but it opens no alert of a condition long over.
STALE_AFTER = dt.timedelta(hours=24)

FAILURE_WORDS = {"failed": "failed", "error": "failed (wrapper error)", "timeout": "timed out",
                 "killed_memory": "was killed for memory", "lost": "was lost"}  # fmt: skip

_r, _j = tables.runs.c, tables.jobs.c
RUN_COLUMNS = (_r.id, _r.run_id, _r.job, _r.host, _r.status, _r.started_at, _r.duration_s,
               _r.attempt_count, _r.breaker_state, _r.received_at, _r.exit_code)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RunsRead:
    rows: list[Any]
    position: int  # the new cursor: every id at or below it has been read


def read_new_runs(connection: Connection, after: int, now: dt.datetime) -> RunsRead:
    """The runs after id `after`, in id order, and how far the cursor may move."""
    query = select(*RUN_COLUMNS).where(_r.id > after).order_by(_r.id).limit(RUNS_PER_PASS)
    rows = list(connection.execute(query))
    position = after
    for row in rows:
        # Position 0: nothing examined yet, no id to count a gap from (MySQL's ids need
        # not start at 1).
        if position and row.id != position + 1 and naive(row.received_at) > now - SETTLE:
            break  # a gap just before a fresh row: its transaction may still commit
        position = row.id
    return RunsRead(rows, position)


def _job_rows(connection: Connection, keys: Sequence[Key]) -> dict[Key, Any]:
    # The job's own limits (revision 0013, from its runs' `expect`): alert_after for
    # consecutive_failures, min_duration_s for too_fast, max_duration_s for too_slow.
    columns = (_j.job, _j.host, _j.priority, _j.paused, _j.paused_by, _j.last_success_at,
               _j.timezone, _j.min_duration_s, _j.max_duration_s, _j.alert_after)  # fmt: skip
    rows = rows_by_job_key(connection, columns, keys)
    return {(row["job"], row["host"]): row for row in rows}


class RunRules:
    """Applies the run rules to one pass's new runs, in each job's run order."""

    def __init__(self, changes: Transitions, silencer: Silencer) -> None:
        self.changes = changes
        self.silencer = silencer
        self.connection = changes.connection
        self.now = changes.now

    def apply(self, rows: Sequence[Any]) -> None:
        keys = sorted({(row.job, row.host) for row in rows})
        jobs = _job_rows(self.connection, keys)
        open_now = open_alerts_of(self.connection, keys)
        self.samples = SuccessSamples(
            self.connection, rows, SLOW_SAMPLE,
            lambda key: key in jobs and jobs[key].get("max_duration_s") is None,
        )  # fmt: skip
        for row in sorted(rows, key=lambda r: (r.job, r.host, naive(r.started_at), r.id)):
            job = jobs.get((row.job, row.host))
            if job is not None:
                self._run(row, job, open_now)
        # A success stored by an earlier pass, newer than an alert a late report opened
        # (its run older than that success): the condition is over.
        for alert in list(open_now.values()):
            job = jobs.get((alert.job, alert.host))
            success = naive(job["last_success_at"]) if job is not None else None
            if alert.rule in JOB_RUN_RULES and success and success > alert.last_seen_at:
                self.changes.resolve(alert, open_now)

    def _run(self, row: Any, job: Any, open_now: dict[AlertKey, OpenAlert]) -> None:
        started = naive(row.started_at)
        fresh = started >= self.now - STALE_AFTER
        if row.status in FAILED_STATUSES:
            if fresh:
                rule = "failed" if row.status == "error" else row.status
                self._open(rule, row, job, open_now, self._failure_summary(row, job))
                self._consecutive(row, job, open_now)
        elif row.status == "success":
            self._resolve(JOB_RUN_RULES, row, open_now)
            self._durations(row, job, open_now, fresh)
        if row.breaker_state == "open" or row.status == "skipped_breaker":
            if fresh:
                summary = f"{row.job} on {row.host}: circuit breaker open"
                self._open("breaker_open", row, job, open_now, summary)
        elif row.breaker_state == "closed" and row.status not in SKIPPED_STATUSES:
            self._resolve(("breaker_open",), row, open_now)

    def _open(self, rule: str, row: Any, job: Any, open_now: dict[AlertKey, OpenAlert],
              summary: str, instant: dt.datetime | None = None) -> None:  # fmt: skip
        started = naive(row.started_at)
        seen = Occurrence(rule, row.job, row.host, instant or started, started,
                          severity_of(job["priority"]), summary, "", row.run_id)  # fmt: skip
        silenced = None
        if (rule, row.job, row.host) not in open_now:
            silenced = self.silencer.why(row.job, row.host, job["paused_by"], bool(job["paused"]))
        self.changes.record(seen, open_now, silenced)

    def _resolve(self, rules: Sequence[str], row: Any, open_now: dict[AlertKey, OpenAlert]) -> None:
        started = naive(row.started_at)
        for rule in rules:
            alert = open_now.get((rule, row.job, row.host))
            if alert is not None and alert.last_seen_at < started:
                self.changes.resolve(alert, open_now)

    def _failure_summary(self, row: Any, job: Any) -> str:
        what = FAILURE_WORDS[row.status]
        tries = f" after {row.attempt_count} attempts" if (row.attempt_count or 1) > 1 else ""
        code = f", exit {row.exit_code}" if row.exit_code is not None else ""
        at = shown(naive(row.started_at), job["timezone"])
        return f"{row.job} on {row.host} {what}{tries}{code} (run of {at})"

    def _consecutive(self, row: Any, job: Any, open_now: dict[AlertKey, OpenAlert]) -> None:
        limit = int(job.get("alert_after") or ALERT_AFTER_DEFAULT)
        query = (
            select(_r.status, _r.started_at)
            .where(_r.job == row.job, _r.host == row.host, _r.started_at <= row.started_at,
                   _r.status.not_in(SKIPPED_STATUSES))
            .order_by(_r.started_at.desc()).limit(limit)
        )  # fmt: skip
        last = list(self.connection.execute(query))
        if len(last) < limit or any(r.status not in FAILED_STATUSES for r in last):
            return
        first = naive(last[-1].started_at)
        summary = f"{row.job} on {row.host}: {limit} failures in a row"
        self._open("consecutive_failures", row, job, open_now, summary, instant=first)

    def _durations(
        self, row: Any, job: Any, open_now: dict[AlertKey, OpenAlert], fresh: bool
    ) -> None:
        duration = row.duration_s
        if duration is None:
            return
        slow_over = self._slow_limit(row, job)
        if fresh and slow_over is not None and duration > slow_over[0]:
            summary = f"{row.job} on {row.host} took {duration:.1f} s, over {slow_over[1]}"
            self._open("too_slow", row, job, open_now, summary)
        else:
            self._resolve(("too_slow",), row, open_now)
        minimum = job.get("min_duration_s")
        if fresh and minimum is not None and duration < minimum:
            summary = (f"{row.job} on {row.host} succeeded in {duration:.2f} s, under its "
                       f"minimum of {minimum:g} s")  # fmt: skip
            self._open("too_fast", row, job, open_now, summary)
        else:
            self._resolve(("too_fast",), row, open_now)

    def _slow_limit(self, row: Any, job: Any) -> tuple[float, str] | None:
        """(the duration over which the run is too slow, why), or None: the job's
        max_duration if set, else twice the p95 of its last 30 successful runs."""
        maximum = job.get("max_duration_s")
        if maximum is not None:
            return float(maximum), f"its maximum of {maximum:g} s"
        sample = sorted(self.samples.before(row))
        if len(sample) < SLOW_MIN_SAMPLE:
            return None
        p95 = sample[max(0, -(-95 * len(sample) // 100) - 1)]  # nearest rank
        return SLOW_FACTOR * p95, f"twice the p95 of its last {len(sample)} ({p95:.1f} s)"
