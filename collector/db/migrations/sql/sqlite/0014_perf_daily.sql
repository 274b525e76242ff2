-- smartcron: smartcron_perf_daily and its trigger (mysql/0014_perf_daily.sql says what
-- they hold and why), for SQLite. The names in braces are filled in by
-- collector/db/migrations/duration_buckets.py. SQLite has one writer at a time: the
-- trigger and the fill below see the same runs, each counted once.
DROP TRIGGER IF EXISTS smartcron_runs_perf_daily;
CREATE TRIGGER smartcron_runs_perf_daily AFTER INSERT ON smartcron_runs
BEGIN
    INSERT INTO smartcron_perf_daily
           (job, host, day, runs, successes, timed, duration_sum, duration_min,
            duration_max, rss_sum, rss_count, rss_max, {columns})
    SELECT NEW.job, NEW.host, date(NEW.started_at), 1, NEW.status = 'success',
           NEW.duration_s IS NOT NULL, COALESCE(NEW.duration_s, 0), NEW.duration_s,
           NEW.duration_s, COALESCE(NEW.peak_rss_bytes, 0), NEW.peak_rss_bytes IS NOT NULL,
           NEW.peak_rss_bytes,
           {new_run}
    WHERE NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
    ON CONFLICT (job, host, day) DO UPDATE SET
        runs         = runs + 1,
        successes    = successes + excluded.successes,
        timed        = timed + excluded.timed,
        duration_sum = duration_sum + excluded.duration_sum,
        -- min() and max() of two are NULL if either is: a run without a figure erases nothing.
        duration_min = COALESCE(min(duration_min, excluded.duration_min), duration_min,
                                excluded.duration_min),
        duration_max = COALESCE(max(duration_max, excluded.duration_max), duration_max,
                                excluded.duration_max),
        rss_sum      = rss_sum + excluded.rss_sum,
        rss_count    = rss_count + excluded.rss_count,
        rss_max      = COALESCE(max(rss_max, excluded.rss_max), rss_max, excluded.rss_max),
        {add_new_run};
END;
DELETE FROM smartcron_perf_daily;
INSERT INTO smartcron_perf_daily
       (job, host, day, runs, successes, timed, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max, {columns})
SELECT job, host, date(started_at) AS day, COUNT(*), SUM(status = 'success'),
       COUNT(duration_s), COALESCE(SUM(duration_s), 0), MIN(duration_s), MAX(duration_s),
       COALESCE(SUM(peak_rss_bytes), 0), COUNT(peak_rss_bytes), MAX(peak_rss_bytes),
       {count_runs}
FROM smartcron_runs
WHERE started_at >= date('now', '-30 days')
  AND status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
GROUP BY job, host, day;
