-- smartcron: count every stored run into smartcron_run_rollup afresh (0002_rollup.sql).
-- Revision 0002 runs this once, after it creates the trigger, on a connection without
-- the pool's read timeout (collector/db/migrate.py).
--
-- Safe while collectors ingest, once the trigger exists (003 creates it): LOCK TABLES
-- waits for every transaction that is inserting runs to end, and from then on until
-- UNLOCK TABLES an insert waits (no deadlock; but a collector answers a request that
-- waits longer than its 30 s read timeout with 503, and the sender keeps the report in
-- its spool and sends it again). So every run is
-- counted once: a run committed before the lock by the SELECT below (what the trigger
-- had counted for it is deleted first), a later one by the trigger alone. The view
-- waits too, rather than read a half-built rollup. Ingest stalls for as long as this
-- takes: 20 to 30 s for a million runs on a small two-core server.
LOCK TABLES smartcron_runs READ, smartcron_run_rollup WRITE;
DELETE FROM smartcron_run_rollup;
-- The same arithmetic as the trigger; see 003_rollup.sql.
INSERT INTO smartcron_run_rollup
       (day, job, host, bucket, runs, successes, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max)
SELECT DATE(started_at), job, host,
       CEIL(LN(GREATEST(duration_s, 0.001)) / LN(1.01e0 / 0.99e0)) AS bucket,
       COUNT(*), SUM(status = 'success'), SUM(duration_s), MIN(duration_s), MAX(duration_s),
       COALESCE(SUM(peak_rss_bytes), 0), COUNT(peak_rss_bytes), MAX(peak_rss_bytes)
FROM smartcron_runs
WHERE status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
GROUP BY DATE(started_at), job, host, bucket;
UNLOCK TABLES;
-- Statistics for the filled table now, not when InnoDB gets round to it.
ANALYZE TABLE smartcron_run_rollup;
