-- smartcron revision 0016: The last day's failed runs in a table of their own, for smartcron_v_recent_failures.
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0016_recent_failures.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0015 -> 0016

CREATE TABLE smartcron_recent_failures (
    started_at DATETIME(6) NOT NULL, 
    run_id CHAR(36) NOT NULL, 
    job VARCHAR(100) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    status VARCHAR(20) NOT NULL, 
    exit_code INTEGER, 
    signal_number INTEGER, 
    duration_s DOUBLE, 
    attempt_count INTEGER NOT NULL, 
    stderr_end VARCHAR(300), 
    PRIMARY KEY (started_at, run_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE UNIQUE INDEX ix_recent_failures_run ON smartcron_recent_failures (run_id);

LOCK TABLES smartcron_runs WRITE, smartcron_run_output WRITE, smartcron_recent_failures WRITE;

DROP TRIGGER IF EXISTS smartcron_runs_recent_failures;

CREATE TRIGGER smartcron_runs_recent_failures AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_recent_failures
       (started_at, run_id, job, host, status, exit_code, signal_number, duration_s,
        attempt_count, stderr_end)
SELECT NEW.started_at, NEW.run_id, NEW.job, NEW.host, NEW.status, NEW.exit_code,
       NEW.signal_number, NEW.duration_s, NEW.attempt_count,
       (SELECT RIGHT(stderr_tail, 300) FROM smartcron_run_output
        WHERE smartcron_run_output.run_id = NEW.run_id)
FROM DUAL
WHERE NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost');

DELETE FROM smartcron_recent_failures;

INSERT INTO smartcron_recent_failures
       (started_at, run_id, job, host, status, exit_code, signal_number, duration_s,
        attempt_count, stderr_end)
SELECT smartcron_runs.started_at, smartcron_runs.run_id, smartcron_runs.job,
       smartcron_runs.host, smartcron_runs.status, smartcron_runs.exit_code,
       smartcron_runs.signal_number, smartcron_runs.duration_s, smartcron_runs.attempt_count,
       RIGHT(smartcron_run_output.stderr_tail, 300)
FROM smartcron_runs FORCE INDEX (ix_runs_status_started)
LEFT JOIN smartcron_run_output ON smartcron_run_output.run_id = smartcron_runs.run_id
WHERE smartcron_runs.started_at >= UTC_TIMESTAMP(6) - INTERVAL 48 HOUR
  AND smartcron_runs.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost');

UNLOCK TABLES;

ANALYZE TABLE smartcron_recent_failures;

CREATE OR REPLACE VIEW smartcron_v_recent_failures AS
SELECT started_at,
       job,
       host,
       status,
       exit_code,
       signal_number,
       ROUND(duration_s, 3) AS duration_s,
       attempt_count,
       stderr_end,
       run_id
FROM smartcron_recent_failures
WHERE started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
ORDER BY started_at DESC;

UPDATE smartcron_alembic_version SET version_num='0016' WHERE smartcron_alembic_version.version_num = '0015';

