-- smartcron: the run rollup's trigger and the performance view that reads it
-- (revision 0002, what v0.1.0 called schema version 2).
-- A month of raw runs is too many to rank on every read (about 2.5 s for 667,000 runs),
-- so each run is counted once, as it is inserted, into a row per UTC day, job, host and
-- duration bucket; smartcron_v_job_performance then sums a month of those rows.
--
-- On a database that already holds runs, the rollup starts empty: the revision then
-- fills it from the stored runs, once (0002_rebuild_rollup.sql).

-- Skipped runs (lock, breaker, pause) are not runs of the job and are not counted.
-- bucket: the run's duration on a log scale, as in DDSketch with a relative accuracy of
-- 1%: with gamma = 1.01 / 0.99, bucket i holds the durations in (gamma^(i-1), gamma^i]
-- seconds (below 1 ms: bucket -345), and 2 gamma^i / (gamma + 1) is within 1% of each.
-- The minimum and maximum of each bucket are kept too: a bucket with one distinct
-- duration in it then gives that duration exactly.
-- (the table itself is created by the revision, from its columns)

-- Last 30 days per job and host: runs, success rate, duration avg/p95/max, memory.
-- "Last 30 days" is today (UTC) and the 29 days before it, whole days: the rollup's grain.
-- Runs, successes, success rate, average and maximum duration and memory are exact.
-- p95 follows the nearest-rank rule: the duration at position ceil(0.95 n) in duration
-- order. It lies in the first bucket whose running count reaches (95 n + 99) DIV 100;
-- the view gives that bucket's representative value, kept within the bucket's own
-- minimum and maximum, which is within 1% of the exact nearest-rank p95.
--
-- A month is some 230,000 rows for 200 jobs, and grouping them by job, host and bucket
-- costs seconds when the server has to hold two VARCHARs per group (its temporary table
-- outgrows memory). So each job and host first gets a small number (job_keys.k); the
-- rows are read as those jobs times 30 days, each a lookup on the primary key, and
-- grouped by that number and the bucket. STRAIGHT_JOIN keeps that order whatever the
-- table's statistics say: stale ones (after a bulk fill) once led the server to read
-- each day whole for every job, 10 s instead of half of one.
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
           -- 1.01e0 / 0.99e0 is gamma, in DOUBLE (1.01 / 0.99 would be a rounded DECIMAL).
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

-- Every inserted run is counted here, whoever inserts it: the collector's INSERT IGNORE
-- (an AFTER INSERT trigger fires only for rows actually inserted, so a replayed report
-- counts nothing), LOAD DATA, an import by hand. Runs are never updated or deleted by
-- smartcron; a run changed or deleted by hand stays counted as it was inserted.
-- One statement, no BEGIN ... END: the file needs no DELIMITER at the mysql client.
-- Created once, by this revision; a later revision that changes it drops and re-creates
-- it between LOCK TABLES and the rollup's rebuild, so that no run goes in uncounted.
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
    -- GREATEST is NULL if either is: a run without memory must not erase the maximum.
    rss_max      = COALESCE(GREATEST(rss_max, NEW.peak_rss_bytes), rss_max, NEW.peak_rss_bytes);
