-- smartcron: smartcron_v_job_performance reads smartcron_perf_daily (revision 0014),
-- at most 31 rows per job and host, read in the order of its key and summed a job at a
-- time; smartcron_v_job_health groups the hourly rollup a job at a time before it meets
-- the jobs' rows. What each costs, measured: docs/queries.md. The names in braces are
-- filled in by collector/db/migrations/duration_buckets.py.

-- Per job and host, its real runs (skips are not) of today (UTC) and the 29 days before.
-- Every figure is exact but the p95 duration, which comes from a histogram of quarter
-- octaves: the midpoint of the bucket holding the nearest-rank p95 (the ceil(0.95 n)-th
-- shortest timed run), within 8.6 % of the exact figure, held between the shortest and
-- the longest run (a p95 over 18 h is the longest run). Lost runs have no duration: they
-- count as runs, and in no duration figure.
CREATE OR REPLACE VIEW smartcron_v_job_performance AS
SELECT job,
       host,
       runs,
       successes,
       ROUND(100 * successes / runs, 1)                 AS success_rate_pct,
       ROUND(duration_sum / NULLIF(timed, 0), 3)        AS avg_duration_s,
       ROUND(LEAST(GREATEST(
           CASE WHEN timed = 0 THEN NULL
                {p95_cases}
                ELSE duration_max
           END, duration_min), duration_max), 3)        AS p95_duration_s,
       ROUND(duration_max, 3)                           AS max_duration_s,
       ROUND(rss_sum / NULLIF(rss_count, 0))            AS avg_peak_rss_bytes,
       rss_max                                          AS max_peak_rss_bytes
FROM (
    SELECT job, host,
           SUM(runs)                    AS runs,
           SUM(successes)               AS successes,
           SUM(timed)                   AS timed,
           SUM(duration_sum)            AS duration_sum,
           MIN(duration_min)            AS duration_min,
           MAX(duration_max)            AS duration_max,
           SUM(rss_sum)                 AS rss_sum,
           SUM(rss_count)               AS rss_count,
           MAX(rss_max)                 AS rss_max,
           (95 * SUM(timed) + 99) DIV 100 AS p95_rank,
           {sum_days}
    FROM smartcron_perf_daily
    WHERE day BETWEEN UTC_DATE() - INTERVAL 29 DAY AND UTC_DATE()
    GROUP BY job, host
) p;

-- One row per job and host, the state as collector/state.py stored it, beside the last
-- 24 hours' counts, as in 0009_views.sql: the whole hours after now - 24 h from
-- smartcron_run_hourly, the runs before the first of them (less than an hour of every
-- job's) from ix_runs_started, and each job's row, grouped by job and host. The hourly
-- rows are summed a job at a time first, in the order of their key (no sort, no
-- temporary table), so that the rows grouped at the end are two per job and that hour's
-- runs, not the 24 to 48 hourly rows of every job (4.2 s on 10,000 jobs).
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
           SUM(h.runs), SUM(h.failures)
    FROM smartcron_run_hourly h FORCE INDEX (PRIMARY)
    WHERE h.epoch_hour
          >= TIMESTAMPDIFF(HOUR, '1970-01-01 00:00:00', UTC_TIMESTAMP(6) - INTERVAL 1 DAY) + 1
    GROUP BY h.job, h.host
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
