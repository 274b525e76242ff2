-- smartcron revision 0018: Ingest tokens bound to a host, in smartcron_tokens.host.
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0018_token_hosts.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0017 -> 0018

ALTER TABLE smartcron_tokens ADD COLUMN host VARCHAR(255);

UPDATE smartcron_alembic_version SET version_num='0018' WHERE smartcron_alembic_version.version_num = '0017';

