-- smartcron revision 0017: No trigger on smartcron_runs: ingest writes the aggregates of its runs, by batch.
-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's
-- offline mode); do not edit. Apply in order at the mysql client, e.g.
--   mysql smartcron < sql/0017_ingest_aggregates.sql
-- or let `smartcron-collector migrate` do it all, rollup rebuild included.

-- Running upgrade 0016 -> 0017

DROP TRIGGER IF EXISTS smartcron_runs_rollup;

DROP TRIGGER IF EXISTS smartcron_runs_hourly;

DROP TRIGGER IF EXISTS smartcron_runs_host_hourly;

DROP TRIGGER IF EXISTS smartcron_runs_daily;

DROP TRIGGER IF EXISTS smartcron_runs_perf_daily;

DROP TRIGGER IF EXISTS smartcron_runs_recent_failures;

DROP INDEX ix_rollup_job_day ON smartcron_run_rollup;

DROP TABLE smartcron_run_rollup;

UPDATE smartcron_alembic_version SET version_num='0017' WHERE smartcron_alembic_version.version_num = '0016';

