-- smartcron: the views of mysql/0014_views.sql (which says what each reads and what is
-- approximate), for SQLite. The names in braces are filled in by
-- collector/db/migrations/duration_buckets.py.

DROP VIEW IF EXISTS smartcron_v_job_performance;
CREATE VIEW smartcron_v_job_performance AS
SELECT job,
       host,
       runs,
       successes,
       ROUND(100.0 * successes / runs, 1)               AS success_rate_pct,
       ROUND(duration_sum / NULLIF(timed, 0), 3)        AS avg_duration_s,
       ROUND(min(max(
           CASE WHEN timed = 0 THEN NULL
                {p95_cases}
                ELSE duration_max
           END, duration_min), duration_max), 3)        AS p95_duration_s,
       ROUND(duration_max, 3)                           AS max_duration_s,
       ROUND(1.0 * rss_sum / NULLIF(rss_count, 0))      AS avg_peak_rss_bytes,
       rss_max                                          AS max_peak_rss_bytes
FROM (
    SELECT job, host,
           SUM(runs)                    AS runs,
           SUM(successes)               AS successes,
           SUM(timed)                   AS timed,
           SUM(duration_sum)            AS duration_sum,
           MIN(duration_min)            AS duration_min,
           MAX(duration_max)            AS duration_max,
           SUM(rss_sum)                 AS rss_sum,
           SUM(rss_count)               AS rss_count,
           MAX(rss_max)                 AS rss_max,
           (95 * SUM(timed) + 99) / 100 AS p95_rank,
           {sum_days}
    FROM smartcron_perf_daily
    WHERE day BETWEEN date('now', '-29 days') AND date('now')
    GROUP BY job, host
) p;
