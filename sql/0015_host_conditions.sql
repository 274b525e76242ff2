-- smartcron revision 0015: smartcron_host_conditions: when each condition a host's heartbeat shows began, so a
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0015_host_conditions.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0014 -> 0015

CREATE TABLE smartcron_host_conditions (
    rule VARCHAR(32) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    since DATETIME(6) NOT NULL, 
    PRIMARY KEY (rule, host)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

UPDATE smartcron_alembic_version SET version_num='0015' WHERE smartcron_alembic_version.version_num = '0014';

