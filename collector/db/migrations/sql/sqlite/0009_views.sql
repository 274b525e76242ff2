-- smartcron: the views of mysql/0009_views.sql (which says what each reads), for SQLite.

DROP VIEW IF EXISTS smartcron_v_job_health;
CREATE VIEW smartcron_v_job_health AS
SELECT j.job,
       j.host,
       j.state,
       j.state_reason AS reason,
       j.last_status,
       j.last_started_at,
       j.last_success_at,
       j.next_expected_at,
       j.late_after_at,
       j.missed_at,
       j.timezone,
       j.breaker_state,
       (SELECT COALESCE(SUM(h.runs), 0) FROM smartcron_run_hourly h
        WHERE h.job = j.job AND h.host = j.host
          AND h.epoch_hour >= CAST(strftime('%s', 'now', '-1 day') AS INTEGER) / 3600 + 1)
       + (SELECT COUNT(*) FROM smartcron_runs r
          WHERE r.job = j.job AND r.host = j.host
            AND r.started_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 day')
            AND r.started_at < strftime('%Y-%m-%d %H:00:00.000', 'now', '-1 day', '+1 hour')
            AND r.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS runs_24h,
       (SELECT COALESCE(SUM(h.failures), 0) FROM smartcron_run_hourly h
        WHERE h.job = j.job AND h.host = j.host
          AND h.epoch_hour >= CAST(strftime('%s', 'now', '-1 day') AS INTEGER) / 3600 + 1)
       + (SELECT COUNT(*) FROM smartcron_runs r
          WHERE r.job = j.job AND r.host = j.host
            AND r.started_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 day')
            AND r.started_at < strftime('%Y-%m-%d %H:00:00.000', 'now', '-1 day', '+1 hour')
            AND r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')) AS failures_24h
FROM smartcron_jobs j;

DROP VIEW IF EXISTS smartcron_v_daily_trends;
CREATE VIEW smartcron_v_daily_trends AS
SELECT day,
       job,
       host,
       runs,
       successes,
       failures,
       skips                                     AS skipped,
       ROUND(duration_sum / NULLIF(timed, 0), 3) AS avg_duration_s,
       ROUND(duration_max, 3)                    AS max_duration_s,
       rss_max                                   AS max_peak_rss_bytes
FROM smartcron_run_daily
WHERE day >= date('now', '-90 days');

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
FROM smartcron_runs r INDEXED BY ix_runs_status_started
LEFT JOIN smartcron_run_output o ON o.run_id = r.run_id
WHERE r.started_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 day')
  AND r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
ORDER BY r.started_at DESC;
