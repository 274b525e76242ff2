-- smartcron: smartcron_run_totals (revision 0020) filled from every stored run: per job,
-- host and status, the runs and, of the real ones (a skip ran nothing), those with a
-- duration (a lost run has none), the sum of their durations in whole microseconds and
-- how many lasted at most each bound of collector/metrics.py's histogram (1 s to 12 h,
-- cumulative). Ingest adds each batch's runs from here on, with the same arithmetic in
-- Python (collector/aggregates.py); bench/aggregates.py runs this fill after a bulk load.
--
-- A duration's microseconds are FLOOR(duration_s * 1000000 + 0.5): the same two double
-- operations as Python's math.floor(d * 1_000_000 + 0.5), so a fill and ingest agree to
-- the microsecond; ROUND() breaks a tie to even on MariaDB and away from zero on SQLite.
DELETE FROM smartcron_run_totals;
-- `d` is the duration that counts: none for a skip. Every column read is in
-- ix_runs_job_started: one pass over the index, not the table.
INSERT INTO smartcron_run_totals
       (job, host, status, runs, timed, duration_us, le_1, le_5, le_15, le_30, le_60,
        le_300, le_900, le_1800, le_3600, le_10800, le_43200)
SELECT job, host, status, COUNT(*), COUNT(d),
       COALESCE(SUM(CAST(FLOOR(d * 1000000 + 0.5e0) AS SIGNED)), 0),
       COUNT(CASE WHEN d <= 1 THEN 1 END), COUNT(CASE WHEN d <= 5 THEN 1 END),
       COUNT(CASE WHEN d <= 15 THEN 1 END), COUNT(CASE WHEN d <= 30 THEN 1 END),
       COUNT(CASE WHEN d <= 60 THEN 1 END), COUNT(CASE WHEN d <= 300 THEN 1 END),
       COUNT(CASE WHEN d <= 900 THEN 1 END), COUNT(CASE WHEN d <= 1800 THEN 1 END),
       COUNT(CASE WHEN d <= 3600 THEN 1 END), COUNT(CASE WHEN d <= 10800 THEN 1 END),
       COUNT(CASE WHEN d <= 43200 THEN 1 END)
FROM (SELECT job, host, status,
             CASE WHEN status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
                  THEN duration_s END AS d
      FROM smartcron_runs FORCE INDEX (ix_runs_job_started)) AS counted
GROUP BY job, host, status;
-- Statistics for the filled table now, not when InnoDB gets round to it.
ANALYZE TABLE smartcron_run_totals;
