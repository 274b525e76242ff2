-- smartcron revision 0009: Hourly and daily run rollups, kept by triggers as the run rollup is: the 24-hour
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0009_hourly_rollup.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0008 -> 0009

CREATE TABLE smartcron_run_hourly (
    job VARCHAR(100) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    epoch_hour INTEGER NOT NULL, 
    runs INTEGER NOT NULL, 
    successes INTEGER NOT NULL, 
    failures INTEGER NOT NULL, 
    skips INTEGER NOT NULL, 
    PRIMARY KEY (job, host, epoch_hour)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_run_hourly_hour ON smartcron_run_hourly (epoch_hour);

CREATE TABLE smartcron_host_hourly (
    epoch_hour INTEGER NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    runs INTEGER NOT NULL, 
    successes INTEGER NOT NULL, 
    failures INTEGER NOT NULL, 
    skips INTEGER NOT NULL, 
    PRIMARY KEY (epoch_hour, host)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE smartcron_run_daily (
    day DATE NOT NULL, 
    job VARCHAR(100) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    runs INTEGER NOT NULL, 
    successes INTEGER NOT NULL, 
    failures INTEGER NOT NULL, 
    skips INTEGER NOT NULL, 
    timed INTEGER NOT NULL, 
    duration_sum DOUBLE NOT NULL, 
    duration_max DOUBLE, 
    rss_max BIGINT, 
    PRIMARY KEY (day, job, host)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

LOCK TABLES smartcron_runs WRITE, smartcron_run_rollup WRITE, smartcron_run_hourly WRITE,
            smartcron_host_hourly WRITE, smartcron_run_daily WRITE;

DROP TRIGGER IF EXISTS smartcron_runs_hourly;

DROP TRIGGER IF EXISTS smartcron_runs_host_hourly;

DROP TRIGGER IF EXISTS smartcron_runs_daily;

CREATE TRIGGER smartcron_runs_hourly AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_run_hourly (job, host, epoch_hour, runs, successes, failures, skips)
SELECT NEW.job, NEW.host, TIMESTAMPDIFF(HOUR, '1970-01-01 00:00:00', NEW.started_at),
       NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
       NEW.status = 'success',
       NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'),
       NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
FROM DUAL
ON DUPLICATE KEY UPDATE
    runs      = runs + (NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
    successes = successes + (NEW.status = 'success'),
    failures  = failures + (NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
    skips     = skips + (NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'));

CREATE TRIGGER smartcron_runs_host_hourly AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_host_hourly (epoch_hour, host, runs, successes, failures, skips)
SELECT TIMESTAMPDIFF(HOUR, '1970-01-01 00:00:00', NEW.started_at), NEW.host,
       NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
       NEW.status = 'success',
       NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'),
       NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
FROM DUAL
ON DUPLICATE KEY UPDATE
    runs      = runs + (NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
    successes = successes + (NEW.status = 'success'),
    failures  = failures + (NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
    skips     = skips + (NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'));

CREATE TRIGGER smartcron_runs_daily AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_run_daily
       (day, job, host, runs, successes, failures, skips, timed, duration_sum, duration_max,
        rss_max)
SELECT DATE(NEW.started_at), NEW.job, NEW.host,
       NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
       NEW.status = 'success',
       NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'),
       NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
       NEW.status NOT LIKE 'skipped%' AND NEW.duration_s IS NOT NULL,
       CASE WHEN NEW.status NOT LIKE 'skipped%' THEN COALESCE(NEW.duration_s, 0) ELSE 0 END,
       CASE WHEN NEW.status NOT LIKE 'skipped%' THEN NEW.duration_s END,
       NEW.peak_rss_bytes
FROM DUAL
ON DUPLICATE KEY UPDATE
    runs         = runs + (NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
    successes    = successes + (NEW.status = 'success'),
    failures     = failures + (NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
    skips        = skips + (NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
    timed        = timed + (NEW.status NOT LIKE 'skipped%' AND NEW.duration_s IS NOT NULL),
    duration_sum = duration_sum
                   + CASE WHEN NEW.status NOT LIKE 'skipped%' THEN COALESCE(NEW.duration_s, 0) ELSE 0 END,
    
    duration_max = COALESCE(GREATEST(duration_max, CASE WHEN NEW.status NOT LIKE 'skipped%'
                                                        THEN NEW.duration_s END),
                            duration_max,
                            CASE WHEN NEW.status NOT LIKE 'skipped%' THEN NEW.duration_s END),
    rss_max      = COALESCE(GREATEST(rss_max, NEW.peak_rss_bytes), rss_max, NEW.peak_rss_bytes);

DELETE FROM smartcron_run_hourly;

DELETE FROM smartcron_host_hourly;

DELETE FROM smartcron_run_daily;

INSERT INTO smartcron_run_hourly (job, host, epoch_hour, runs, successes, failures, skips)
SELECT job, host, TIMESTAMPDIFF(HOUR, '1970-01-01 00:00:00', started_at) AS epoch_hour,
       SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
       SUM(status = 'success'),
       SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
       SUM(status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'))
FROM smartcron_runs
WHERE started_at >= DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL 48 HOUR, '%Y-%m-%d %H:00:00')
GROUP BY job, host, epoch_hour;

INSERT INTO smartcron_host_hourly (epoch_hour, host, runs, successes, failures, skips)
SELECT epoch_hour, host, SUM(runs), SUM(successes), SUM(failures), SUM(skips)
FROM smartcron_run_hourly
GROUP BY epoch_hour, host;

INSERT INTO smartcron_run_daily
       (day, job, host, runs, successes, failures, skips, timed, duration_sum, duration_max,
        rss_max)
SELECT DATE(started_at) AS day, job, host,
       SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
       SUM(status = 'success'),
       SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
       SUM(status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
       SUM(status NOT LIKE 'skipped%' AND duration_s IS NOT NULL),
       COALESCE(SUM(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END), 0),
       MAX(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END),
       MAX(peak_rss_bytes)
FROM smartcron_runs FORCE INDEX (ix_runs_job_started)
GROUP BY job, host, day;

UNLOCK TABLES;

ANALYZE TABLE smartcron_run_hourly, smartcron_host_hourly, smartcron_run_daily;

CREATE OR REPLACE VIEW smartcron_v_job_health AS
SELECT u.job,
       u.host,
       MAX(u.state)            AS state,
       MAX(u.reason)           AS reason,
       MAX(u.last_status)      AS last_status,
       MAX(u.last_started_at)  AS last_started_at,
       MAX(u.last_success_at)  AS last_success_at,
       MAX(u.next_expected_at) AS next_expected_at,
       MAX(u.late_after_at)    AS late_after_at,
       MAX(u.missed_at)        AS missed_at,
       MAX(u.timezone)         AS timezone,
       MAX(u.breaker_state)    AS breaker_state,
       SUM(u.runs)             AS runs_24h,
       SUM(u.failures)         AS failures_24h
FROM (
    SELECT j.job, j.host, 1 AS known, j.state, j.state_reason AS reason, j.last_status,
           j.last_started_at, j.last_success_at, j.next_expected_at, j.late_after_at,
           j.missed_at, j.timezone, j.breaker_state, 0 AS runs, 0 AS failures
    FROM smartcron_jobs j
    UNION ALL
    SELECT h.job, h.host, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           h.runs, h.failures
    FROM smartcron_run_hourly h
    WHERE h.epoch_hour
          >= TIMESTAMPDIFF(HOUR, '1970-01-01 00:00:00', UTC_TIMESTAMP(6) - INTERVAL 1 DAY) + 1
    UNION ALL
    SELECT r.job, r.host, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           r.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
           r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
    FROM smartcron_runs r FORCE INDEX (ix_runs_started)
    WHERE r.started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
      AND r.started_at
          < DATE_FORMAT(UTC_TIMESTAMP(6) - INTERVAL 1 DAY, '%Y-%m-%d %H:00:00') + INTERVAL 1 HOUR
) u
GROUP BY u.job, u.host
HAVING MAX(u.known) = 1;

CREATE OR REPLACE VIEW smartcron_v_daily_trends AS
SELECT day,
       job,
       host,
       runs,
       successes,
       failures,
       skips                                       AS skipped,
       ROUND(duration_sum / NULLIF(timed, 0), 3)   AS avg_duration_s,
       ROUND(duration_max, 3)                      AS max_duration_s,
       rss_max                                     AS max_peak_rss_bytes
FROM smartcron_run_daily
WHERE day >= UTC_DATE() - INTERVAL 90 DAY;

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
FROM smartcron_runs r FORCE INDEX (ix_runs_status_started)
LEFT JOIN smartcron_run_output o ON o.run_id = r.run_id
WHERE r.started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
  AND r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
ORDER BY r.started_at DESC;

UPDATE smartcron_alembic_version SET version_num='0009' WHERE smartcron_alembic_version.version_num = '0008';

