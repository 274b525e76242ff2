-- smartcron revision 0012: smartcron_jobs.unlisted_at: when the host's crontabs stopped listing a wrapped job
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0012_crontab_listing.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0011 -> 0012

ALTER TABLE smartcron_jobs ADD COLUMN unlisted_at DATETIME(6);

UPDATE smartcron_alembic_version SET version_num='0012' WHERE smartcron_alembic_version.version_num = '0011';

