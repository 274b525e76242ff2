-- smartcron: the hourly and daily run rollups (revision 0009), kept as the run rollup of
-- 0002 is: a trigger counts each run as it is inserted, whoever inserts it. What a page
-- or a view of the last 24 hours costs then follows the jobs it shows, not their runs:
--   smartcron_run_hourly   per UTC hour, job and host: the 24-hour counts of each job
--                          (smartcron_v_job_health, the page, /api/v1/jobs);
--   smartcron_host_hourly  per UTC hour and host: the fleet's 24-hour totals
--                          (/api/v1/status and the summary page); per host, not one row
--                          an hour, so that hosts reporting at once do not queue on one row;
--   smartcron_run_daily    per UTC day, job and host, counts by outcome and durations
--                          (smartcron_v_daily_trends).
-- epoch_hour is the hour since 1970-01-01 00:00 UTC: an integer, the same on MySQL and
-- SQLite whatever the session's time zone. "The last 24 hours" is then the whole hours
-- from the first one after now - 24 h, read here, and the runs from now - 24 h to that
-- hour, read from smartcron_runs (at most an hour of them): every count is exact.
-- runs counts real runs (not skips), failures the failed statuses, skips the skips: a
-- lost run is a run and a failure, without a duration (timed counts those with one).
--
-- The triggers are created and the rollups filled under LOCK TABLES, as in
-- 0004_rollup.sql: an insert waits until UNLOCK TABLES, so each run is counted once, by
-- the SELECTs below or, inserted later, by a trigger. The hourly rollups are filled for
-- the last 48 hours only (nothing reads older hours); the daily one from every run.
LOCK TABLES smartcron_runs WRITE, smartcron_run_rollup WRITE, smartcron_run_hourly WRITE,
            smartcron_host_hourly WRITE, smartcron_run_daily WRITE;
DROP TRIGGER IF EXISTS smartcron_runs_hourly;
DROP TRIGGER IF EXISTS smartcron_runs_host_hourly;
DROP TRIGGER IF EXISTS smartcron_runs_daily;
-- One statement each, no BEGIN ... END: the file needs no DELIMITER at the mysql client.
-- An AFTER INSERT trigger fires only for rows actually inserted: a replayed report
-- (INSERT IGNORE) counts nothing.
CREATE TRIGGER smartcron_runs_hourly AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_run_hourly (job, host, epoch_hour, runs, successes, failures, skips)
SELECT NEW.job, NEW.host, TIMESTAMPDIFF(HOUR, '1970-01-01 00:00:00', NEW.started_at),
       NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
       NEW.status = 'success',
       NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'),
       NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
FROM DUAL
ON DUPLICATE KEY UPDATE
    runs      = runs + (NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
    successes = successes + (NEW.status = 'success'),
    failures  = failures + (NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
    skips     = skips + (NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'));
CREATE TRIGGER smartcron_runs_host_hourly AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_host_hourly (epoch_hour, host, runs, successes, failures, skips)
SELECT TIMESTAMPDIFF(HOUR, '1970-01-01 00:00:00', NEW.started_at), NEW.host,
       NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
       NEW.status = 'success',
       NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'),
       NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
FROM DUAL
ON DUPLICATE KEY UPDATE
    runs      = runs + (NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
    successes = successes + (NEW.status = 'success'),
    failures  = failures + (NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
    skips     = skips + (NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'));
-- A skip's duration and memory are those of no run: out of the duration figures (a skip
-- has no memory figure anyway; max_peak_rss counts every run, as the view always did).
CREATE TRIGGER smartcron_runs_daily AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_run_daily
       (day, job, host, runs, successes, failures, skips, timed, duration_sum, duration_max,
        rss_max)
SELECT DATE(NEW.started_at), NEW.job, NEW.host,
       NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
       NEW.status = 'success',
       NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'),
       NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
       NEW.status NOT LIKE 'skipped%' AND NEW.duration_s IS NOT NULL,
       CASE WHEN NEW.status NOT LIKE 'skipped%' THEN COALESCE(NEW.duration_s, 0) ELSE 0 END,
       CASE WHEN NEW.status NOT LIKE 'skipped%' THEN NEW.duration_s END,
       NEW.peak_rss_bytes
FROM DUAL
ON DUPLICATE KEY UPDATE
    runs         = runs + (NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
    successes    = successes + (NEW.status = 'success'),
    failures     = failures + (NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
    skips        = skips + (NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
    timed        = timed + (NEW.status NOT LIKE 'skipped%' AND NEW.duration_s IS NOT NULL),
    duration_sum = duration_sum
                   + CASE WHEN NEW.status NOT LIKE 'skipped%' THEN COALESCE(NEW.duration_s, 0) ELSE 0 END,
    -- GREATEST is NULL if either is: a run without a figure must not erase the maximum.
    duration_max = COALESCE(GREATEST(duration_max, CASE WHEN NEW.status NOT LIKE 'skipped%'
                                                        THEN NEW.duration_s END),
                            duration_max,
                            CASE WHEN NEW.status NOT LIKE 'skipped%' THEN NEW.duration_s END),
    rss_max      = COALESCE(GREATEST(rss_max, NEW.peak_rss_bytes), rss_max, NEW.peak_rss_bytes);
DELETE FROM smartcron_run_hourly;
DELETE FROM smartcron_host_hourly;
DELETE FROM smartcron_run_daily;
-- The same arithmetic as the triggers. The last 48 whole hours and the current one, a
-- range of ix_runs_started (which holds every column read).
INSERT INTO smartcron_run_hourly (job, host, epoch_hour, runs, successes, failures, skips)
SELECT job, host, TIMESTAMPDIFF(HOUR, '1970-01-01 00:00:00', started_at) AS epoch_hour,
       SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
       SUM(status = 'success'),
       SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
       SUM(status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'))
FROM smartcron_runs
WHERE started_at >= DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL 48 HOUR, '%Y-%m-%d %H:00:00')
GROUP BY job, host, epoch_hour;
INSERT INTO smartcron_host_hourly (epoch_hour, host, runs, successes, failures, skips)
SELECT epoch_hour, host, SUM(runs), SUM(successes), SUM(failures), SUM(skips)
FROM smartcron_run_hourly
GROUP BY epoch_hour, host;
-- Every run, read in the order of ix_runs_job_started (which holds every column read),
-- a job at a time.
INSERT INTO smartcron_run_daily
       (day, job, host, runs, successes, failures, skips, timed, duration_sum, duration_max,
        rss_max)
SELECT DATE(started_at) AS day, job, host,
       SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
       SUM(status = 'success'),
       SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
       SUM(status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
       SUM(status NOT LIKE 'skipped%' AND duration_s IS NOT NULL),
       COALESCE(SUM(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END), 0),
       MAX(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END),
       MAX(peak_rss_bytes)
FROM smartcron_runs FORCE INDEX (ix_runs_job_started)
GROUP BY job, host, day;
UNLOCK TABLES;
-- Statistics for the filled tables now, not when InnoDB gets round to it.
ANALYZE TABLE smartcron_run_hourly, smartcron_host_hourly, smartcron_run_daily;
