-- smartcron revision 0008: The alert engine's tables, and an index on the moment a job becomes late.
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0008_alerts.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0007 -> 0008

ALTER TABLE smartcron_alerts CHANGE kind rule VARCHAR(32) NOT NULL;

ALTER TABLE smartcron_alerts CHANGE message detail TEXT NOT NULL;

ALTER TABLE smartcron_alerts ADD COLUMN summary VARCHAR(255) NOT NULL DEFAULT '';

ALTER TABLE smartcron_alerts ADD COLUMN instant DATETIME(6);

ALTER TABLE smartcron_alerts ADD COLUMN last_seen_at DATETIME(6);

ALTER TABLE smartcron_alerts ADD COLUMN repeats INTEGER NOT NULL DEFAULT '0';

ALTER TABLE smartcron_alerts ADD COLUMN acknowledged_at DATETIME(6);

ALTER TABLE smartcron_alerts ADD COLUMN acknowledged_by VARCHAR(100);

ALTER TABLE smartcron_alerts ADD COLUMN resolved_by VARCHAR(100);

ALTER TABLE smartcron_alerts ADD COLUMN silenced VARCHAR(255);

ALTER TABLE smartcron_alerts ADD COLUMN open_key SMALLINT;

UPDATE smartcron_alerts SET summary = SUBSTR(detail, 1, 255), instant = opened_at, last_seen_at = opened_at;

UPDATE smartcron_alerts SET open_key = 1 WHERE id IN (SELECT id FROM (SELECT MAX(id) AS id FROM smartcron_alerts WHERE resolved_at IS NULL GROUP BY rule, job, host) AS newest);

UPDATE smartcron_alerts SET resolved_at = UTC_TIMESTAMP(6), resolved_by = 'migration 0008' WHERE resolved_at IS NULL AND open_key IS NULL;

ALTER TABLE smartcron_alerts CHANGE instant instant DATETIME(6) NOT NULL;

ALTER TABLE smartcron_alerts CHANGE last_seen_at last_seen_at DATETIME(6) NOT NULL;

ALTER TABLE smartcron_alerts ADD CONSTRAINT uq_alerts_identity UNIQUE (rule, job, host, instant);

ALTER TABLE smartcron_alerts ADD CONSTRAINT uq_alerts_open UNIQUE (open_key, rule, job, host);

CREATE OR REPLACE VIEW smartcron_v_active_alerts AS
SELECT a.id,
       a.severity,
       a.rule,
       a.job,
       a.host,
       a.summary,
       a.instant,
       a.opened_at AS since,
       TIMESTAMPDIFF(MINUTE, a.opened_at, UTC_TIMESTAMP(6)) AS open_minutes,
       a.last_seen_at,
       a.repeats,
       a.acknowledged_at IS NOT NULL AS acknowledged,
       a.acknowledged_by,
       a.silenced,
       a.run_id
FROM smartcron_alerts a
WHERE a.resolved_at IS NULL
ORDER BY CASE a.severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'warning' THEN 3
                        WHEN 'info' THEN 4 ELSE 5 END,
         a.opened_at;

CREATE TABLE smartcron_alert_events (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    alert_id BIGINT NOT NULL, 
    event VARCHAR(16) NOT NULL, 
    created_at DATETIME(6) NOT NULL, 
    dispatched_at DATETIME(6), 
    PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_alert_events_alert ON smartcron_alert_events (alert_id, id);

CREATE INDEX ix_alert_events_pending ON smartcron_alert_events (dispatched_at, id);

CREATE TABLE smartcron_leases (
    name VARCHAR(64) NOT NULL, 
    holder VARCHAR(255) NOT NULL, 
    expires_at DATETIME(6) NOT NULL, 
    PRIMARY KEY (name)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE smartcron_maintenance (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    job VARCHAR(100), 
    host VARCHAR(255), 
    tag VARCHAR(100), 
    starts_at DATETIME(6) NOT NULL, 
    ends_at DATETIME(6), 
    schedule VARCHAR(255), 
    timezone VARCHAR(64), 
    duration_s INTEGER, 
    reason VARCHAR(512) NOT NULL, 
    created_by VARCHAR(100) NOT NULL, 
    created_at DATETIME(6) NOT NULL, 
    cancelled_at DATETIME(6), 
    PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_maintenance_ends ON smartcron_maintenance (ends_at);

CREATE TABLE smartcron_alert_cursors (
    name VARCHAR(64) NOT NULL, 
    position BIGINT, 
    at DATETIME(6), 
    updated_at DATETIME(6) NOT NULL, 
    PRIMARY KEY (name)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_jobs_late_after ON smartcron_jobs (late_after_at);

UPDATE smartcron_alembic_version SET version_num='0008' WHERE smartcron_alembic_version.version_num = '0007';

