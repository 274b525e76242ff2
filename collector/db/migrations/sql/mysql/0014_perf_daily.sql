-- smartcron: smartcron_perf_daily (revision 0014), per job, host and UTC day, what
-- smartcron_v_job_performance shows of the runs of that day: real runs (skips are not),
-- successes, the durations of those with one (`timed`: not the lost ones) and their
-- histogram, and peak memory. Kept by a trigger on smartcron_runs, as the rollups of
-- 0009 are; the view sums a job's 30 rows instead of ranking the fine buckets of
-- smartcron_run_rollup (18 s on 10,000 jobs).
-- The names in braces are filled in by collector/db/migrations/duration_buckets.py,
-- which says what the columns d00..d88 count.
--
-- The trigger is created and the table filled under LOCK TABLES, as in 0009_rollups.sql:
-- an insert waits until UNLOCK TABLES, so each run is counted once, by the SELECT below
-- or, inserted later, by the trigger. Filled from the last 31 days of runs: the view
-- reads 30, and collector/rollups.py deletes older rows.
LOCK TABLES smartcron_runs WRITE, smartcron_perf_daily WRITE;
DROP TRIGGER IF EXISTS smartcron_runs_perf_daily;
-- One statement, no BEGIN ... END: the file needs no DELIMITER at the mysql client.
-- An AFTER INSERT trigger fires only for rows actually inserted: a replayed report
-- (INSERT IGNORE) counts nothing.
CREATE TRIGGER smartcron_runs_perf_daily AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_perf_daily
       (job, host, day, runs, successes, timed, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max, {columns})
SELECT NEW.job, NEW.host, DATE(NEW.started_at), 1, NEW.status = 'success',
       NEW.duration_s IS NOT NULL, COALESCE(NEW.duration_s, 0), NEW.duration_s,
       NEW.duration_s, COALESCE(NEW.peak_rss_bytes, 0), NEW.peak_rss_bytes IS NOT NULL,
       NEW.peak_rss_bytes,
       {new_run}
FROM DUAL
WHERE NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
ON DUPLICATE KEY UPDATE
    runs         = runs + 1,
    successes    = successes + (NEW.status = 'success'),
    timed        = timed + (NEW.duration_s IS NOT NULL),
    duration_sum = duration_sum + COALESCE(NEW.duration_s, 0),
    -- LEAST and GREATEST are NULL if either is: a run without a figure erases nothing.
    duration_min = COALESCE(LEAST(duration_min, NEW.duration_s), duration_min, NEW.duration_s),
    duration_max = COALESCE(GREATEST(duration_max, NEW.duration_s), duration_max,
                            NEW.duration_s),
    rss_sum      = rss_sum + COALESCE(NEW.peak_rss_bytes, 0),
    rss_count    = rss_count + (NEW.peak_rss_bytes IS NOT NULL),
    rss_max      = COALESCE(GREATEST(rss_max, NEW.peak_rss_bytes), rss_max, NEW.peak_rss_bytes),
    {add_new_run};
DELETE FROM smartcron_perf_daily;
-- The same arithmetic as the trigger, read in the order of ix_runs_job_started (which
-- holds every column read), a job at a time.
INSERT INTO smartcron_perf_daily
       (job, host, day, runs, successes, timed, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max, {columns})
SELECT job, host, DATE(started_at) AS day, COUNT(*), SUM(status = 'success'),
       COUNT(duration_s), COALESCE(SUM(duration_s), 0), MIN(duration_s), MAX(duration_s),
       COALESCE(SUM(peak_rss_bytes), 0), COUNT(peak_rss_bytes), MAX(peak_rss_bytes),
       {count_runs}
FROM smartcron_runs FORCE INDEX (ix_runs_job_started)
WHERE started_at >= UTC_DATE() - INTERVAL 30 DAY
  AND status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
GROUP BY job, host, day;
UNLOCK TABLES;
-- Statistics for the filled table now, not when InnoDB gets round to it.
ANALYZE TABLE smartcron_perf_daily;
