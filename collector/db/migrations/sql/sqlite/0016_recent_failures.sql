-- smartcron: smartcron_recent_failures and its trigger (mysql/0016_recent_failures.sql
-- says what they hold and why), for SQLite. SQLite has one writer at a time: the
-- trigger and the fill below see the same runs, each added once.
DROP TRIGGER IF EXISTS smartcron_runs_recent_failures;
CREATE TRIGGER smartcron_runs_recent_failures AFTER INSERT ON smartcron_runs
WHEN NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
BEGIN
    INSERT INTO smartcron_recent_failures
           (started_at, run_id, job, host, status, exit_code, signal_number, duration_s,
            attempt_count, stderr_end)
    VALUES (NEW.started_at, NEW.run_id, NEW.job, NEW.host, NEW.status, NEW.exit_code,
            NEW.signal_number, NEW.duration_s, NEW.attempt_count,
            (SELECT substr(stderr_tail, -300) FROM smartcron_run_output
             WHERE smartcron_run_output.run_id = NEW.run_id));
END;
DELETE FROM smartcron_recent_failures;
INSERT INTO smartcron_recent_failures
       (started_at, run_id, job, host, status, exit_code, signal_number, duration_s,
        attempt_count, stderr_end)
SELECT r.started_at, r.run_id, r.job, r.host, r.status, r.exit_code, r.signal_number,
       r.duration_s, r.attempt_count, substr(o.stderr_tail, -300)
FROM smartcron_runs r INDEXED BY ix_runs_status_started
LEFT JOIN smartcron_run_output o ON o.run_id = r.run_id
WHERE r.started_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-48 hours')
  AND r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost');
