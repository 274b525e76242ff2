-- smartcron revision 0002: The run rollup, kept by a trigger, and the performance view that reads it (what
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0002_rollup.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0001 -> 0002

CREATE TABLE smartcron_run_rollup (
    day DATE NOT NULL, 
    job VARCHAR(100) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    bucket SMALLINT NOT NULL, 
    runs INTEGER NOT NULL, 
    successes INTEGER NOT NULL, 
    duration_sum DOUBLE NOT NULL, 
    duration_min DOUBLE NOT NULL, 
    duration_max DOUBLE NOT NULL, 
    rss_sum NUMERIC(38, 0) NOT NULL, 
    rss_count INTEGER NOT NULL, 
    rss_max BIGINT, 
    PRIMARY KEY (day, job, host, bucket)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_rollup_job_day ON smartcron_run_rollup (job, host, day);

CREATE OR REPLACE VIEW smartcron_v_job_performance AS
WITH RECURSIVE days AS (
    SELECT UTC_DATE() - INTERVAL 29 DAY AS day
    UNION ALL
    SELECT day + INTERVAL 1 DAY FROM days WHERE day < UTC_DATE()
), job_keys AS (
    SELECT job, host, ROW_NUMBER() OVER (ORDER BY job, host) AS k
    FROM smartcron_run_rollup
    GROUP BY job, host
    HAVING MAX(day) >= UTC_DATE() - INTERVAL 29 DAY
), buckets AS (
    SELECT STRAIGHT_JOIN j.k, r.bucket,
           SUM(r.runs)         AS runs,
           SUM(r.successes)    AS successes,
           SUM(r.duration_sum) AS duration_sum,
           MIN(r.duration_min) AS duration_min,
           MAX(r.duration_max) AS duration_max,
           SUM(r.rss_sum)      AS rss_sum,
           SUM(r.rss_count)    AS rss_count,
           MAX(r.rss_max)      AS rss_max
    FROM job_keys j
    JOIN days d
    JOIN smartcron_run_rollup r ON r.day = d.day AND r.job = j.job AND r.host = j.host
    GROUP BY j.k, r.bucket
), ranked AS (
    SELECT b.*,
           SUM(runs) OVER (PARTITION BY k ORDER BY bucket) AS runs_so_far,
           (95 * SUM(runs) OVER (PARTITION BY k) + 99) DIV 100 AS p95_rank
    FROM buckets b
), per_job AS (
    SELECT k,
           SUM(runs)         AS runs,
           SUM(successes)    AS successes,
           SUM(duration_sum) AS duration_sum,
           
           MAX(CASE WHEN runs_so_far >= p95_rank AND runs_so_far - runs < p95_rank
                    THEN LEAST(GREATEST(2 * POW(1.01e0 / 0.99e0, bucket) / (1.01e0 / 0.99e0 + 1),
                                        duration_min),
                               duration_max)
               END)          AS p95_duration_s,
           MAX(duration_max) AS duration_max,
           SUM(rss_sum)      AS rss_sum,
           SUM(rss_count)    AS rss_count,
           MAX(rss_max)      AS rss_max
    FROM ranked
    GROUP BY k
)
SELECT j.job,
       j.host,
       p.runs,
       p.successes,
       ROUND(100 * p.successes / p.runs, 1)     AS success_rate_pct,
       ROUND(p.duration_sum / p.runs, 3)        AS avg_duration_s,
       ROUND(p.p95_duration_s, 3)               AS p95_duration_s,
       ROUND(p.duration_max, 3)                 AS max_duration_s,
       ROUND(p.rss_sum / NULLIF(p.rss_count, 0)) AS avg_peak_rss_bytes,
       p.rss_max                                AS max_peak_rss_bytes
FROM per_job p
JOIN job_keys j ON j.k = p.k;

CREATE TRIGGER smartcron_runs_rollup AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_run_rollup
       (day, job, host, bucket, runs, successes, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max)
SELECT DATE(NEW.started_at), NEW.job, NEW.host,
       CEIL(LN(GREATEST(NEW.duration_s, 0.001)) / LN(1.01e0 / 0.99e0)),
       1, NEW.status = 'success', NEW.duration_s, NEW.duration_s, NEW.duration_s,
       COALESCE(NEW.peak_rss_bytes, 0), NEW.peak_rss_bytes IS NOT NULL, NEW.peak_rss_bytes
FROM DUAL
WHERE NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
ON DUPLICATE KEY UPDATE
    runs         = runs + 1,
    successes    = successes + (NEW.status = 'success'),
    duration_sum = duration_sum + NEW.duration_s,
    duration_min = LEAST(duration_min, NEW.duration_s),
    duration_max = GREATEST(duration_max, NEW.duration_s),
    rss_sum      = rss_sum + COALESCE(NEW.peak_rss_bytes, 0),
    rss_count    = rss_count + (NEW.peak_rss_bytes IS NOT NULL),
    
    rss_max      = COALESCE(GREATEST(rss_max, NEW.peak_rss_bytes), rss_max, NEW.peak_rss_bytes);

LOCK TABLES smartcron_runs READ, smartcron_run_rollup WRITE;

DELETE FROM smartcron_run_rollup;

INSERT INTO smartcron_run_rollup
       (day, job, host, bucket, runs, successes, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max)
SELECT DATE(started_at), job, host,
       CEIL(LN(GREATEST(duration_s, 0.001)) / LN(1.01e0 / 0.99e0)) AS bucket,
       COUNT(*), SUM(status = 'success'), SUM(duration_s), MIN(duration_s), MAX(duration_s),
       COALESCE(SUM(peak_rss_bytes), 0), COUNT(peak_rss_bytes), MAX(peak_rss_bytes)
FROM smartcron_runs
WHERE status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
GROUP BY DATE(started_at), job, host, bucket;

UNLOCK TABLES;

ANALYZE TABLE smartcron_run_rollup;

UPDATE smartcron_alembic_version SET version_num='0002' WHERE smartcron_alembic_version.version_num = '0001';

