-- smartcron revision 0011: Alert delivery's tables: deliveries, their attempts, and reminders.
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0011_delivery.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0009 -> 0011

CREATE TABLE smartcron_deliveries (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    delivery_key VARCHAR(64) NOT NULL, 
    channel VARCHAR(100) NOT NULL, 
    event_id BIGINT, 
    status VARCHAR(16) NOT NULL, 
    attempts INTEGER NOT NULL DEFAULT '0', 
    next_attempt_at DATETIME(6) NOT NULL, 
    last_error VARCHAR(512), 
    created_at DATETIME(6) NOT NULL, 
    sent_at DATETIME(6), 
    claim VARCHAR(36), 
    claimed_until DATETIME(6), 
    attempt_id BIGINT, 
    payload TEXT, 
    PRIMARY KEY (id), 
    CONSTRAINT uq_deliveries_key UNIQUE (delivery_key, channel)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_deliveries_due ON smartcron_deliveries (status, channel, next_attempt_at);

CREATE TABLE smartcron_delivery_attempts (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    channel VARCHAR(100) NOT NULL, 
    at DATETIME(6) NOT NULL, 
    ok TINYINT(1) NOT NULL, 
    kind VARCHAR(16) NOT NULL, 
    deliveries INTEGER NOT NULL, 
    error VARCHAR(512), 
    PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_delivery_attempts_channel ON smartcron_delivery_attempts (channel, at);

CREATE TABLE smartcron_alert_reminders (
    alert_id BIGINT NOT NULL, 
    sent INTEGER NOT NULL, 
    last_at DATETIME(6) NOT NULL, 
    PRIMARY KEY (alert_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

UPDATE smartcron_alembic_version SET version_num='0011' WHERE smartcron_alembic_version.version_num = '0009';

