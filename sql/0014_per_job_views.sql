-- smartcron revision 0014: Per-job summaries for the performance and health views, so that they follow the jobs.
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0014_per_job_views.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0013 -> 0014

CREATE TABLE smartcron_perf_daily (
    job VARCHAR(100) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    day DATE NOT NULL, 
    runs INTEGER NOT NULL, 
    successes INTEGER NOT NULL, 
    timed INTEGER NOT NULL, 
    duration_sum DOUBLE NOT NULL, 
    duration_min DOUBLE, 
    duration_max DOUBLE, 
    rss_sum NUMERIC(38, 0) NOT NULL, 
    rss_count INTEGER NOT NULL, 
    rss_max BIGINT, 
    d00 INTEGER NOT NULL, 
    d01 INTEGER NOT NULL, 
    d02 INTEGER NOT NULL, 
    d03 INTEGER NOT NULL, 
    d04 INTEGER NOT NULL, 
    d05 INTEGER NOT NULL, 
    d06 INTEGER NOT NULL, 
    d07 INTEGER NOT NULL, 
    d08 INTEGER NOT NULL, 
    d09 INTEGER NOT NULL, 
    d10 INTEGER NOT NULL, 
    d11 INTEGER NOT NULL, 
    d12 INTEGER NOT NULL, 
    d13 INTEGER NOT NULL, 
    d14 INTEGER NOT NULL, 
    d15 INTEGER NOT NULL, 
    d16 INTEGER NOT NULL, 
    d17 INTEGER NOT NULL, 
    d18 INTEGER NOT NULL, 
    d19 INTEGER NOT NULL, 
    d20 INTEGER NOT NULL, 
    d21 INTEGER NOT NULL, 
    d22 INTEGER NOT NULL, 
    d23 INTEGER NOT NULL, 
    d24 INTEGER NOT NULL, 
    d25 INTEGER NOT NULL, 
    d26 INTEGER NOT NULL, 
    d27 INTEGER NOT NULL, 
    d28 INTEGER NOT NULL, 
    d29 INTEGER NOT NULL, 
    d30 INTEGER NOT NULL, 
    d31 INTEGER NOT NULL, 
    d32 INTEGER NOT NULL, 
    d33 INTEGER NOT NULL, 
    d34 INTEGER NOT NULL, 
    d35 INTEGER NOT NULL, 
    d36 INTEGER NOT NULL, 
    d37 INTEGER NOT NULL, 
    d38 INTEGER NOT NULL, 
    d39 INTEGER NOT NULL, 
    d40 INTEGER NOT NULL, 
    d41 INTEGER NOT NULL, 
    d42 INTEGER NOT NULL, 
    d43 INTEGER NOT NULL, 
    d44 INTEGER NOT NULL, 
    d45 INTEGER NOT NULL, 
    d46 INTEGER NOT NULL, 
    d47 INTEGER NOT NULL, 
    d48 INTEGER NOT NULL, 
    d49 INTEGER NOT NULL, 
    d50 INTEGER NOT NULL, 
    d51 INTEGER NOT NULL, 
    d52 INTEGER NOT NULL, 
    d53 INTEGER NOT NULL, 
    d54 INTEGER NOT NULL, 
    d55 INTEGER NOT NULL, 
    d56 INTEGER NOT NULL, 
    d57 INTEGER NOT NULL, 
    d58 INTEGER NOT NULL, 
    d59 INTEGER NOT NULL, 
    d60 INTEGER NOT NULL, 
    d61 INTEGER NOT NULL, 
    d62 INTEGER NOT NULL, 
    d63 INTEGER NOT NULL, 
    d64 INTEGER NOT NULL, 
    d65 INTEGER NOT NULL, 
    d66 INTEGER NOT NULL, 
    d67 INTEGER NOT NULL, 
    d68 INTEGER NOT NULL, 
    d69 INTEGER NOT NULL, 
    d70 INTEGER NOT NULL, 
    d71 INTEGER NOT NULL, 
    d72 INTEGER NOT NULL, 
    d73 INTEGER NOT NULL, 
    d74 INTEGER NOT NULL, 
    d75 INTEGER NOT NULL, 
    d76 INTEGER NOT NULL, 
    d77 INTEGER NOT NULL, 
    d78 INTEGER NOT NULL, 
    d79 INTEGER NOT NULL, 
    d80 INTEGER NOT NULL, 
    d81 INTEGER NOT NULL, 
    d82 INTEGER NOT NULL, 
    d83 INTEGER NOT NULL, 
    d84 INTEGER NOT NULL, 
    d85 INTEGER NOT NULL, 
    d86 INTEGER NOT NULL, 
    d87 INTEGER NOT NULL, 
    d88 INTEGER NOT NULL, 
    PRIMARY KEY (job, host, day)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin;

CREATE INDEX ix_perf_daily_day ON smartcron_perf_daily (day);

LOCK TABLES smartcron_runs WRITE, smartcron_perf_daily WRITE;

DROP TRIGGER IF EXISTS smartcron_runs_perf_daily;

CREATE TRIGGER smartcron_runs_perf_daily AFTER INSERT ON smartcron_runs FOR EACH ROW
INSERT INTO smartcron_perf_daily
       (job, host, day, runs, successes, timed, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max, d00, d01, d02, d03, d04, d05, d06, d07, d08, d09, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40, d41, d42, d43, d44, d45, d46, d47, d48, d49, d50, d51, d52, d53, d54, d55, d56, d57, d58, d59, d60, d61, d62, d63, d64, d65, d66, d67, d68, d69, d70, d71, d72, d73, d74, d75, d76, d77, d78, d79, d80, d81, d82, d83, d84, d85, d86, d87, d88)
SELECT NEW.job, NEW.host, DATE(NEW.started_at), 1, NEW.status = 'success',
       NEW.duration_s IS NOT NULL, COALESCE(NEW.duration_s, 0), NEW.duration_s,
       NEW.duration_s, COALESCE(NEW.peak_rss_bytes, 0), NEW.peak_rss_bytes IS NOT NULL,
       NEW.peak_rss_bytes,
       COALESCE(NEW.duration_s <= 0.015625e0, 0),
       COALESCE(NEW.duration_s <= 0.018581361171917516e0, 0),
       COALESCE(NEW.duration_s <= 0.02209708691207961e0, 0),
       COALESCE(NEW.duration_s <= 0.026278012976678578e0, 0),
       COALESCE(NEW.duration_s <= 0.03125e0, 0),
       COALESCE(NEW.duration_s <= 0.03716272234383503e0, 0),
       COALESCE(NEW.duration_s <= 0.04419417382415922e0, 0),
       COALESCE(NEW.duration_s <= 0.052556025953357156e0, 0),
       COALESCE(NEW.duration_s <= 0.0625e0, 0),
       COALESCE(NEW.duration_s <= 0.07432544468767006e0, 0),
       COALESCE(NEW.duration_s <= 0.08838834764831845e0, 0),
       COALESCE(NEW.duration_s <= 0.10511205190671431e0, 0),
       COALESCE(NEW.duration_s <= 0.125e0, 0),
       COALESCE(NEW.duration_s <= 0.14865088937534013e0, 0),
       COALESCE(NEW.duration_s <= 0.1767766952966369e0, 0),
       COALESCE(NEW.duration_s <= 0.21022410381342863e0, 0),
       COALESCE(NEW.duration_s <= 0.25e0, 0),
       COALESCE(NEW.duration_s <= 0.29730177875068026e0, 0),
       COALESCE(NEW.duration_s <= 0.3535533905932738e0, 0),
       COALESCE(NEW.duration_s <= 0.42044820762685725e0, 0),
       COALESCE(NEW.duration_s <= 0.5e0, 0),
       COALESCE(NEW.duration_s <= 0.5946035575013605e0, 0),
       COALESCE(NEW.duration_s <= 0.7071067811865476e0, 0),
       COALESCE(NEW.duration_s <= 0.8408964152537145e0, 0),
       COALESCE(NEW.duration_s <= 1.0e0, 0),
       COALESCE(NEW.duration_s <= 1.189207115002721e0, 0),
       COALESCE(NEW.duration_s <= 1.4142135623730951e0, 0),
       COALESCE(NEW.duration_s <= 1.681792830507429e0, 0),
       COALESCE(NEW.duration_s <= 2.0e0, 0),
       COALESCE(NEW.duration_s <= 2.378414230005442e0, 0),
       COALESCE(NEW.duration_s <= 2.8284271247461903e0, 0),
       COALESCE(NEW.duration_s <= 3.363585661014858e0, 0),
       COALESCE(NEW.duration_s <= 4.0e0, 0),
       COALESCE(NEW.duration_s <= 4.756828460010884e0, 0),
       COALESCE(NEW.duration_s <= 5.656854249492381e0, 0),
       COALESCE(NEW.duration_s <= 6.727171322029716e0, 0),
       COALESCE(NEW.duration_s <= 8.0e0, 0),
       COALESCE(NEW.duration_s <= 9.513656920021768e0, 0),
       COALESCE(NEW.duration_s <= 11.313708498984761e0, 0),
       COALESCE(NEW.duration_s <= 13.454342644059432e0, 0),
       COALESCE(NEW.duration_s <= 16.0e0, 0),
       COALESCE(NEW.duration_s <= 19.027313840043536e0, 0),
       COALESCE(NEW.duration_s <= 22.627416997969522e0, 0),
       COALESCE(NEW.duration_s <= 26.908685288118864e0, 0),
       COALESCE(NEW.duration_s <= 32.0e0, 0),
       COALESCE(NEW.duration_s <= 38.05462768008707e0, 0),
       COALESCE(NEW.duration_s <= 45.254833995939045e0, 0),
       COALESCE(NEW.duration_s <= 53.81737057623773e0, 0),
       COALESCE(NEW.duration_s <= 64.0e0, 0),
       COALESCE(NEW.duration_s <= 76.10925536017415e0, 0),
       COALESCE(NEW.duration_s <= 90.50966799187809e0, 0),
       COALESCE(NEW.duration_s <= 107.63474115247546e0, 0),
       COALESCE(NEW.duration_s <= 128.0e0, 0),
       COALESCE(NEW.duration_s <= 152.2185107203483e0, 0),
       COALESCE(NEW.duration_s <= 181.01933598375618e0, 0),
       COALESCE(NEW.duration_s <= 215.2694823049509e0, 0),
       COALESCE(NEW.duration_s <= 256.0e0, 0),
       COALESCE(NEW.duration_s <= 304.4370214406966e0, 0),
       COALESCE(NEW.duration_s <= 362.03867196751236e0, 0),
       COALESCE(NEW.duration_s <= 430.5389646099018e0, 0),
       COALESCE(NEW.duration_s <= 512.0e0, 0),
       COALESCE(NEW.duration_s <= 608.8740428813932e0, 0),
       COALESCE(NEW.duration_s <= 724.0773439350247e0, 0),
       COALESCE(NEW.duration_s <= 861.0779292198037e0, 0),
       COALESCE(NEW.duration_s <= 1024.0e0, 0),
       COALESCE(NEW.duration_s <= 1217.7480857627863e0, 0),
       COALESCE(NEW.duration_s <= 1448.1546878700494e0, 0),
       COALESCE(NEW.duration_s <= 1722.1558584396073e0, 0),
       COALESCE(NEW.duration_s <= 2048.0e0, 0),
       COALESCE(NEW.duration_s <= 2435.4961715255727e0, 0),
       COALESCE(NEW.duration_s <= 2896.309375740099e0, 0),
       COALESCE(NEW.duration_s <= 3444.3117168792146e0, 0),
       COALESCE(NEW.duration_s <= 4096.0e0, 0),
       COALESCE(NEW.duration_s <= 4870.992343051145e0, 0),
       COALESCE(NEW.duration_s <= 5792.618751480198e0, 0),
       COALESCE(NEW.duration_s <= 6888.623433758429e0, 0),
       COALESCE(NEW.duration_s <= 8192.0e0, 0),
       COALESCE(NEW.duration_s <= 9741.98468610229e0, 0),
       COALESCE(NEW.duration_s <= 11585.237502960395e0, 0),
       COALESCE(NEW.duration_s <= 13777.246867516858e0, 0),
       COALESCE(NEW.duration_s <= 16384.0e0, 0),
       COALESCE(NEW.duration_s <= 19483.96937220458e0, 0),
       COALESCE(NEW.duration_s <= 23170.47500592079e0, 0),
       COALESCE(NEW.duration_s <= 27554.493735033717e0, 0),
       COALESCE(NEW.duration_s <= 32768.0e0, 0),
       COALESCE(NEW.duration_s <= 38967.93874440916e0, 0),
       COALESCE(NEW.duration_s <= 46340.95001184158e0, 0),
       COALESCE(NEW.duration_s <= 55108.98747006743e0, 0),
       COALESCE(NEW.duration_s <= 65536.0e0, 0)
FROM DUAL
WHERE NEW.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
ON DUPLICATE KEY UPDATE
    runs         = runs + 1,
    successes    = successes + (NEW.status = 'success'),
    timed        = timed + (NEW.duration_s IS NOT NULL),
    duration_sum = duration_sum + COALESCE(NEW.duration_s, 0),
    
    duration_min = COALESCE(LEAST(duration_min, NEW.duration_s), duration_min, NEW.duration_s),
    duration_max = COALESCE(GREATEST(duration_max, NEW.duration_s), duration_max,
                            NEW.duration_s),
    rss_sum      = rss_sum + COALESCE(NEW.peak_rss_bytes, 0),
    rss_count    = rss_count + (NEW.peak_rss_bytes IS NOT NULL),
    rss_max      = COALESCE(GREATEST(rss_max, NEW.peak_rss_bytes), rss_max, NEW.peak_rss_bytes),
    d00 = d00 + COALESCE(NEW.duration_s <= 0.015625e0, 0),
    d01 = d01 + COALESCE(NEW.duration_s <= 0.018581361171917516e0, 0),
    d02 = d02 + COALESCE(NEW.duration_s <= 0.02209708691207961e0, 0),
    d03 = d03 + COALESCE(NEW.duration_s <= 0.026278012976678578e0, 0),
    d04 = d04 + COALESCE(NEW.duration_s <= 0.03125e0, 0),
    d05 = d05 + COALESCE(NEW.duration_s <= 0.03716272234383503e0, 0),
    d06 = d06 + COALESCE(NEW.duration_s <= 0.04419417382415922e0, 0),
    d07 = d07 + COALESCE(NEW.duration_s <= 0.052556025953357156e0, 0),
    d08 = d08 + COALESCE(NEW.duration_s <= 0.0625e0, 0),
    d09 = d09 + COALESCE(NEW.duration_s <= 0.07432544468767006e0, 0),
    d10 = d10 + COALESCE(NEW.duration_s <= 0.08838834764831845e0, 0),
    d11 = d11 + COALESCE(NEW.duration_s <= 0.10511205190671431e0, 0),
    d12 = d12 + COALESCE(NEW.duration_s <= 0.125e0, 0),
    d13 = d13 + COALESCE(NEW.duration_s <= 0.14865088937534013e0, 0),
    d14 = d14 + COALESCE(NEW.duration_s <= 0.1767766952966369e0, 0),
    d15 = d15 + COALESCE(NEW.duration_s <= 0.21022410381342863e0, 0),
    d16 = d16 + COALESCE(NEW.duration_s <= 0.25e0, 0),
    d17 = d17 + COALESCE(NEW.duration_s <= 0.29730177875068026e0, 0),
    d18 = d18 + COALESCE(NEW.duration_s <= 0.3535533905932738e0, 0),
    d19 = d19 + COALESCE(NEW.duration_s <= 0.42044820762685725e0, 0),
    d20 = d20 + COALESCE(NEW.duration_s <= 0.5e0, 0),
    d21 = d21 + COALESCE(NEW.duration_s <= 0.5946035575013605e0, 0),
    d22 = d22 + COALESCE(NEW.duration_s <= 0.7071067811865476e0, 0),
    d23 = d23 + COALESCE(NEW.duration_s <= 0.8408964152537145e0, 0),
    d24 = d24 + COALESCE(NEW.duration_s <= 1.0e0, 0),
    d25 = d25 + COALESCE(NEW.duration_s <= 1.189207115002721e0, 0),
    d26 = d26 + COALESCE(NEW.duration_s <= 1.4142135623730951e0, 0),
    d27 = d27 + COALESCE(NEW.duration_s <= 1.681792830507429e0, 0),
    d28 = d28 + COALESCE(NEW.duration_s <= 2.0e0, 0),
    d29 = d29 + COALESCE(NEW.duration_s <= 2.378414230005442e0, 0),
    d30 = d30 + COALESCE(NEW.duration_s <= 2.8284271247461903e0, 0),
    d31 = d31 + COALESCE(NEW.duration_s <= 3.363585661014858e0, 0),
    d32 = d32 + COALESCE(NEW.duration_s <= 4.0e0, 0),
    d33 = d33 + COALESCE(NEW.duration_s <= 4.756828460010884e0, 0),
    d34 = d34 + COALESCE(NEW.duration_s <= 5.656854249492381e0, 0),
    d35 = d35 + COALESCE(NEW.duration_s <= 6.727171322029716e0, 0),
    d36 = d36 + COALESCE(NEW.duration_s <= 8.0e0, 0),
    d37 = d37 + COALESCE(NEW.duration_s <= 9.513656920021768e0, 0),
    d38 = d38 + COALESCE(NEW.duration_s <= 11.313708498984761e0, 0),
    d39 = d39 + COALESCE(NEW.duration_s <= 13.454342644059432e0, 0),
    d40 = d40 + COALESCE(NEW.duration_s <= 16.0e0, 0),
    d41 = d41 + COALESCE(NEW.duration_s <= 19.027313840043536e0, 0),
    d42 = d42 + COALESCE(NEW.duration_s <= 22.627416997969522e0, 0),
    d43 = d43 + COALESCE(NEW.duration_s <= 26.908685288118864e0, 0),
    d44 = d44 + COALESCE(NEW.duration_s <= 32.0e0, 0),
    d45 = d45 + COALESCE(NEW.duration_s <= 38.05462768008707e0, 0),
    d46 = d46 + COALESCE(NEW.duration_s <= 45.254833995939045e0, 0),
    d47 = d47 + COALESCE(NEW.duration_s <= 53.81737057623773e0, 0),
    d48 = d48 + COALESCE(NEW.duration_s <= 64.0e0, 0),
    d49 = d49 + COALESCE(NEW.duration_s <= 76.10925536017415e0, 0),
    d50 = d50 + COALESCE(NEW.duration_s <= 90.50966799187809e0, 0),
    d51 = d51 + COALESCE(NEW.duration_s <= 107.63474115247546e0, 0),
    d52 = d52 + COALESCE(NEW.duration_s <= 128.0e0, 0),
    d53 = d53 + COALESCE(NEW.duration_s <= 152.2185107203483e0, 0),
    d54 = d54 + COALESCE(NEW.duration_s <= 181.01933598375618e0, 0),
    d55 = d55 + COALESCE(NEW.duration_s <= 215.2694823049509e0, 0),
    d56 = d56 + COALESCE(NEW.duration_s <= 256.0e0, 0),
    d57 = d57 + COALESCE(NEW.duration_s <= 304.4370214406966e0, 0),
    d58 = d58 + COALESCE(NEW.duration_s <= 362.03867196751236e0, 0),
    d59 = d59 + COALESCE(NEW.duration_s <= 430.5389646099018e0, 0),
    d60 = d60 + COALESCE(NEW.duration_s <= 512.0e0, 0),
    d61 = d61 + COALESCE(NEW.duration_s <= 608.8740428813932e0, 0),
    d62 = d62 + COALESCE(NEW.duration_s <= 724.0773439350247e0, 0),
    d63 = d63 + COALESCE(NEW.duration_s <= 861.0779292198037e0, 0),
    d64 = d64 + COALESCE(NEW.duration_s <= 1024.0e0, 0),
    d65 = d65 + COALESCE(NEW.duration_s <= 1217.7480857627863e0, 0),
    d66 = d66 + COALESCE(NEW.duration_s <= 1448.1546878700494e0, 0),
    d67 = d67 + COALESCE(NEW.duration_s <= 1722.1558584396073e0, 0),
    d68 = d68 + COALESCE(NEW.duration_s <= 2048.0e0, 0),
    d69 = d69 + COALESCE(NEW.duration_s <= 2435.4961715255727e0, 0),
    d70 = d70 + COALESCE(NEW.duration_s <= 2896.309375740099e0, 0),
    d71 = d71 + COALESCE(NEW.duration_s <= 3444.3117168792146e0, 0),
    d72 = d72 + COALESCE(NEW.duration_s <= 4096.0e0, 0),
    d73 = d73 + COALESCE(NEW.duration_s <= 4870.992343051145e0, 0),
    d74 = d74 + COALESCE(NEW.duration_s <= 5792.618751480198e0, 0),
    d75 = d75 + COALESCE(NEW.duration_s <= 6888.623433758429e0, 0),
    d76 = d76 + COALESCE(NEW.duration_s <= 8192.0e0, 0),
    d77 = d77 + COALESCE(NEW.duration_s <= 9741.98468610229e0, 0),
    d78 = d78 + COALESCE(NEW.duration_s <= 11585.237502960395e0, 0),
    d79 = d79 + COALESCE(NEW.duration_s <= 13777.246867516858e0, 0),
    d80 = d80 + COALESCE(NEW.duration_s <= 16384.0e0, 0),
    d81 = d81 + COALESCE(NEW.duration_s <= 19483.96937220458e0, 0),
    d82 = d82 + COALESCE(NEW.duration_s <= 23170.47500592079e0, 0),
    d83 = d83 + COALESCE(NEW.duration_s <= 27554.493735033717e0, 0),
    d84 = d84 + COALESCE(NEW.duration_s <= 32768.0e0, 0),
    d85 = d85 + COALESCE(NEW.duration_s <= 38967.93874440916e0, 0),
    d86 = d86 + COALESCE(NEW.duration_s <= 46340.95001184158e0, 0),
    d87 = d87 + COALESCE(NEW.duration_s <= 55108.98747006743e0, 0),
    d88 = d88 + COALESCE(NEW.duration_s <= 65536.0e0, 0);

DELETE FROM smartcron_perf_daily;

INSERT INTO smartcron_perf_daily
       (job, host, day, runs, successes, timed, duration_sum, duration_min, duration_max,
        rss_sum, rss_count, rss_max, d00, d01, d02, d03, d04, d05, d06, d07, d08, d09, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40, d41, d42, d43, d44, d45, d46, d47, d48, d49, d50, d51, d52, d53, d54, d55, d56, d57, d58, d59, d60, d61, d62, d63, d64, d65, d66, d67, d68, d69, d70, d71, d72, d73, d74, d75, d76, d77, d78, d79, d80, d81, d82, d83, d84, d85, d86, d87, d88)
SELECT job, host, DATE(started_at) AS day, COUNT(*), SUM(status = 'success'),
       COUNT(duration_s), COALESCE(SUM(duration_s), 0), MIN(duration_s), MAX(duration_s),
       COALESCE(SUM(peak_rss_bytes), 0), COUNT(peak_rss_bytes), MAX(peak_rss_bytes),
       COALESCE(SUM(duration_s <= 0.015625e0), 0),
       COALESCE(SUM(duration_s <= 0.018581361171917516e0), 0),
       COALESCE(SUM(duration_s <= 0.02209708691207961e0), 0),
       COALESCE(SUM(duration_s <= 0.026278012976678578e0), 0),
       COALESCE(SUM(duration_s <= 0.03125e0), 0),
       COALESCE(SUM(duration_s <= 0.03716272234383503e0), 0),
       COALESCE(SUM(duration_s <= 0.04419417382415922e0), 0),
       COALESCE(SUM(duration_s <= 0.052556025953357156e0), 0),
       COALESCE(SUM(duration_s <= 0.0625e0), 0),
       COALESCE(SUM(duration_s <= 0.07432544468767006e0), 0),
       COALESCE(SUM(duration_s <= 0.08838834764831845e0), 0),
       COALESCE(SUM(duration_s <= 0.10511205190671431e0), 0),
       COALESCE(SUM(duration_s <= 0.125e0), 0),
       COALESCE(SUM(duration_s <= 0.14865088937534013e0), 0),
       COALESCE(SUM(duration_s <= 0.1767766952966369e0), 0),
       COALESCE(SUM(duration_s <= 0.21022410381342863e0), 0),
       COALESCE(SUM(duration_s <= 0.25e0), 0),
       COALESCE(SUM(duration_s <= 0.29730177875068026e0), 0),
       COALESCE(SUM(duration_s <= 0.3535533905932738e0), 0),
       COALESCE(SUM(duration_s <= 0.42044820762685725e0), 0),
       COALESCE(SUM(duration_s <= 0.5e0), 0),
       COALESCE(SUM(duration_s <= 0.5946035575013605e0), 0),
       COALESCE(SUM(duration_s <= 0.7071067811865476e0), 0),
       COALESCE(SUM(duration_s <= 0.8408964152537145e0), 0),
       COALESCE(SUM(duration_s <= 1.0e0), 0),
       COALESCE(SUM(duration_s <= 1.189207115002721e0), 0),
       COALESCE(SUM(duration_s <= 1.4142135623730951e0), 0),
       COALESCE(SUM(duration_s <= 1.681792830507429e0), 0),
       COALESCE(SUM(duration_s <= 2.0e0), 0),
       COALESCE(SUM(duration_s <= 2.378414230005442e0), 0),
       COALESCE(SUM(duration_s <= 2.8284271247461903e0), 0),
       COALESCE(SUM(duration_s <= 3.363585661014858e0), 0),
       COALESCE(SUM(duration_s <= 4.0e0), 0),
       COALESCE(SUM(duration_s <= 4.756828460010884e0), 0),
       COALESCE(SUM(duration_s <= 5.656854249492381e0), 0),
       COALESCE(SUM(duration_s <= 6.727171322029716e0), 0),
       COALESCE(SUM(duration_s <= 8.0e0), 0),
       COALESCE(SUM(duration_s <= 9.513656920021768e0), 0),
       COALESCE(SUM(duration_s <= 11.313708498984761e0), 0),
       COALESCE(SUM(duration_s <= 13.454342644059432e0), 0),
       COALESCE(SUM(duration_s <= 16.0e0), 0),
       COALESCE(SUM(duration_s <= 19.027313840043536e0), 0),
       COALESCE(SUM(duration_s <= 22.627416997969522e0), 0),
       COALESCE(SUM(duration_s <= 26.908685288118864e0), 0),
       COALESCE(SUM(duration_s <= 32.0e0), 0),
       COALESCE(SUM(duration_s <= 38.05462768008707e0), 0),
       COALESCE(SUM(duration_s <= 45.254833995939045e0), 0),
       COALESCE(SUM(duration_s <= 53.81737057623773e0), 0),
       COALESCE(SUM(duration_s <= 64.0e0), 0),
       COALESCE(SUM(duration_s <= 76.10925536017415e0), 0),
       COALESCE(SUM(duration_s <= 90.50966799187809e0), 0),
       COALESCE(SUM(duration_s <= 107.63474115247546e0), 0),
       COALESCE(SUM(duration_s <= 128.0e0), 0),
       COALESCE(SUM(duration_s <= 152.2185107203483e0), 0),
       COALESCE(SUM(duration_s <= 181.01933598375618e0), 0),
       COALESCE(SUM(duration_s <= 215.2694823049509e0), 0),
       COALESCE(SUM(duration_s <= 256.0e0), 0),
       COALESCE(SUM(duration_s <= 304.4370214406966e0), 0),
       COALESCE(SUM(duration_s <= 362.03867196751236e0), 0),
       COALESCE(SUM(duration_s <= 430.5389646099018e0), 0),
       COALESCE(SUM(duration_s <= 512.0e0), 0),
       COALESCE(SUM(duration_s <= 608.8740428813932e0), 0),
       COALESCE(SUM(duration_s <= 724.0773439350247e0), 0),
       COALESCE(SUM(duration_s <= 861.0779292198037e0), 0),
       COALESCE(SUM(duration_s <= 1024.0e0), 0),
       COALESCE(SUM(duration_s <= 1217.7480857627863e0), 0),
       COALESCE(SUM(duration_s <= 1448.1546878700494e0), 0),
       COALESCE(SUM(duration_s <= 1722.1558584396073e0), 0),
       COALESCE(SUM(duration_s <= 2048.0e0), 0),
       COALESCE(SUM(duration_s <= 2435.4961715255727e0), 0),
       COALESCE(SUM(duration_s <= 2896.309375740099e0), 0),
       COALESCE(SUM(duration_s <= 3444.3117168792146e0), 0),
       COALESCE(SUM(duration_s <= 4096.0e0), 0),
       COALESCE(SUM(duration_s <= 4870.992343051145e0), 0),
       COALESCE(SUM(duration_s <= 5792.618751480198e0), 0),
       COALESCE(SUM(duration_s <= 6888.623433758429e0), 0),
       COALESCE(SUM(duration_s <= 8192.0e0), 0),
       COALESCE(SUM(duration_s <= 9741.98468610229e0), 0),
       COALESCE(SUM(duration_s <= 11585.237502960395e0), 0),
       COALESCE(SUM(duration_s <= 13777.246867516858e0), 0),
       COALESCE(SUM(duration_s <= 16384.0e0), 0),
       COALESCE(SUM(duration_s <= 19483.96937220458e0), 0),
       COALESCE(SUM(duration_s <= 23170.47500592079e0), 0),
       COALESCE(SUM(duration_s <= 27554.493735033717e0), 0),
       COALESCE(SUM(duration_s <= 32768.0e0), 0),
       COALESCE(SUM(duration_s <= 38967.93874440916e0), 0),
       COALESCE(SUM(duration_s <= 46340.95001184158e0), 0),
       COALESCE(SUM(duration_s <= 55108.98747006743e0), 0),
       COALESCE(SUM(duration_s <= 65536.0e0), 0)
FROM smartcron_runs FORCE INDEX (ix_runs_job_started)
WHERE started_at >= UTC_DATE() - INTERVAL 30 DAY
  AND status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused')
GROUP BY job, host, day;

UNLOCK TABLES;

ANALYZE TABLE smartcron_perf_daily;

CREATE OR REPLACE VIEW smartcron_v_job_performance AS
SELECT job,
       host,
       runs,
       successes,
       ROUND(100 * successes / runs, 1)                 AS success_rate_pct,
       ROUND(duration_sum / NULLIF(timed, 0), 3)        AS avg_duration_s,
       ROUND(LEAST(GREATEST(
           CASE WHEN timed = 0 THEN NULL
                WHEN d00 >= p95_rank THEN 0.014274574473032974e0
                WHEN d01 >= p95_rank THEN 0.016975425526967028e0
                WHEN d02 >= p95_rank THEN 0.020187296816868008e0
                WHEN d03 >= p95_rank THEN 0.024006877007291216e0
                WHEN d04 >= p95_rank THEN 0.028549148946065948e0
                WHEN d05 >= p95_rank THEN 0.033950851053934056e0
                WHEN d06 >= p95_rank THEN 0.040374593633736015e0
                WHEN d07 >= p95_rank THEN 0.04801375401458243e0
                WHEN d08 >= p95_rank THEN 0.057098297892131895e0
                WHEN d09 >= p95_rank THEN 0.06790170210786811e0
                WHEN d10 >= p95_rank THEN 0.08074918726747203e0
                WHEN d11 >= p95_rank THEN 0.09602750802916486e0
                WHEN d12 >= p95_rank THEN 0.11419659578426379e0
                WHEN d13 >= p95_rank THEN 0.13580340421573622e0
                WHEN d14 >= p95_rank THEN 0.16149837453494406e0
                WHEN d15 >= p95_rank THEN 0.19205501605832973e0
                WHEN d16 >= p95_rank THEN 0.22839319156852758e0
                WHEN d17 >= p95_rank THEN 0.27160680843147245e0
                WHEN d18 >= p95_rank THEN 0.3229967490698881e0
                WHEN d19 >= p95_rank THEN 0.38411003211665945e0
                WHEN d20 >= p95_rank THEN 0.45678638313705516e0
                WHEN d21 >= p95_rank THEN 0.5432136168629449e0
                WHEN d22 >= p95_rank THEN 0.6459934981397762e0
                WHEN d23 >= p95_rank THEN 0.7682200642333189e0
                WHEN d24 >= p95_rank THEN 0.9135727662741103e0
                WHEN d25 >= p95_rank THEN 1.0864272337258898e0
                WHEN d26 >= p95_rank THEN 1.2919869962795525e0
                WHEN d27 >= p95_rank THEN 1.5364401284666378e0
                WHEN d28 >= p95_rank THEN 1.8271455325482207e0
                WHEN d29 >= p95_rank THEN 2.1728544674517796e0
                WHEN d30 >= p95_rank THEN 2.583973992559105e0
                WHEN d31 >= p95_rank THEN 3.0728802569332756e0
                WHEN d32 >= p95_rank THEN 3.6542910650964413e0
                WHEN d33 >= p95_rank THEN 4.345708934903559e0
                WHEN d34 >= p95_rank THEN 5.16794798511821e0
                WHEN d35 >= p95_rank THEN 6.145760513866551e0
                WHEN d36 >= p95_rank THEN 7.308582130192883e0
                WHEN d37 >= p95_rank THEN 8.691417869807118e0
                WHEN d38 >= p95_rank THEN 10.33589597023642e0
                WHEN d39 >= p95_rank THEN 12.291521027733102e0
                WHEN d40 >= p95_rank THEN 14.617164260385765e0
                WHEN d41 >= p95_rank THEN 17.382835739614237e0
                WHEN d42 >= p95_rank THEN 20.67179194047284e0
                WHEN d43 >= p95_rank THEN 24.583042055466205e0
                WHEN d44 >= p95_rank THEN 29.23432852077153e0
                WHEN d45 >= p95_rank THEN 34.76567147922847e0
                WHEN d46 >= p95_rank THEN 41.34358388094568e0
                WHEN d47 >= p95_rank THEN 49.16608411093241e0
                WHEN d48 >= p95_rank THEN 58.46865704154306e0
                WHEN d49 >= p95_rank THEN 69.53134295845695e0
                WHEN d50 >= p95_rank THEN 82.68716776189136e0
                WHEN d51 >= p95_rank THEN 98.33216822186482e0
                WHEN d52 >= p95_rank THEN 116.93731408308612e0
                WHEN d53 >= p95_rank THEN 139.0626859169139e0
                WHEN d54 >= p95_rank THEN 165.37433552378272e0
                WHEN d55 >= p95_rank THEN 196.66433644372964e0
                WHEN d56 >= p95_rank THEN 233.87462816617224e0
                WHEN d57 >= p95_rank THEN 278.1253718338278e0
                WHEN d58 >= p95_rank THEN 330.74867104756544e0
                WHEN d59 >= p95_rank THEN 393.3286728874593e0
                WHEN d60 >= p95_rank THEN 467.7492563323445e0
                WHEN d61 >= p95_rank THEN 556.2507436676556e0
                WHEN d62 >= p95_rank THEN 661.4973420951309e0
                WHEN d63 >= p95_rank THEN 786.6573457749186e0
                WHEN d64 >= p95_rank THEN 935.498512664689e0
                WHEN d65 >= p95_rank THEN 1112.5014873353111e0
                WHEN d66 >= p95_rank THEN 1322.9946841902618e0
                WHEN d67 >= p95_rank THEN 1573.314691549837e0
                WHEN d68 >= p95_rank THEN 1870.997025329378e0
                WHEN d69 >= p95_rank THEN 2225.0029746706223e0
                WHEN d70 >= p95_rank THEN 2645.9893683805235e0
                WHEN d71 >= p95_rank THEN 3146.629383099674e0
                WHEN d72 >= p95_rank THEN 3741.994050658756e0
                WHEN d73 >= p95_rank THEN 4450.005949341245e0
                WHEN d74 >= p95_rank THEN 5291.978736761047e0
                WHEN d75 >= p95_rank THEN 6293.258766199348e0
                WHEN d76 >= p95_rank THEN 7483.988101317512e0
                WHEN d77 >= p95_rank THEN 8900.01189868249e0
                WHEN d78 >= p95_rank THEN 10583.957473522094e0
                WHEN d79 >= p95_rank THEN 12586.517532398697e0
                WHEN d80 >= p95_rank THEN 14967.976202635024e0
                WHEN d81 >= p95_rank THEN 17800.02379736498e0
                WHEN d82 >= p95_rank THEN 21167.914947044188e0
                WHEN d83 >= p95_rank THEN 25173.035064797394e0
                WHEN d84 >= p95_rank THEN 29935.952405270047e0
                WHEN d85 >= p95_rank THEN 35600.04759472996e0
                WHEN d86 >= p95_rank THEN 42335.829894088376e0
                WHEN d87 >= p95_rank THEN 50346.07012959479e0
                WHEN d88 >= p95_rank THEN 59871.904810540094e0
                ELSE duration_max
           END, duration_min), duration_max), 3)        AS p95_duration_s,
       ROUND(duration_max, 3)                           AS max_duration_s,
       ROUND(rss_sum / NULLIF(rss_count, 0))            AS avg_peak_rss_bytes,
       rss_max                                          AS max_peak_rss_bytes
FROM (
    SELECT job, host,
           SUM(runs)                    AS runs,
           SUM(successes)               AS successes,
           SUM(timed)                   AS timed,
           SUM(duration_sum)            AS duration_sum,
           MIN(duration_min)            AS duration_min,
           MAX(duration_max)            AS duration_max,
           SUM(rss_sum)                 AS rss_sum,
           SUM(rss_count)               AS rss_count,
           MAX(rss_max)                 AS rss_max,
           (95 * SUM(timed) + 99) DIV 100 AS p95_rank,
           SUM(d00) AS d00,
       SUM(d01) AS d01,
       SUM(d02) AS d02,
       SUM(d03) AS d03,
       SUM(d04) AS d04,
       SUM(d05) AS d05,
       SUM(d06) AS d06,
       SUM(d07) AS d07,
       SUM(d08) AS d08,
       SUM(d09) AS d09,
       SUM(d10) AS d10,
       SUM(d11) AS d11,
       SUM(d12) AS d12,
       SUM(d13) AS d13,
       SUM(d14) AS d14,
       SUM(d15) AS d15,
       SUM(d16) AS d16,
       SUM(d17) AS d17,
       SUM(d18) AS d18,
       SUM(d19) AS d19,
       SUM(d20) AS d20,
       SUM(d21) AS d21,
       SUM(d22) AS d22,
       SUM(d23) AS d23,
       SUM(d24) AS d24,
       SUM(d25) AS d25,
       SUM(d26) AS d26,
       SUM(d27) AS d27,
       SUM(d28) AS d28,
       SUM(d29) AS d29,
       SUM(d30) AS d30,
       SUM(d31) AS d31,
       SUM(d32) AS d32,
       SUM(d33) AS d33,
       SUM(d34) AS d34,
       SUM(d35) AS d35,
       SUM(d36) AS d36,
       SUM(d37) AS d37,
       SUM(d38) AS d38,
       SUM(d39) AS d39,
       SUM(d40) AS d40,
       SUM(d41) AS d41,
       SUM(d42) AS d42,
       SUM(d43) AS d43,
       SUM(d44) AS d44,
       SUM(d45) AS d45,
       SUM(d46) AS d46,
       SUM(d47) AS d47,
       SUM(d48) AS d48,
       SUM(d49) AS d49,
       SUM(d50) AS d50,
       SUM(d51) AS d51,
       SUM(d52) AS d52,
       SUM(d53) AS d53,
       SUM(d54) AS d54,
       SUM(d55) AS d55,
       SUM(d56) AS d56,
       SUM(d57) AS d57,
       SUM(d58) AS d58,
       SUM(d59) AS d59,
       SUM(d60) AS d60,
       SUM(d61) AS d61,
       SUM(d62) AS d62,
       SUM(d63) AS d63,
       SUM(d64) AS d64,
       SUM(d65) AS d65,
       SUM(d66) AS d66,
       SUM(d67) AS d67,
       SUM(d68) AS d68,
       SUM(d69) AS d69,
       SUM(d70) AS d70,
       SUM(d71) AS d71,
       SUM(d72) AS d72,
       SUM(d73) AS d73,
       SUM(d74) AS d74,
       SUM(d75) AS d75,
       SUM(d76) AS d76,
       SUM(d77) AS d77,
       SUM(d78) AS d78,
       SUM(d79) AS d79,
       SUM(d80) AS d80,
       SUM(d81) AS d81,
       SUM(d82) AS d82,
       SUM(d83) AS d83,
       SUM(d84) AS d84,
       SUM(d85) AS d85,
       SUM(d86) AS d86,
       SUM(d87) AS d87,
       SUM(d88) AS d88
    FROM smartcron_perf_daily
    WHERE day BETWEEN UTC_DATE() - INTERVAL 29 DAY AND UTC_DATE()
    GROUP BY job, host
) p;

CREATE OR REPLACE VIEW smartcron_v_job_health AS
SELECT u.job,
       u.host,
       MAX(u.state)            AS state,
       MAX(u.reason)           AS reason,
       MAX(u.last_status)      AS last_status,
       MAX(u.last_started_at)  AS last_started_at,
       MAX(u.last_success_at)  AS last_success_at,
       MAX(u.next_expected_at) AS next_expected_at,
       MAX(u.late_after_at)    AS late_after_at,
       MAX(u.missed_at)        AS missed_at,
       MAX(u.timezone)         AS timezone,
       MAX(u.breaker_state)    AS breaker_state,
       SUM(u.runs)             AS runs_24h,
       SUM(u.failures)         AS failures_24h
FROM (
    SELECT j.job, j.host, 1 AS known, j.state, j.state_reason AS reason, j.last_status,
           j.last_started_at, j.last_success_at, j.next_expected_at, j.late_after_at,
           j.missed_at, j.timezone, j.breaker_state, 0 AS runs, 0 AS failures
    FROM smartcron_jobs j
    UNION ALL
    SELECT h.job, h.host, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           SUM(h.runs), SUM(h.failures)
    FROM smartcron_run_hourly h FORCE INDEX (PRIMARY)
    WHERE h.epoch_hour
          >= TIMESTAMPDIFF(HOUR, '1970-01-01 00:00:00', UTC_TIMESTAMP(6) - INTERVAL 1 DAY) + 1
    GROUP BY h.job, h.host
    UNION ALL
    SELECT r.job, r.host, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           r.status NOT IN ('skipped_locked', 'skipped_breaker', 'skipped_paused'),
           r.status IN ('failed', 'timeout', 'killed_memory', 'error', 'lost')
    FROM smartcron_runs r FORCE INDEX (ix_runs_started)
    WHERE r.started_at >= UTC_TIMESTAMP(6) - INTERVAL 1 DAY
      AND r.started_at
          < DATE_FORMAT(UTC_TIMESTAMP(6) - INTERVAL 1 DAY, '%Y-%m-%d %H:00:00') + INTERVAL 1 HOUR
) u
GROUP BY u.job, u.host
HAVING MAX(u.known) = 1;

UPDATE smartcron_alembic_version SET version_num='0014' WHERE smartcron_alembic_version.version_num = '0013';

