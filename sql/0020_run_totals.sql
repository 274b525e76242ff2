-- smartcron revision 0020: All-time run totals per job, host and status, for /metrics: smartcron_run_totals.
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0020_run_totals.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0019 -> 0020

CREATE TABLE smartcron_run_totals (
    job VARCHAR(100) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    status VARCHAR(20) NOT NULL, 
    runs BIGINT NOT NULL, 
    timed BIGINT NOT NULL, 
    duration_us BIGINT NOT NULL, 
    le_1 BIGINT NOT NULL, 
    le_5 BIGINT NOT NULL, 
    le_15 BIGINT NOT NULL, 
    le_30 BIGINT NOT NULL, 
    le_60 BIGINT NOT NULL, 
    le_300 BIGINT NOT NULL, 
    le_900 BIGINT NOT NULL, 
    le_1800 BIGINT NOT NULL, 
    le_3600 BIGINT NOT NULL, 
    le_10800 BIGINT NOT NULL, 
    le_43200 BIGINT NOT NULL, 
    PRIMARY KEY (job, host, status)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

DELETE FROM smartcron_run_totals;

INSERT INTO smartcron_run_totals
       (job, host, status, runs, timed, duration_us, le_1, le_5, le_15, le_30, le_60,
        le_300, le_900, le_1800, le_3600, le_10800, le_43200)
SELECT job, host, status, COUNT(*), COUNT(d),
       COALESCE(SUM(CAST(FLOOR(d * 1000000 + 0.5e0) AS SIGNED)), 0),
       COUNT(CASE WHEN d <= 1 THEN 1 END), COUNT(CASE WHEN d <= 5 THEN 1 END),
       COUNT(CASE WHEN d <= 15 THEN 1 END), COUNT(CASE WHEN d <= 30 THEN 1 END),
       COUNT(CASE WHEN d <= 60 THEN 1 END), COUNT(CASE WHEN d <= 300 THEN 1 END),
       COUNT(CASE WHEN d <= 900 THEN 1 END), COUNT(CASE WHEN d <= 1800 THEN 1 END),
       COUNT(CASE WHEN d <= 3600 THEN 1 END), COUNT(CASE WHEN d <= 10800 THEN 1 END),
       COUNT(CASE WHEN d <= 43200 THEN 1 END)
FROM (SELECT job, host, status,
             CASE WHEN status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
                  THEN duration_s END AS d
      FROM smartcron_runs FORCE INDEX (ix_runs_job_started)) AS counted
GROUP BY job, host, status;

ANALYZE TABLE smartcron_run_totals;

UPDATE smartcron_alembic_version SET version_num='0020' WHERE smartcron_alembic_version.version_num = '0019';

