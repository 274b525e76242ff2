-- smartcron: the rollup's trigger of mysql/0004_rollup.sql, for SQLite: a lost run, which
-- has no duration, is counted in the bucket -32768 with durations of 0; then the rollup
-- is counted afresh. Inside the migration's BEGIN IMMEDIATE transaction: no run goes in
-- until it commits, so each run is counted once, here or, inserted later, by the trigger.
DROP TRIGGER IF EXISTS smartcron_runs_rollup;
-- The WHERE before ON CONFLICT is needed: without it SQLite would read ON as the start
-- of a join constraint.
CREATE TRIGGER smartcron_runs_rollup AFTER INSERT ON smartcron_runs
BEGIN
    INSERT INTO smartcron_run_rollup
           (day, job, host, bucket, runs, successes, duration_sum, duration_min, duration_max,
            rss_sum, rss_count, rss_max)
    SELECT date(NEW.started_at), NEW.job, NEW.host,
           COALESCE(ceil(ln(max(NEW.duration_s, 0.001)) / ln(1.01e0 / 0.99e0)), -32768),
           1, NEW.status = 'success', COALESCE(NEW.duration_s, 0), COALESCE(NEW.duration_s, 0),
           COALESCE(NEW.duration_s, 0),
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
DELETE FROM smartcron_run_rollup;
INSERT INTO smartcron_run_rollup
       (day, job, host, bucket, runs, successes, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max)
SELECT date(started_at), job, host,
       COALESCE(ceil(ln(max(duration_s, 0.001)) / ln(1.01e0 / 0.99e0)), -32768) AS bucket,
       COUNT(*), SUM(status = 'success'), COALESCE(SUM(duration_s), 0),
       COALESCE(MIN(duration_s), 0), COALESCE(MAX(duration_s), 0),
       COALESCE(SUM(peak_rss_bytes), 0), COUNT(peak_rss_bytes), MAX(peak_rss_bytes)
FROM smartcron_runs
WHERE status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
GROUP BY date(started_at), job, host, bucket;
