-- smartcron: the reporting views of sql/002_views.sql, written for SQLite (the
-- embedded default). Same names, same columns; only the date arithmetic differs.
-- Times are stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC text, which sorts as time.

-- smartcron_v_job_performance reads the run rollup: 003_rollup.sql.

DROP VIEW IF EXISTS smartcron_v_daily_trends;
CREATE VIEW smartcron_v_daily_trends AS
SELECT date(started_at)                                              AS day,
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
WHERE started_at >= date('now', '-90 days')
GROUP BY date(started_at), job, host;

DROP VIEW IF EXISTS smartcron_v_job_health;
CREATE VIEW smartcron_v_job_health AS
WITH day AS (
    SELECT job, host,
           SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS runs,
           SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'))    AS failures
    FROM smartcron_runs
    WHERE started_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 day')
    GROUP BY job, host
)
SELECT j.job,
       j.host,
       CASE
           WHEN j.paused = 1 THEN 'paused'
           WHEN j.breaker_state = 'open'
             OR j.last_status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost') THEN 'failing'
           WHEN j.late_after_at IS NOT NULL
             AND j.late_after_at < strftime('%Y-%m-%d %H:%M:%f', 'now') THEN 'late'
           WHEN COALESCE(d.failures, 0) > 0 THEN 'degraded'
           ELSE 'healthy'
       END AS state,
       CASE
           WHEN j.paused = 1 THEN 'paused by ' || COALESCE(j.paused_by, '?') || ' at ' || COALESCE(j.paused_at, '?')
           WHEN j.breaker_state = 'open'
               THEN 'circuit breaker open after repeated failures; last run ' || COALESCE(j.last_status, 'unknown')
           WHEN j.last_status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
               THEN 'last run ' || j.last_status || ' at ' || COALESCE(j.last_started_at, '?')
           WHEN j.late_after_at IS NOT NULL
             AND j.late_after_at < strftime('%Y-%m-%d %H:%M:%f', 'now')
               THEN COALESCE('no run since ' || j.last_started_at, 'never ran') || '; one was due at ' || COALESCE(j.next_expected_at, j.late_after_at)
           WHEN COALESCE(d.failures, 0) > 0
               THEN d.failures || ' of ' || d.runs || ' runs failed in the last 24 h'
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

DROP VIEW IF EXISTS smartcron_v_recent_failures;
CREATE VIEW smartcron_v_recent_failures AS
SELECT r.started_at,
       r.job,
       r.host,
       r.status,
       r.exit_code,
       r.signal_number,
       ROUND(r.duration_s, 3)      AS duration_s,
       r.attempt_count,
       substr(o.stderr_tail, -300) AS stderr_end,
       r.run_id
FROM smartcron_runs r
LEFT JOIN smartcron_run_output o ON o.run_id = r.run_id
WHERE r.started_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 day')
  AND r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
ORDER BY r.started_at DESC;

DROP VIEW IF EXISTS smartcron_v_active_alerts;
CREATE VIEW smartcron_v_active_alerts AS
SELECT a.id,
       a.severity,
       a.kind,
       a.job,
       a.host,
       a.message,
       a.opened_at,
       CAST((julianday('now') - julianday(a.opened_at)) * 1440 AS INTEGER) AS open_minutes,
       a.run_id
FROM smartcron_alerts a
WHERE a.resolved_at IS NULL
ORDER BY CASE a.severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'warning' THEN 3
                        WHEN 'info' THEN 4 ELSE 5 END,
         a.opened_at;
