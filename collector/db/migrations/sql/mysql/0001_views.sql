-- smartcron: reporting views, for people at the mysql client and for the page.
--   SELECT * FROM smartcron_v_job_health WHERE state <> 'healthy';
-- Skipped runs (lock, breaker, pause) are not runs of the job and are left out of
-- performance figures; they still count in daily trends as `skipped`.

-- smartcron_v_job_performance reads the run rollup: sql/003_rollup.sql.

-- Per day (UTC), job and host over the last 90 days.
CREATE OR REPLACE VIEW smartcron_v_daily_trends AS
SELECT DATE(started_at)                                              AS day,
       job,
       host,
       SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS runs,
       SUM(status = 'success')                                       AS successes,
       SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')) AS failures,
       SUM(status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS skipped,
       ROUND(AVG(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END), 3) AS avg_duration_s,
       ROUND(MAX(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END), 3) AS max_duration_s,
       MAX(peak_rss_bytes)                                           AS max_peak_rss_bytes
FROM smartcron_runs
WHERE started_at >= UTC_DATE() - INTERVAL 90 DAY
GROUP BY DATE(started_at), job, host;

-- One row per job and host: healthy, degraded, failing, late or paused, and why.
CREATE OR REPLACE VIEW smartcron_v_job_health AS
WITH day AS (
    SELECT job, host,
           SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS runs,
           SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'))    AS failures
    FROM smartcron_runs
    WHERE started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
    GROUP BY job, host
)
SELECT j.job,
       j.host,
       CASE
           WHEN j.paused = 1 THEN 'paused'
           WHEN j.breaker_state = 'open'
             OR j.last_status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost') THEN 'failing'
           WHEN j.late_after_at IS NOT NULL AND j.late_after_at < UTC_TIMESTAMP(6) THEN 'late'
           WHEN COALESCE(d.failures, 0) > 0 THEN 'degraded'
           ELSE 'healthy'
       END AS state,
       CASE
           WHEN j.paused = 1 THEN CONCAT('paused by ', COALESCE(j.paused_by, '?'), ' at ', COALESCE(j.paused_at, '?'))
           WHEN j.breaker_state = 'open' THEN CONCAT('circuit breaker open after repeated failures; last run ', COALESCE(j.last_status, 'unknown'))
           WHEN j.last_status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
               THEN CONCAT('last run ', j.last_status, ' at ', COALESCE(j.last_started_at, '?'))
           WHEN j.late_after_at IS NOT NULL AND j.late_after_at < UTC_TIMESTAMP(6)
               THEN CONCAT(COALESCE(CONCAT('no run since ', j.last_started_at), 'never ran'), '; one was due at ', COALESCE(j.next_expected_at, j.late_after_at))
           WHEN COALESCE(d.failures, 0) > 0
               THEN CONCAT(d.failures, ' of ', d.runs, ' runs failed in the last 24 h')
           ELSE 'last run succeeded'
       END AS reason,
       j.last_status,
       j.last_started_at,
       j.last_success_at,
       j.next_expected_at,
       j.breaker_state,
       COALESCE(d.runs, 0)     AS runs_24h,
       COALESCE(d.failures, 0) AS failures_24h
FROM smartcron_jobs j
LEFT JOIN day d ON d.job = j.job AND d.host = j.host;

-- Failed runs of the last 24 hours, newest first, with the end of their stderr.
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
FROM smartcron_runs r
LEFT JOIN smartcron_run_output o ON o.run_id = r.run_id
WHERE r.started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
  AND r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
ORDER BY r.started_at DESC;

-- Alerts not yet resolved, most severe and oldest first.
CREATE OR REPLACE VIEW smartcron_v_active_alerts AS
SELECT a.id,
       a.severity,
       a.kind,
       a.job,
       a.host,
       a.message,
       a.opened_at,
       TIMESTAMPDIFF(MINUTE, a.opened_at, UTC_TIMESTAMP(6)) AS open_minutes,
       a.run_id
FROM smartcron_alerts a
WHERE a.resolved_at IS NULL
ORDER BY CASE a.severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'warning' THEN 3
                        WHEN 'info' THEN 4 ELSE 5 END,
         a.opened_at;
