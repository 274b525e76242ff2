-- smartcron revision 0003: The schema's version is Alembic's (smartcron_alembic_version): the old version table
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0003_alembic_version.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0002 -> 0003

DROP TABLE smartcron_schema_version;

UPDATE smartcron_alembic_version SET version_num='0003' WHERE smartcron_alembic_version.version_num = '0002';

