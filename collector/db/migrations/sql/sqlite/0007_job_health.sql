-- smartcron: smartcron_v_job_health counts each job's last 24 hours with a short range
-- of ix_runs_job_started per job (revision 0007), as on MySQL, where joining a derived
-- table of every job's counts was joined without a key.

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
       (SELECT COUNT(*) FROM smartcron_runs r
        WHERE r.job = j.job AND r.host = j.host
          AND r.started_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 day')
          AND r.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS runs_24h,
       (SELECT COUNT(*) FROM smartcron_runs r
        WHERE r.job = j.job AND r.host = j.host
          AND r.started_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 day')
          AND r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'))    AS failures_24h
FROM smartcron_jobs j;
