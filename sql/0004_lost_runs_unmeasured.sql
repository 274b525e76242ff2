-- smartcron revision 0004: A lost run's finished_at and duration_s are unknown (null), and it stays out of every
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0004_lost_runs_unmeasured.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0003 -> 0004

ALTER TABLE smartcron_runs MODIFY finished_at DATETIME(6) NULL, MODIFY duration_s DOUBLE NULL;

UPDATE smartcron_runs SET finished_at = NULL, duration_s = NULL WHERE status = 'lost';

UPDATE smartcron_jobs SET last_finished_at = NULL, last_duration_s = NULL WHERE last_status = 'lost';

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
           SUM(CASE WHEN r.bucket = -32768 THEN 0 ELSE r.runs END) AS timed,
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
           SUM(timed) OVER (PARTITION BY k ORDER BY bucket) AS timed_so_far,
           (95 * SUM(timed) OVER (PARTITION BY k) + 99) DIV 100 AS p95_rank
    FROM buckets b
), per_job AS (
    SELECT k,
           SUM(runs)         AS runs,
           SUM(successes)    AS successes,
           SUM(timed)        AS timed,
           SUM(duration_sum) AS duration_sum,
           
           MAX(CASE WHEN timed_so_far >= p95_rank AND timed_so_far - timed < p95_rank
                    THEN LEAST(GREATEST(2 * POW(1.01e0 / 0.99e0, bucket) / (1.01e0 / 0.99e0 + 1),
                                        duration_min),
                               duration_max)
               END)          AS p95_duration_s,
           MAX(CASE WHEN timed > 0 THEN duration_max END) AS duration_max,
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
       ROUND(p.duration_sum / NULLIF(p.timed, 0), 3)        AS avg_duration_s,
       ROUND(p.p95_duration_s, 3)               AS p95_duration_s,
       ROUND(p.duration_max, 3)                 AS max_duration_s,
       ROUND(p.rss_sum / NULLIF(p.rss_count, 0)) AS avg_peak_rss_bytes,
       p.rss_max                                AS max_peak_rss_bytes
FROM per_job p
JOIN job_keys j ON j.k = p.k;

LOCK TABLES smartcron_runs WRITE, smartcron_run_rollup WRITE;

DROP TRIGGER IF EXISTS smartcron_runs_rollup;

CREATE TRIGGER smartcron_runs_rollup AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_run_rollup
       (day, job, host, bucket, runs, successes, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max)
SELECT DATE(NEW.started_at), NEW.job, NEW.host,
       COALESCE(CEIL(LN(GREATEST(NEW.duration_s, 0.001)) / LN(1.01e0 / 0.99e0)), -32768),
       1, NEW.status = 'success', COALESCE(NEW.duration_s, 0), COALESCE(NEW.duration_s, 0),
       COALESCE(NEW.duration_s, 0),
       COALESCE(NEW.peak_rss_bytes, 0), NEW.peak_rss_bytes IS NOT NULL, NEW.peak_rss_bytes
FROM DUAL
WHERE NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
ON DUPLICATE KEY UPDATE
    runs         = runs + 1,
    successes    = successes + (NEW.status = 'success'),
    duration_sum = duration_sum + COALESCE(NEW.duration_s, 0),
    duration_min = LEAST(duration_min, COALESCE(NEW.duration_s, 0)),
    duration_max = GREATEST(duration_max, COALESCE(NEW.duration_s, 0)),
    rss_sum      = rss_sum + COALESCE(NEW.peak_rss_bytes, 0),
    rss_count    = rss_count + (NEW.peak_rss_bytes IS NOT NULL),
    
    rss_max      = COALESCE(GREATEST(rss_max, NEW.peak_rss_bytes), rss_max, NEW.peak_rss_bytes);

DELETE FROM smartcron_run_rollup;

INSERT INTO smartcron_run_rollup
       (day, job, host, bucket, runs, successes, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max)
SELECT DATE(started_at), job, host,
       COALESCE(CEIL(LN(GREATEST(duration_s, 0.001)) / LN(1.01e0 / 0.99e0)), -32768) AS bucket,
       COUNT(*), SUM(status = 'success'), COALESCE(SUM(duration_s), 0),
       COALESCE(MIN(duration_s), 0), COALESCE(MAX(duration_s), 0),
       COALESCE(SUM(peak_rss_bytes), 0), COUNT(peak_rss_bytes), MAX(peak_rss_bytes)
FROM smartcron_runs
WHERE status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
GROUP BY DATE(started_at), job, host, bucket;

UNLOCK TABLES;

ANALYZE TABLE smartcron_run_rollup;

UPDATE smartcron_alembic_version SET version_num='0004' WHERE smartcron_alembic_version.version_num = '0003';

