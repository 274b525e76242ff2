-- smartcron: the rollup trigger and the performance view of sql/003_rollup.sql, written
-- for SQLite (the embedded default); the table itself comes from collector/db/tables.py.
-- Same arithmetic, same columns. ln, ceil and pow are SQLite's math functions (3.35+,
-- built with SQLITE_ENABLE_MATH_FUNCTIONS, as Debian's libsqlite3 is); migrate refuses
-- a SQLite without them rather than let every insert of a run fail later.

DROP VIEW IF EXISTS smartcron_v_job_performance;
CREATE VIEW smartcron_v_job_performance AS
WITH RECURSIVE days(day) AS (
    SELECT date('now', '-29 days')
    UNION ALL
    SELECT date(day, '+1 day') FROM days WHERE day < date('now')
), job_keys AS (
    SELECT job, host, ROW_NUMBER() OVER (ORDER BY job, host) AS k
    FROM smartcron_run_rollup
    GROUP BY job, host
    HAVING MAX(day) >= date('now', '-29 days')
), buckets AS (
    SELECT j.k, r.bucket,
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
           (95 * SUM(runs) OVER (PARTITION BY k) + 99) / 100 AS p95_rank
    FROM buckets b
), per_job AS (
    SELECT k,
           SUM(runs)         AS runs,
           SUM(successes)    AS successes,
           SUM(duration_sum) AS duration_sum,
           MAX(CASE WHEN runs_so_far >= p95_rank AND runs_so_far - runs < p95_rank
                    THEN min(max(2 * pow(1.01e0 / 0.99e0, bucket) / (1.01e0 / 0.99e0 + 1),
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
       ROUND(100.0 * p.successes / p.runs, 1)         AS success_rate_pct,
       ROUND(p.duration_sum / p.runs, 3)              AS avg_duration_s,
       ROUND(p.p95_duration_s, 3)                     AS p95_duration_s,
       ROUND(p.duration_max, 3)                       AS max_duration_s,
       ROUND(1.0 * p.rss_sum / NULLIF(p.rss_count, 0)) AS avg_peak_rss_bytes,
       p.rss_max                                      AS max_peak_rss_bytes
FROM per_job p
JOIN job_keys j ON j.k = p.k;

-- SQLite's writers take turns, so IF NOT EXISTS leaves no moment uncounted. The
-- WHERE before ON CONFLICT is needed anyway: without it SQLite would read ON as the
-- start of a join constraint.
CREATE TRIGGER IF NOT EXISTS smartcron_runs_rollup AFTER INSERT ON smartcron_runs
BEGIN
    INSERT INTO smartcron_run_rollup
           (day, job, host, bucket, runs, successes, duration_sum, duration_min, duration_max,
            rss_sum, rss_count, rss_max)
    SELECT date(NEW.started_at), NEW.job, NEW.host,
           ceil(ln(max(NEW.duration_s, 0.001)) / ln(1.01e0 / 0.99e0)),
           1, NEW.status = 'success', NEW.duration_s, NEW.duration_s, NEW.duration_s,
           COALESCE(NEW.peak_rss_bytes, 0), NEW.peak_rss_bytes IS NOT NULL, NEW.peak_rss_bytes
    WHERE NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
    ON CONFLICT (day, job, host, bucket) DO UPDATE SET
        runs         = runs + 1,
        successes    = successes + excluded.successes,
        duration_sum = duration_sum + excluded.duration_sum,
        duration_min = min(duration_min, excluded.duration_min),
        duration_max = max(duration_max, excluded.duration_max),
        rss_sum      = rss_sum + excluded.rss_sum,
        rss_count    = rss_count + excluded.rss_count,
        -- max() of two is NULL if either is: a run without memory must not erase the maximum.
        rss_max      = COALESCE(max(rss_max, excluded.rss_max), rss_max, excluded.rss_max);
END;
