-- smartcron revision 0005: A job's zone and its state, as collector/state.py decides them, stored on its row;
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0005_job_state.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0004 -> 0005

ALTER TABLE smartcron_jobs ADD COLUMN timezone VARCHAR(64);

ALTER TABLE smartcron_jobs ADD COLUMN state VARCHAR(16) NOT NULL DEFAULT 'healthy';

ALTER TABLE smartcron_jobs ADD COLUMN state_reason VARCHAR(512) NOT NULL DEFAULT '';

ALTER TABLE smartcron_jobs ADD COLUMN missed_at DATETIME(6);

ALTER TABLE smartcron_jobs ADD COLUMN review_at DATETIME(6);

UPDATE smartcron_jobs SET review_at = '2000-01-01 00:00:00';

CREATE INDEX ix_jobs_review ON smartcron_jobs (review_at);

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

UPDATE smartcron_alembic_version SET version_num='0005' WHERE smartcron_alembic_version.version_num = '0004';

