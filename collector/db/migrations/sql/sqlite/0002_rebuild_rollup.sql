-- smartcron: count every stored run into smartcron_run_rollup afresh, for SQLite (see
-- mysql/0002_rebuild_rollup.sql). Run inside the migration's transaction, which began
-- with BEGIN IMMEDIATE: SQLite has one writer at a time, so no run goes in until it
-- commits, and each run is counted once, here or (inserted later) by the trigger.
DELETE FROM smartcron_run_rollup;
INSERT INTO smartcron_run_rollup
       (day, job, host, bucket, runs, successes, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max)
SELECT date(started_at), job, host,
       ceil(ln(max(duration_s, 0.001)) / ln(1.01e0 / 0.99e0)) AS bucket,
       COUNT(*), SUM(status = 'success'), SUM(duration_s), MIN(duration_s), MAX(duration_s),
       COALESCE(SUM(peak_rss_bytes), 0), COUNT(peak_rss_bytes), MAX(peak_rss_bytes)
FROM smartcron_runs
WHERE status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
GROUP BY date(started_at), job, host, bucket;
