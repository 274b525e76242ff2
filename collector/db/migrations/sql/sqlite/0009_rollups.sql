-- smartcron: the hourly and daily run rollups of mysql/0009_rollups.sql (which says what
-- each holds and why), for SQLite. Inside the migration's BEGIN IMMEDIATE transaction:
-- no run goes in until it commits, so each run is counted once, here or, inserted
-- later, by a trigger. epoch_hour is read from the hour's text (substr(.., 1, 13)):
-- strftime('%s') of a whole time rounds it to the millisecond, and 20:59:59.9999 would
-- be counted in 21:00.
DROP TRIGGER IF EXISTS smartcron_runs_hourly;
DROP TRIGGER IF EXISTS smartcron_runs_host_hourly;
DROP TRIGGER IF EXISTS smartcron_runs_daily;
-- The WHERE true before ON CONFLICT is needed: without it SQLite would read ON as the
-- start of a join constraint.
CREATE TRIGGER smartcron_runs_hourly AFTER INSERT ON smartcron_runs
BEGIN
    INSERT INTO smartcron_run_hourly (job, host, epoch_hour, runs, successes, failures, skips)
    SELECT NEW.job, NEW.host,
           CAST(strftime('%s', substr(NEW.started_at, 1, 13) || ':00:00') AS INTEGER) / 3600,
           NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
           NEW.status = 'success',
           NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'),
           NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
    WHERE true
    ON CONFLICT (job, host, epoch_hour) DO UPDATE SET
        runs      = runs + excluded.runs,
        successes = successes + excluded.successes,
        failures  = failures + excluded.failures,
        skips     = skips + excluded.skips;
END;
CREATE TRIGGER smartcron_runs_host_hourly AFTER INSERT ON smartcron_runs
BEGIN
    INSERT INTO smartcron_host_hourly (epoch_hour, host, runs, successes, failures, skips)
    SELECT CAST(strftime('%s', substr(NEW.started_at, 1, 13) || ':00:00') AS INTEGER) / 3600,
           NEW.host,
           NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
           NEW.status = 'success',
           NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'),
           NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
    WHERE true
    ON CONFLICT (epoch_hour, host) DO UPDATE SET
        runs      = runs + excluded.runs,
        successes = successes + excluded.successes,
        failures  = failures + excluded.failures,
        skips     = skips + excluded.skips;
END;
CREATE TRIGGER smartcron_runs_daily AFTER INSERT ON smartcron_runs
BEGIN
    INSERT INTO smartcron_run_daily
           (day, job, host, runs, successes, failures, skips, timed, duration_sum,
            duration_max, rss_max)
    SELECT date(NEW.started_at), NEW.job, NEW.host,
           NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
           NEW.status = 'success',
           NEW.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost'),
           NEW.status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
           NEW.status NOT LIKE 'skipped%' AND NEW.duration_s IS NOT NULL,
           CASE WHEN NEW.status NOT LIKE 'skipped%' THEN COALESCE(NEW.duration_s, 0) ELSE 0 END,
           CASE WHEN NEW.status NOT LIKE 'skipped%' THEN NEW.duration_s END,
           NEW.peak_rss_bytes
    WHERE true
    ON CONFLICT (day, job, host) DO UPDATE SET
        runs         = runs + excluded.runs,
        successes    = successes + excluded.successes,
        failures     = failures + excluded.failures,
        skips        = skips + excluded.skips,
        timed        = timed + excluded.timed,
        duration_sum = duration_sum + excluded.duration_sum,
        -- max() of two is NULL if either is: a run without a figure must not erase the maximum.
        duration_max = COALESCE(max(duration_max, excluded.duration_max), duration_max,
                                excluded.duration_max),
        rss_max      = COALESCE(max(rss_max, excluded.rss_max), rss_max, excluded.rss_max);
END;
DELETE FROM smartcron_run_hourly;
DELETE FROM smartcron_host_hourly;
DELETE FROM smartcron_run_daily;
INSERT INTO smartcron_run_hourly (job, host, epoch_hour, runs, successes, failures, skips)
SELECT job, host,
       CAST(strftime('%s', substr(started_at, 1, 13) || ':00:00') AS INTEGER) / 3600 AS epoch_hour,
       SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
       SUM(status = 'success'),
       SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
       SUM(status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'))
FROM smartcron_runs
WHERE started_at >= strftime('%Y-%m-%d %H:00:00', 'now', '-48 hours')
GROUP BY job, host, epoch_hour;
INSERT INTO smartcron_host_hourly (epoch_hour, host, runs, successes, failures, skips)
SELECT epoch_hour, host, SUM(runs), SUM(successes), SUM(failures), SUM(skips)
FROM smartcron_run_hourly
GROUP BY epoch_hour, host;
INSERT INTO smartcron_run_daily
       (day, job, host, runs, successes, failures, skips, timed, duration_sum, duration_max,
        rss_max)
SELECT date(started_at) AS day, job, host,
       SUM(status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
       SUM(status = 'success'),
       SUM(status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')),
       SUM(status IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')),
       SUM(status NOT LIKE 'skipped%' AND duration_s IS NOT NULL),
       COALESCE(SUM(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END), 0),
       MAX(CASE WHEN status NOT LIKE 'skipped%' THEN duration_s END),
       MAX(peak_rss_bytes)
FROM smartcron_runs
GROUP BY date(started_at), job, host;
