-- smartcron: the rollup's trigger counts a lost run, which has no duration, in the
-- bucket -32768 with durations of 0 (revision 0004; 0004_performance.sql reads it so),
-- and the rollup is counted afresh, lost runs stored before now included.
--
-- The trigger is replaced and the rollup rebuilt under LOCK TABLES: an insert waits
-- from here to UNLOCK TABLES (as in 0002_rebuild_rollup.sql), so no run goes in while
-- there is no trigger, and each run is counted once, by the SELECT below or, inserted
-- later, by the new trigger.
LOCK TABLES smartcron_runs WRITE, smartcron_run_rollup WRITE;
DROP TRIGGER IF EXISTS smartcron_runs_rollup;
-- One statement, no BEGIN ... END: the file needs no DELIMITER at the mysql client.
-- An AFTER INSERT trigger fires only for rows actually inserted: a replayed report
-- (INSERT IGNORE) counts nothing. Skipped runs (lock, breaker, pause) are not counted.
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
    -- GREATEST is NULL if either is: a run without memory must not erase the maximum.
    rss_max      = COALESCE(GREATEST(rss_max, NEW.peak_rss_bytes), rss_max, NEW.peak_rss_bytes);
DELETE FROM smartcron_run_rollup;
-- The same arithmetic as the trigger.
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
-- Statistics for the filled table now, not when InnoDB gets round to it.
ANALYZE TABLE smartcron_run_rollup;
