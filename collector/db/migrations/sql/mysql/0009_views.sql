-- smartcron: the views of the last 24 hours and of the days read the rollups of
-- 0009_rollups.sql, not the runs (revision 0009); the recent failures come from
-- ix_runs_status_started. What each costs, measured: docs/queries.md.

-- One row per job and host, the state as collector/state.py stored it (the view decides
-- nothing itself), beside the last 24 hours' counts: the whole hours after now - 24 h
-- from smartcron_run_hourly, the runs before the first of them (less than an hour of
-- every job's) from ix_runs_started, and each job's row, all grouped by job and host
-- (a job's row carries its state; the others add their counts). Not a join: MariaDB
-- joins a derived table of counts without a key (its key, two VARCHARs, is too long for
-- one), a block nested loop over jobs times rows; and a subquery per job reads the
-- job's runs by (job, host) alone, its whole history, not the range of started_at
-- (both seconds on 10,000 jobs). Rows read: the jobs, the hourly rows kept (48 hours,
-- rollups.prune_hourly) and under an hour of runs.
CREATE OR REPLACE VIEW smartcron_v_job_health AS
SELECT u.job,
       u.host,
       MAX(u.state)            AS state,
       MAX(u.reason)           AS reason,
       MAX(u.last_status)      AS last_status,
       MAX(u.last_started_at)  AS last_started_at,
       MAX(u.last_success_at)  AS last_success_at,
       MAX(u.next_expected_at) AS next_expected_at,
       MAX(u.late_after_at)    AS late_after_at,
       MAX(u.missed_at)        AS missed_at,
       MAX(u.timezone)         AS timezone,
       MAX(u.breaker_state)    AS breaker_state,
       SUM(u.runs)             AS runs_24h,
       SUM(u.failures)         AS failures_24h
FROM (
    SELECT j.job, j.host, 1 AS known, j.state, j.state_reason AS reason, j.last_status,
           j.last_started_at, j.last_success_at, j.next_expected_at, j.late_after_at,
           j.missed_at, j.timezone, j.breaker_state, 0 AS runs, 0 AS failures
    FROM smartcron_jobs j
    UNION ALL
    SELECT h.job, h.host, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           h.runs, h.failures
    FROM smartcron_run_hourly h
    WHERE h.epoch_hour
          >= TIMESTAMPDIFF(HOUR, '1970-01-01 00:00:00', UTC_TIMESTAMP(6) - INTERVAL 1 DAY) + 1
    UNION ALL
    SELECT r.job, r.host, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           r.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
           r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
    FROM smartcron_runs r FORCE INDEX (ix_runs_started)
    WHERE r.started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
      AND r.started_at
          < DATE_FORMAT(UTC_TIMESTAMP(6) - INTERVAL 1 DAY, '%Y-%m-%d %H:00:00') + INTERVAL 1 HOUR
) u
GROUP BY u.job, u.host
HAVING MAX(u.known) = 1;

-- Per day (UTC), job and host over the last 90 days: a range of smartcron_run_daily's key,
-- one row per row shown. Skipped runs (lock, breaker, pause) are not runs of the job:
-- they count as `skipped` only, and stay out of the durations; lost runs, which have no
-- duration, count as runs and failures but stay out of the durations too.
CREATE OR REPLACE VIEW smartcron_v_daily_trends AS
SELECT day,
       job,
       host,
       runs,
       successes,
       failures,
       skips                                       AS skipped,
       ROUND(duration_sum / NULLIF(timed, 0), 3)   AS avg_duration_s,
       ROUND(duration_max, 3)                      AS max_duration_s,
       rss_max                                     AS max_peak_rss_bytes
FROM smartcron_run_daily
WHERE day >= UTC_DATE() - INTERVAL 90 DAY;

-- Failed runs of the last 24 hours, newest first, with the end of their stderr. Found
-- with ix_runs_status_started, a range per failed status: named, because the optimizer
-- otherwise takes ix_runs_started, every run of the day, for the order it gives.
CREATE OR REPLACE VIEW smartcron_v_recent_failures AS
SELECT r.started_at,
       r.job,
       r.host,
       r.status,
       r.exit_code,
       r.signal_number,
       ROUND(r.duration_s, 3)   AS duration_s,
       r.attempt_count,
       RIGHT(o.stderr_tail, 300) AS stderr_end,
       r.run_id
FROM smartcron_runs r FORCE INDEX (ix_runs_status_started)
LEFT JOIN smartcron_run_output o ON o.run_id = r.run_id
WHERE r.started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
  AND r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
ORDER BY r.started_at DESC;
