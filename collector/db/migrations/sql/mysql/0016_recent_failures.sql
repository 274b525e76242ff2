-- smartcron: smartcron_recent_failures (revision 0016), the failed runs that
-- smartcron_v_recent_failures shows, with the end of their stderr, so that the view
-- reads one range of a small table instead of an output row per failure by its random
-- run_id (3.8 s for 23,308 failures at 10,000 jobs: docs/queries.md).
--
-- A trigger on smartcron_runs keeps it: a failed run's row comes with the run, its
-- stderr from the run's output row, which ingest inserts just before the run, in the
-- same transaction (collector/ingest.py). No trigger on the output rows: its UPDATE,
-- finding no failure for a success, took a gap lock on the run_id index, and concurrent
-- batches deadlocked on it (bench/ingest.py). Runs are only inserted into, and an
-- AFTER INSERT trigger fires only for rows actually inserted: a replayed report
-- (INSERT IGNORE) adds nothing.
--
-- Created and filled under LOCK TABLES, as in 0014_perf_daily.sql: an insert waits until
-- UNLOCK TABLES, so each failure is added once, by the SELECT below or by the trigger.
-- Filled from the last 48 hours of runs: the view reads 24, and collector/rollups.py
-- deletes older rows.
LOCK TABLES smartcron_runs WRITE, smartcron_run_output WRITE, smartcron_recent_failures WRITE;
DROP TRIGGER IF EXISTS smartcron_runs_recent_failures;
-- One statement, no BEGIN ... END: the file needs no DELIMITER at the mysql client.
CREATE TRIGGER smartcron_runs_recent_failures AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_recent_failures
       (started_at, run_id, job, host, status, exit_code, signal_number, duration_s,
        attempt_count, stderr_end)
SELECT NEW.started_at, NEW.run_id, NEW.job, NEW.host, NEW.status, NEW.exit_code,
       NEW.signal_number, NEW.duration_s, NEW.attempt_count,
       (SELECT RIGHT(stderr_tail, 300) FROM smartcron_run_output
        WHERE smartcron_run_output.run_id = NEW.run_id)
FROM DUAL
WHERE NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost');
DELETE FROM smartcron_recent_failures;
-- No aliases: under LOCK TABLES a table is locked by the name the statement uses.
INSERT INTO smartcron_recent_failures
       (started_at, run_id, job, host, status, exit_code, signal_number, duration_s,
        attempt_count, stderr_end)
SELECT smartcron_runs.started_at, smartcron_runs.run_id, smartcron_runs.job,
       smartcron_runs.host, smartcron_runs.status, smartcron_runs.exit_code,
       smartcron_runs.signal_number, smartcron_runs.duration_s, smartcron_runs.attempt_count,
       RIGHT(smartcron_run_output.stderr_tail, 300)
FROM smartcron_runs FORCE INDEX (ix_runs_status_started)
LEFT JOIN smartcron_run_output ON smartcron_run_output.run_id = smartcron_runs.run_id
WHERE smartcron_runs.started_at >= UTC_TIMESTAMP(6) - INTERVAL 48 HOUR
  AND smartcron_runs.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost');
UNLOCK TABLES;
ANALYZE TABLE smartcron_recent_failures;
