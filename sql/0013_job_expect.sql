-- smartcron revision 0013: What a job expects of its runs (the report's `expect`), stored on its row: the
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0013_job_expect.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0012 -> 0013

ALTER TABLE smartcron_jobs ADD COLUMN grace_s DOUBLE;

ALTER TABLE smartcron_jobs ADD COLUMN min_duration_s DOUBLE;

ALTER TABLE smartcron_jobs ADD COLUMN max_duration_s DOUBLE;

ALTER TABLE smartcron_jobs ADD COLUMN alert_after SMALLINT NOT NULL DEFAULT '3';

ALTER TABLE smartcron_jobs ADD COLUMN in_flight_seen_at DATETIME(6);

UPDATE smartcron_alembic_version SET version_num='0013' WHERE smartcron_alembic_version.version_num = '0012';

