-- smartcron: smartcron_v_job_health reads the state collector/state.py stored on the
-- job's row (revision 0005), where it used to decide the state itself.

-- One row per job and host: healthy, degraded, failing, late, running or paused, and
-- why, as collector/state.py decided and stored it on the job's row (the view decides
-- nothing itself), beside the last 24 hours' counts.
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
       COALESCE(d.runs, 0)     AS runs_24h,
       COALESCE(d.failures, 0) AS failures_24h
FROM smartcron_jobs j
LEFT JOIN day d ON d.job = j.job AND d.host = j.host;
