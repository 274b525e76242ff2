-- smartcron: tables (MySQL 8 / MariaDB 10.6+). Applied in order by
-- `smartcron-collector init-db`, or by hand: mysql smartcron < sql/001_tables.sql
-- Times are UTC. Run output lives apart from the runs so that scans of runs stay narrow.

CREATE TABLE IF NOT EXISTS smartcron_schema_version (
    version     INT          NOT NULL PRIMARY KEY,
    applied_at  DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS smartcron_runs (
    id                BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    run_id            CHAR(36)     NOT NULL,
    job               VARCHAR(100) NOT NULL,
    host              VARCHAR(255) NOT NULL,
    run_user          VARCHAR(255) NOT NULL,
    command           MEDIUMTEXT   NOT NULL,
    schedule          VARCHAR(255) NULL,
    priority          TINYINT      NOT NULL,
    tags              VARCHAR(1024) NOT NULL,
    run_trigger       VARCHAR(16)  NOT NULL,
    status            VARCHAR(20)  NOT NULL,
    exit_code         INT          NULL,
    signal_number     INT          NULL,
    started_at        DATETIME(6)  NOT NULL,
    finished_at       DATETIME(6)  NOT NULL,
    duration_s        DOUBLE       NOT NULL,
    attempt_count     INT          NOT NULL,
    peak_rss_bytes    BIGINT       NULL,
    cpu_user_s        DOUBLE       NULL,
    cpu_system_s      DOUBLE       NULL,
    output_bytes      BIGINT       NOT NULL,
    output_truncated  TINYINT(1)   NOT NULL,
    breaker_state     VARCHAR(16)  NOT NULL,
    wrapper_version   VARCHAR(32)  NOT NULL,
    received_at       DATETIME(6)  NOT NULL,
    UNIQUE KEY uq_runs_run_id (run_id),
    -- Covering: the summary's last runs of each job and the rollup's rebuild
    -- (rebuild_rollup.sql) read this index alone, never the table (a million runs do not
    -- fit a small buffer pool).
    KEY ix_runs_job_started (job, host, started_at, status, duration_s, peak_rss_bytes),
    -- Covering for the last 24 hours (smartcron_v_job_health, status counts); its
    -- (started_at, id) order is also the order /api/v1/runs pages in.
    KEY ix_runs_started (started_at, id, job, host, status),
    KEY ix_runs_status_started (status, started_at),
    KEY ix_runs_host_started (host, started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS smartcron_run_output (
    run_id       CHAR(36)    NOT NULL PRIMARY KEY,
    attempts     MEDIUMTEXT  NOT NULL,
    stdout_tail  MEDIUMTEXT  NOT NULL,
    stderr_tail  MEDIUMTEXT  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per job and host: the latest state, kept current by ingest and heartbeats.
CREATE TABLE IF NOT EXISTS smartcron_jobs (
    job               VARCHAR(100) NOT NULL,
    host              VARCHAR(255) NOT NULL,
    schedule          VARCHAR(255) NULL,
    priority          TINYINT      NOT NULL,
    command           MEDIUMTEXT   NOT NULL,
    first_seen_at     DATETIME(6)  NOT NULL,
    last_run_id       CHAR(36)     NULL,
    last_status       VARCHAR(20)  NULL,
    last_started_at   DATETIME(6)  NULL,
    last_finished_at  DATETIME(6)  NULL,
    last_success_at   DATETIME(6)  NULL,
    last_duration_s   DOUBLE       NULL,
    -- From the schedule in the job's zone (collector/state.py): the next run expected,
    -- and when the absence of the run owed makes the job late (its start plus a grace).
    next_expected_at  DATETIME(6)  NULL,
    late_after_at     DATETIME(6)  NULL,
    breaker_state     VARCHAR(16)  NOT NULL,
    paused            TINYINT(1)   NOT NULL DEFAULT 0,
    paused_at         DATETIME(6)  NULL,
    paused_by         VARCHAR(255) NULL,
    breaker_reset_at  DATETIME(6)  NULL,
    -- The IANA zone the job's schedule is read in (NULL: reports before it, read as UTC).
    timezone          VARCHAR(64)  NULL,
    -- Decided by collector/state.py, never by a query: healthy, degraded, failing,
    -- late, running or paused, and why; missed_at is the scheduled moment of the run
    -- a late job missed; review_at when time alone changes the state (the
    -- evaluation pass reads ix_jobs_review).
    state             VARCHAR(16)  NOT NULL DEFAULT 'healthy',
    state_reason      VARCHAR(512) NOT NULL DEFAULT '',
    missed_at         DATETIME(6)  NULL,
    review_at         DATETIME(6)  NULL,
    PRIMARY KEY (job, host),
    KEY ix_jobs_review (review_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS smartcron_hosts (
    host              VARCHAR(255) NOT NULL PRIMARY KEY,
    first_seen_at     DATETIME(6)  NOT NULL,
    last_seen_at      DATETIME(6)  NOT NULL,
    agent_version     VARCHAR(32)  NULL,
    health            TEXT         NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS smartcron_alerts (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job          VARCHAR(100) NOT NULL,
    host         VARCHAR(255) NOT NULL,
    kind         VARCHAR(32)  NOT NULL,
    severity     VARCHAR(16)  NOT NULL,
    message      TEXT         NOT NULL,
    run_id       CHAR(36)     NULL,
    opened_at    DATETIME(6)  NOT NULL,
    resolved_at  DATETIME(6)  NULL,
    KEY ix_alerts_open (resolved_at, opened_at),
    KEY ix_alerts_job (job, host, kind, resolved_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Tokens are stored as SHA-256 digests; the token itself is shown once, at creation.
CREATE TABLE IF NOT EXISTS smartcron_tokens (
    id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name          VARCHAR(100) NOT NULL,
    kind          VARCHAR(16)  NOT NULL,
    token_sha256  CHAR(64)     NOT NULL,
    created_at    DATETIME(6)  NOT NULL,
    revoked_at    DATETIME(6)  NULL,
    UNIQUE KEY uq_tokens_digest (token_sha256)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS smartcron_sessions (
    session_sha256  CHAR(64)     NOT NULL PRIMARY KEY,
    csrf_token      CHAR(64)     NOT NULL,
    username        VARCHAR(100) NOT NULL,
    created_at      DATETIME(6)  NOT NULL,
    expires_at      DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS smartcron_login_failures (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    client     VARCHAR(64)  NOT NULL,
    failed_at  DATETIME(6)  NOT NULL,
    KEY ix_login_failures_client (client, failed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS smartcron_audit (
    id      BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at      DATETIME(6)  NOT NULL,
    actor   VARCHAR(100) NOT NULL,
    action  VARCHAR(32)  NOT NULL,
    job     VARCHAR(100) NULL,
    host    VARCHAR(255) NULL,
    detail  TEXT         NULL,
    KEY ix_audit_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
