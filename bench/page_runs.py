"""bench/page.py's runs, made inside MariaDB: every scheduled run of every job from a
cutoff to now, INSERT ... SELECT from the SEQUENCE engine (seq_0_to_N) a few hours of
runs at a time, in start order (ids grow with time, as with real ingest), each run's
outcome drawn from hashes of (seed, job, minute), so a load is the same every time.
Python wrote 10 M runs at some 51 us each before LOAD DATA read them; here the server
makes them without a file.

The mix (as the Python generator before it): a job fails at its own rate (mostly
below 2 %, some flaky ones up to 30 %): failed 80 %, timeout 12 % (four times its usual
length), killed_memory 5 % (three times its memory), error 3 %; of the rest 0.8 % are
skipped on the lock and 0.1 % lost (no end, no duration: as ingest stores them). A
duration is the job's typical one times a lognormal noise (sigma 0.35), memory the
job's times 0.8-1.25; a run starts 5-900 ms after its cron minute. Each run has its
output row: the attempt, a line of stdout, a line of stderr when it failed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from croniter import croniter
from smartcron.wrapper.schema import FAILED_STATUSES

JOBS_TABLE = "bench_load_jobs"  # the jobs as the generator reads them; dropped after
CHUNK_RUNS = 300_000  # runs per INSERT ... SELECT: one sort in memory, a short transaction
SKIPS = "('skipped_locked', 'skipped_breaker', 'skipped_paused')"
# The statuses a job's last_failure_at counts (revision 0019's backfill reads the same).
FAILURES = "(" + ", ".join(f"'{status}'" for status in FAILED_STATUSES) + ")"


@dataclass(frozen=True)
class Plan:
    """A job as the generator reads it: due at minutes m (since `base`) with m mod
    period = phase, from the cutoff until end_minute (exclusive)."""

    name: str
    host: str
    schedule: str
    priority: int
    period: int
    phase: int
    end_minute: int
    duration_s: float
    memory: int
    failure_rate: float


def phase_of(schedule: str, period: int, base: dt.datetime) -> int:
    """The minute (mod period) at which cron first starts `schedule` at or after `base`."""
    first = croniter(schedule, base - dt.timedelta(minutes=1)).get_next(dt.datetime)
    return int((first - base).total_seconds() // 60) % period


def due(plan: Plan, start: int, end: int) -> int:
    """How many of plan's minutes fall in [start, min(end, plan.end_minute))."""
    end = min(end, plan.end_minute)
    if end <= start:
        return 0
    return (end - 1 - plan.phase) // plan.period - (start - 1 - plan.phase) // plan.period


def cutoff(plans: Sequence[Plan], runs: int, earliest: int, now_minute: int) -> int:
    """The latest minute from which the jobs have at least `runs` runs to now (or
    `earliest`, if the whole history holds fewer)."""
    low, high = earliest, now_minute
    while low < high:
        middle = (low + high + 1) // 2
        if sum(due(plan, middle, now_minute) for plan in plans) >= runs:
            low = middle
        else:
            high = middle - 1
    return low


def unit(salt: int) -> str:
    """A number in [0, 1) drawn from the run's (seed, job, minute) and `salt`."""
    return f"(CRC32(CONCAT_WS(':', @bench_seed, j.idx, j.m, {salt})) / 4294967296e0)"


# Each level names what the next reads: the job and minute, then the draws and the
# status, then the measured figures, then the row as ingest stores it.
RUNS_SELECT = f"""
SELECT run_id, name, host, 'deploy', CONCAT('/usr/local/bin/', name, ' --quiet'), schedule,
       priority, '', 'cron', status,
       CASE status WHEN 'success' THEN 0 WHEN 'failed' THEN 1 WHEN 'error' THEN 127
                   WHEN 'skipped_locked' THEN 0 END,
       CASE status WHEN 'timeout' THEN 15 WHEN 'killed_memory' THEN 9 END,
       started, finished, duration, attempts, memory,
       CASE WHEN status NOT IN {SKIPS} THEN ROUND(COALESCE(duration, 0) * 0.6, 3) END,
       CASE WHEN status NOT IN {SKIPS} THEN ROUND(COALESCE(duration, 0) * 0.1, 3) END,
       CHAR_LENGTH(stdout) + CHAR_LENGTH(stderr), 0, 'closed', '0.1.0',
       -- Received as the wrapper delivers: right after the run ends.
       LEAST(COALESCE(finished, started) + INTERVAL 200000 MICROSECOND,
             CAST(@bench_now AS DATETIME(6)))
FROM (
  SELECT r.*,
         IF(status IN {SKIPS}, '',
            CONCAT(name, ': processed ', 10 + MOD(CRC32(run_id), 4990), ' items\\n')) AS stdout,
         IF(status IN {SKIPS} OR status IN ('success', 'lost'), '',
            CONCAT(name, ': ', status, ': upstream answered 503\\n')) AS stderr
  FROM (
    SELECT d.*, started + INTERVAL ROUND(duration * 1000000) MICROSECOND AS finished,
           IF(status IN {SKIPS} OR status = 'lost', 0, 1) AS attempts,
           CASE WHEN status NOT IN {SKIPS} AND status <> 'lost'
                THEN FLOOR(memory_typical * (0.8 + 0.45 * u_memory))
                     * IF(status = 'killed_memory', 3, 1) END AS memory,
           CONCAT(SUBSTR(h, 1, 8), '-', SUBSTR(h, 9, 4), '-4', SUBSTR(h, 14, 3), '-',
                  SUBSTR('89ab', 1 + MOD(CONV(SUBSTR(h, 17, 1), 16, 10), 4), 1),
                  SUBSTR(h, 18, 3), '-', SUBSTR(h, 21, 12)) AS run_id
    FROM (
      SELECT s.*,
             CASE WHEN status IN {SKIPS} THEN 0.01
                  WHEN status = 'lost' THEN NULL
                  WHEN status = 'timeout' THEN ROUND(typical * 4, 3)
                  ELSE ROUND(typical * EXP(0.35 * SQRT(-2 * LN(1 - u_noise1))
                                           * COS(2 * PI() * u_noise2)), 3) END AS duration
      FROM (
        SELECT j.idx, j.m, j.name, j.host, j.schedule, j.priority,
               j.duration_s AS typical, j.memory AS memory_typical,
               CAST(@bench_base AS DATETIME(6)) + INTERVAL j.m MINUTE
                 + INTERVAL FLOOR(5000 + {unit(1)} * 895000) MICROSECOND AS started,
               CASE WHEN {unit(2)} < j.failure_rate THEN
                         CASE WHEN {unit(3)} < 0.80 THEN 'failed'
                              WHEN {unit(3)} < 0.92 THEN 'timeout'
                              WHEN {unit(3)} < 0.97 THEN 'killed_memory'
                              ELSE 'error' END
                    WHEN {unit(4)} < 0.008 THEN 'skipped_locked'
                    WHEN {unit(4)} < 0.009 AND @bench_lost THEN 'lost'
                    ELSE 'success' END AS status,
               {unit(5)} AS u_noise1, {unit(6)} AS u_noise2, {unit(7)} AS u_memory,
               MD5(CONCAT_WS(':', @bench_seed, j.idx, j.m)) AS h
        FROM (
          SELECT jobs.*, %(start)s + MOD(MOD(jobs.phase - %(start)s, jobs.period)
                                         + jobs.period, jobs.period)
                         + seq.seq * jobs.period AS m
          FROM {JOBS_TABLE} jobs JOIN seq_0_to_%(slots)s seq
               ON seq.seq * jobs.period < %(stop)s - %(start)s
        ) j
        WHERE j.m < %(stop)s AND j.m < j.end_minute
      ) s
    ) d
  ) r
) o
ORDER BY started
"""

RUN_COLUMNS = ("run_id, job, host, run_user, command, schedule, priority, tags, run_trigger, "
               "status, exit_code, signal_number, started_at, finished_at, duration_s, "
               "attempt_count, peak_rss_bytes, cpu_user_s, cpu_system_s, output_bytes, "
               "output_truncated, breaker_state, wrapper_version, received_at")  # fmt: skip

# The output row of each run with an id above %(after)s, from the run itself: the same
# stdout and stderr lines its output_bytes counted.
OUTPUT_INSERT = f"""
INSERT INTO smartcron_run_output (run_id, attempts, stdout_tail, stderr_tail)
SELECT run_id,
       IF(attempt_count = 0, '[]', JSON_ARRAY(JSON_OBJECT(
           'started_at', DATE_FORMAT(started_at, '%%Y-%%m-%%dT%%H:%%i:%%s.%%fZ'),
           'finished_at', DATE_FORMAT(finished_at, '%%Y-%%m-%%dT%%H:%%i:%%s.%%fZ'),
           'exit_code', exit_code, 'signal', signal_number, 'status', status))),
       IF(status IN {SKIPS}, '',
          CONCAT(job, ': processed ', 10 + MOD(CRC32(run_id), 4990), ' items\\n')),
       IF(status IN {SKIPS} OR status IN ('success', 'lost'), '',
          CONCAT(job, ': ', status, ': upstream answered 503\\n'))
FROM smartcron_runs WHERE id > %(after)s
"""


def write_plans(cursor: Any, plans: Sequence[Plan]) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {JOBS_TABLE}")
    cursor.execute(
        f"CREATE TABLE {JOBS_TABLE} (idx INT PRIMARY KEY, name VARCHAR(100), host VARCHAR(255),"
        " schedule VARCHAR(255), priority TINYINT, period INT, phase INT, end_minute INT,"
        " duration_s DOUBLE, memory BIGINT, failure_rate DOUBLE) ENGINE=InnoDB"
    )
    cursor.executemany(
        f"INSERT INTO {JOBS_TABLE} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [(n, p.name, p.host, p.schedule, p.priority, p.period, p.phase, p.end_minute,
          p.duration_s, p.memory, p.failure_rate) for n, p in enumerate(plans)],
    )  # fmt: skip


def insert_runs(connection: Any, plans: Sequence[Plan], base: dt.datetime, start: int,
                now: dt.datetime, seed: int, lost: bool = True) -> int:  # fmt: skip
    """Every due run of `plans` from minute `start` (since `base`) to now, in chunks of
    about CHUNK_RUNS, each with its output row; the number of runs. Without `lost` (a
    schema before lost runs, whose finished_at takes no null) the lost ones succeed."""
    now_minute = int((now - base).total_seconds() // 60)
    per_minute = max(1.0, sum(1 / plan.period for plan in plans))
    width = max(5, int(CHUNK_RUNS / per_minute))
    slots = width // min(plan.period for plan in plans) + 1
    cursor = connection.cursor()
    write_plans(cursor, plans)
    # Each level of RUNS_SELECT materialised once: merged, the outer levels evaluated
    # the draws again at each mention (68 us a run instead of 24 us, 300,000 runs).
    cursor.execute("SET SESSION optimizer_switch = 'derived_merge=off'")
    cursor.execute("SET @bench_seed = %s, @bench_base = %s, @bench_now = %s, @bench_lost = %s",
                   (seed, base, now, lost))  # fmt: skip
    total = 0
    for chunk_start in range(start, now_minute, width):
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM smartcron_runs")
        (after,) = cursor.fetchone()
        bounds = {"start": chunk_start, "stop": min(chunk_start + width, now_minute + 1),
                  "slots": slots}  # fmt: skip
        total += cursor.execute(
            f"INSERT INTO smartcron_runs ({RUN_COLUMNS}) {RUNS_SELECT}" % bounds
        )
        cursor.execute(OUTPUT_INSERT % {"after": after})
        connection.commit()
    cursor.execute(f"DROP TABLE {JOBS_TABLE}")
    cursor.execute("SET SESSION optimizer_switch = 'derived_merge=default'")
    return total


LATEST = f"""
SELECT j.name, j.host, r.run_id, r.status, r.started_at, r.finished_at, r.duration_s,
       (SELECT s.finished_at FROM smartcron_runs s FORCE INDEX (ix_runs_job_started)
        WHERE s.job = j.name AND s.host = j.host AND s.status = 'success'
        ORDER BY s.started_at DESC LIMIT 1),
       (SELECT f.started_at FROM smartcron_runs f FORCE INDEX (ix_runs_job_started)
        WHERE f.job = j.name AND f.host = j.host AND f.status IN {FAILURES}
        ORDER BY f.started_at DESC LIMIT 1)
FROM {JOBS_TABLE} j
JOIN smartcron_runs r ON r.id = (
     SELECT l.id FROM smartcron_runs l FORCE INDEX (ix_runs_job_started)
     WHERE l.job = j.name AND l.host = j.host AND l.status NOT IN {SKIPS}
     ORDER BY l.started_at DESC LIMIT 1)
"""


def latest_runs(cursor: Any, plans: Sequence[Plan]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(job, host) -> (run_id, status, started, finished, duration, last success's end,
    last failure's start) of each job's latest real run (not a skip); a job without one
    has no entry."""
    write_plans(cursor, plans)
    cursor.execute(LATEST)
    found = {(row[0], row[1]): tuple(row[2:]) for row in cursor.fetchall()}
    cursor.execute(f"DROP TABLE {JOBS_TABLE}")
    return found
