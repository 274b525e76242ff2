-- smartcron revision 0006: Indexes on the stored state, so that a page of jobs, filtered by state or host, and
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0006_fleet_indexes.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0005 -> 0006

CREATE INDEX ix_jobs_state_order ON smartcron_jobs (state, priority, job, host);

CREATE INDEX ix_jobs_host_state ON smartcron_jobs (host, state, priority, job);

UPDATE smartcron_alembic_version SET version_num='0006' WHERE smartcron_alembic_version.version_num = '0005';

