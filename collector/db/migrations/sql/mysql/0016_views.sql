-- smartcron: smartcron_v_recent_failures reads smartcron_recent_failures (revision
-- 0016): the same columns and rows as before, one range of that table's key, already in
-- start order (0016_recent_failures.sql says why and what keeps it).
CREATE OR REPLACE VIEW smartcron_v_recent_failures AS
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
WHERE started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
ORDER BY started_at DESC;
