-- smartcron: the performance view of 0002, with lost runs out of every duration figure
-- (revision 0004). A lost run has no duration: the rollup counts it in the bucket -32768,
-- which holds runs without one (duration sum, minimum and maximum 0). It counts as a run
-- and a failure; `timed` counts the runs with a duration, over which the average, the
-- p95 and the maximum are taken.

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
           (95 * SUM(timed) OVER (PARTITION BY k) + 99) / 100 AS p95_rank
    FROM buckets b
), per_job AS (
    SELECT k,
           SUM(runs)         AS runs,
           SUM(successes)    AS successes,
           SUM(timed)        AS timed,
           SUM(duration_sum) AS duration_sum,
           MAX(CASE WHEN timed_so_far >= p95_rank AND timed_so_far - timed < p95_rank
                    THEN min(max(2 * pow(1.01e0 / 0.99e0, bucket) / (1.01e0 / 0.99e0 + 1),
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
       ROUND(100.0 * p.successes / p.runs, 1)         AS success_rate_pct,
       ROUND(p.duration_sum / NULLIF(p.timed, 0), 3)              AS avg_duration_s,
       ROUND(p.p95_duration_s, 3)                     AS p95_duration_s,
       ROUND(p.duration_max, 3)                       AS max_duration_s,
       ROUND(1.0 * p.rss_sum / NULLIF(p.rss_count, 0)) AS avg_peak_rss_bytes,
       p.rss_max                                      AS max_peak_rss_bytes
FROM per_job p
JOIN job_keys j ON j.k = p.k;
