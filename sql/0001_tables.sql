-- smartcron revision 0001: The tables and reporting views (what v0.1.0 called schema version 1).
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0001_tables.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

CREATE TABLE smartcron_alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT smartcron_alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE smartcron_schema_version (
    version INTEGER NOT NULL, 
    applied_at DATETIME(6) NOT NULL, 
    PRIMARY KEY (version)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE smartcron_runs (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    run_id CHAR(36) NOT NULL, 
    job VARCHAR(100) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    run_user VARCHAR(255) NOT NULL, 
    command MEDIUMTEXT NOT NULL, 
    schedule VARCHAR(255), 
    priority TINYINT NOT NULL, 
    tags VARCHAR(1024) NOT NULL, 
    run_trigger VARCHAR(16) NOT NULL, 
    status VARCHAR(20) NOT NULL, 
    exit_code INTEGER, 
    signal_number INTEGER, 
    started_at DATETIME(6) NOT NULL, 
    finished_at DATETIME(6) NOT NULL, 
    duration_s DOUBLE NOT NULL, 
    attempt_count INTEGER NOT NULL, 
    peak_rss_bytes BIGINT, 
    cpu_user_s DOUBLE, 
    cpu_system_s DOUBLE, 
    output_bytes BIGINT NOT NULL, 
    output_truncated TINYINT(1) NOT NULL, 
    breaker_state VARCHAR(16) NOT NULL, 
    wrapper_version VARCHAR(32) NOT NULL, 
    received_at DATETIME(6) NOT NULL, 
    PRIMARY KEY (id), 
    CONSTRAINT uq_runs_run_id UNIQUE (run_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_runs_job_started ON smartcron_runs (job, host, started_at, status, duration_s, peak_rss_bytes);

CREATE INDEX ix_runs_started ON smartcron_runs (started_at, id, job, host, status);

CREATE INDEX ix_runs_status_started ON smartcron_runs (status, started_at);

CREATE INDEX ix_runs_host_started ON smartcron_runs (host, started_at);

CREATE TABLE smartcron_run_output (
    run_id CHAR(36) NOT NULL, 
    attempts MEDIUMTEXT NOT NULL, 
    stdout_tail MEDIUMTEXT NOT NULL, 
    stderr_tail MEDIUMTEXT NOT NULL, 
    PRIMARY KEY (run_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE smartcron_jobs (
    job VARCHAR(100) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    schedule VARCHAR(255), 
    priority TINYINT NOT NULL, 
    command MEDIUMTEXT NOT NULL, 
    first_seen_at DATETIME(6) NOT NULL, 
    last_run_id CHAR(36), 
    last_status VARCHAR(20), 
    last_started_at DATETIME(6), 
    last_finished_at DATETIME(6), 
    last_success_at DATETIME(6), 
    last_duration_s DOUBLE, 
    next_expected_at DATETIME(6), 
    late_after_at DATETIME(6), 
    breaker_state VARCHAR(16) NOT NULL, 
    paused TINYINT(1) NOT NULL DEFAULT '0', 
    paused_at DATETIME(6), 
    paused_by VARCHAR(255), 
    breaker_reset_at DATETIME(6), 
    PRIMARY KEY (job, host)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE smartcron_hosts (
    host VARCHAR(255) NOT NULL, 
    first_seen_at DATETIME(6) NOT NULL, 
    last_seen_at DATETIME(6) NOT NULL, 
    agent_version VARCHAR(32), 
    health TEXT, 
    PRIMARY KEY (host)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE smartcron_alerts (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    job VARCHAR(100) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    kind VARCHAR(32) NOT NULL, 
    severity VARCHAR(16) NOT NULL, 
    message TEXT NOT NULL, 
    run_id CHAR(36), 
    opened_at DATETIME(6) NOT NULL, 
    resolved_at DATETIME(6), 
    PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_alerts_open ON smartcron_alerts (resolved_at, opened_at);

CREATE INDEX ix_alerts_job ON smartcron_alerts (job, host, kind, resolved_at);

CREATE TABLE smartcron_tokens (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    name VARCHAR(100) NOT NULL, 
    kind VARCHAR(16) NOT NULL, 
    token_sha256 CHAR(64) NOT NULL, 
    created_at DATETIME(6) NOT NULL, 
    revoked_at DATETIME(6), 
    PRIMARY KEY (id), 
    CONSTRAINT uq_tokens_digest UNIQUE (token_sha256)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE smartcron_sessions (
    session_sha256 CHAR(64) NOT NULL, 
    csrf_token CHAR(64) NOT NULL, 
    username VARCHAR(100) NOT NULL, 
    created_at DATETIME(6) NOT NULL, 
    expires_at DATETIME(6) NOT NULL, 
    PRIMARY KEY (session_sha256)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE smartcron_login_failures (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    client VARCHAR(64) NOT NULL, 
    failed_at DATETIME(6) NOT NULL, 
    PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_login_failures_client ON smartcron_login_failures (client, failed_at);

CREATE TABLE smartcron_audit (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    at DATETIME(6) NOT NULL, 
    actor VARCHAR(100) NOT NULL, 
    action VARCHAR(32) NOT NULL, 
    job VARCHAR(100), 
    host VARCHAR(255), 
    detail TEXT, 
    PRIMARY KEY (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_audit_at ON smartcron_audit (at);

CREATE OR REPLACE VIEW smartcron_v_daily_trends AS
SELECT DATE(started_at)                                              AS day,
       job,
       host,
       SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS runs,
       SUM(status = 'success')                                       AS successes,
       SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')) AS failures,
       SUM(status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS skipped,
       ROUND(AVG(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END), 3) AS avg_duration_s,
       ROUND(MAX(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END), 3) AS max_duration_s,
       MAX(peak_rss_bytes)                                           AS max_peak_rss_bytes
FROM smartcron_runs
WHERE started_at >= UTC_DATE() - INTERVAL 90 DAY
GROUP BY DATE(started_at), job, host;

CREATE OR REPLACE VIEW smartcron_v_job_health AS
WITH day AS (
    SELECT job, host,
           SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')) AS runs,
           SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'))    AS failures
    FROM smartcron_runs
    WHERE started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
    GROUP BY job, host
)
SELECT j.job,
       j.host,
       CASE
           WHEN j.paused = 1 THEN 'paused'
           WHEN j.breaker_state = 'open'
             OR j.last_status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost') THEN 'failing'
           WHEN j.late_after_at IS NOT NULL AND j.late_after_at < UTC_TIMESTAMP(6) THEN 'late'
           WHEN COALESCE(d.failures, 0) > 0 THEN 'degraded'
           ELSE 'healthy'
       END AS state,
       CASE
           WHEN j.paused = 1 THEN CONCAT('paused by ', COALESCE(j.paused_by, '?'), ' at ', COALESCE(j.paused_at, '?'))
           WHEN j.breaker_state = 'open' THEN CONCAT('circuit breaker open after repeated failures; last run ', COALESCE(j.last_status, 'unknown'))
           WHEN j.last_status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
               THEN CONCAT('last run ', j.last_status, ' at ', COALESCE(j.last_started_at, '?'))
           WHEN j.late_after_at IS NOT NULL AND j.late_after_at < UTC_TIMESTAMP(6)
               THEN CONCAT(COALESCE(CONCAT('no run since ', j.last_started_at), 'never ran'), '; one was due at ', COALESCE(j.next_expected_at, j.late_after_at))
           WHEN COALESCE(d.failures, 0) > 0
               THEN CONCAT(d.failures, ' of ', d.runs, ' runs failed in the last 24 h')
           ELSE 'last run succeeded'
       END AS reason,
       j.last_status,
       j.last_started_at,
       j.last_success_at,
       j.next_expected_at,
       j.breaker_state,
       COALESCE(d.runs, 0)     AS runs_24h,
       COALESCE(d.failures, 0) AS failures_24h
FROM smartcron_jobs j
LEFT JOIN day d ON d.job = j.job AND d.host = j.host;

CREATE OR REPLACE VIEW smartcron_v_recent_failures AS
SELECT r.started_at,
       r.job,
       r.host,
       r.status,
       r.exit_code,
       r.signal_number,
       ROUND(r.duration_s, 3)   AS duration_s,
       r.attempt_count,
       RIGHT(o.stderr_tail, 300) AS stderr_end,
       r.run_id
FROM smartcron_runs r
LEFT JOIN smartcron_run_output o ON o.run_id = r.run_id
WHERE r.started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
  AND r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
ORDER BY r.started_at DESC;

CREATE OR REPLACE VIEW smartcron_v_active_alerts AS
SELECT a.id,
       a.severity,
       a.kind,
       a.job,
       a.host,
       a.message,
       a.opened_at,
       TIMESTAMPDIFF(MINUTE, a.opened_at, UTC_TIMESTAMP(6)) AS open_minutes,
       a.run_id
FROM smartcron_alerts a
WHERE a.resolved_at IS NULL
ORDER BY CASE a.severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'warning' THEN 3
                        WHEN 'info' THEN 4 ELSE 5 END,
         a.opened_at;

INSERT INTO smartcron_alembic_version (version_num) VALUES ('0001');

