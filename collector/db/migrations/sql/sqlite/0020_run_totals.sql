-- smartcron: smartcron_run_totals filled from every stored run (mysql/0020_run_totals.sql
-- says what it holds and why), for SQLite. CAST(... AS INTEGER) truncates, and durations
-- are not negative: the FLOOR(duration_s * 1000000 + 0.5) of the MySQL fill.
DELETE FROM smartcron_run_totals;
INSERT INTO smartcron_run_totals
       (job, host, status, runs, timed, duration_us, le_1, le_5, le_15, le_30, le_60,
        le_300, le_900, le_1800, le_3600, le_10800, le_43200)
SELECT job, host, status, COUNT(*), COUNT(d),
       COALESCE(SUM(CAST(d * 1000000 + 0.5 AS INTEGER)), 0),
       COUNT(CASE WHEN d <= 1 THEN 1 END), COUNT(CASE WHEN d <= 5 THEN 1 END),
       COUNT(CASE WHEN d <= 15 THEN 1 END), COUNT(CASE WHEN d <= 30 THEN 1 END),
       COUNT(CASE WHEN d <= 60 THEN 1 END), COUNT(CASE WHEN d <= 300 THEN 1 END),
       COUNT(CASE WHEN d <= 900 THEN 1 END), COUNT(CASE WHEN d <= 1800 THEN 1 END),
       COUNT(CASE WHEN d <= 3600 THEN 1 END), COUNT(CASE WHEN d <= 10800 THEN 1 END),
       COUNT(CASE WHEN d <= 43200 THEN 1 END)
FROM (SELECT job, host, status,
             CASE WHEN status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
                  THEN duration_s END AS d
      FROM smartcron_runs INDEXED BY ix_runs_job_started) AS counted
GROUP BY job, host, status;
