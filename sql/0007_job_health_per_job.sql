-- smartcron revision 0007: smartcron_v_job_health counts each job's last 24 hours per job, from the index,
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0007_job_health_per_job.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0006 -> 0007

CREATE OR REPLACE VIEW smartcron_v_job_health AS
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
       (SELECT COUNT(*) FROM smartcron_runs r FORCE INDEX (ix_runs_job_started)
        WHERE r.job = j.job AND r.host = j.host
          AND r.started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
          AND r.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS runs_24h,
       (SELECT COUNT(*) FROM smartcron_runs r FORCE INDEX (ix_runs_job_started)
        WHERE r.job = j.job AND r.host = j.host
          AND r.started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
          AND r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'))    AS failures_24h
FROM smartcron_jobs j;

UPDATE smartcron_alembic_version SET version_num='0007' WHERE smartcron_alembic_version.version_num = '0006';

