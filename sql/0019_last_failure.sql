-- smartcron revision 0019: A job's latest failure on its row, smartcron_jobs.last_failure_at.
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0019_last_failure.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0018 -> 0019

ALTER TABLE smartcron_jobs ADD COLUMN last_failure_at DATETIME(6);

UPDATE smartcron_jobs SET last_failure_at = ( SELECT MAX(r.started_at) FROM smartcron_runs r WHERE r.job = smartcron_jobs.job AND r.host = smartcron_jobs.host AND r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost') AND r.started_at <= UTC_TIMESTAMP(6));

UPDATE smartcron_alembic_version SET version_num='0019' WHERE smartcron_alembic_version.version_num = '0018';

