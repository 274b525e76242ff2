-- smartcron: smartcron_v_recent_failures reads smartcron_recent_failures (revision
-- 0016; mysql/0016_views.sql says why), for SQLite.
DROP VIEW IF EXISTS smartcron_v_recent_failures;
CREATE VIEW smartcron_v_recent_failures AS
SELECT started_at,
       job,
       host,
       status,
       exit_code,
       signal_number,
       ROUND(duration_s, 3) AS duration_s,
       attempt_count,
       stderr_end,
       run_id
FROM smartcron_recent_failures
WHERE started_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 day')
ORDER BY started_at DESC;
