"""Versioned migrations (Alembic) on MariaDB and SQLite: a v0.1.0 database is upgraded in
place with every row and view intact, comes out identical to a brand-new one, a second
migrate changes nothing, two at once are safe, and sql/ is what the migrations produce."""

from __future__ import annotations

import datetime as dt
import decimal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from smartcron.collector.db import migrate as migrations
from smartcron.collector.db import tables
from smartcron.collector.db.engine import create_db_engine, is_mysql
from smartcron.collector.db.migrate import SchemaError, check_schema, head_revision, migrate
from smartcron.collector.db.migrations.versions import v0020_run_totals as migration_0020
from smartcron.collector.db.offline import revision_sql_files
from smartcron.collector.db.scripts import split_statements
from smartcron.collector.state_store import evaluate_due
from smartcron.wrapper.schema import FAILED_STATUSES
from sqlalchemy import Engine, create_engine, text

from tests.support import v0_1_0
from tests.support.service import collector_bin

REPO = Path(__file__).resolve().parents[2]
NewEngine = Callable[[], Engine]


def engine_maker(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[NewEngine]:
    """Makes engines on brand-new, empty databases of one backend; drops them at the end."""
    made: list[tuple[Engine, Any]] = []

    def make() -> Engine:
        if backend == "sqlite":
            engine = create_db_engine(f"sqlite:///{tmp_path / f'db{len(made)}.db'}")
            made.append((engine, None))
            return engine
        server = request.getfixturevalue("mysql_server")
        url = server.create_database("smartcron_test_empty")
        engine = create_db_engine(url.render_as_string(hide_password=False))
        made.append((engine, lambda: server.drop_database(url)))
        return engine

    yield make
    for engine, drop in made:
        engine.dispose()
        if drop is not None:
            drop()


@pytest.fixture(params=["sqlite", "mysql"])
def new_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewEngine]:
    yield from engine_maker(request.param, request, tmp_path)


@pytest.fixture
def new_mysql_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewEngine]:
    yield from engine_maker("mysql", request, tmp_path)


# ---------------------------------------------------------------- what a database holds


def schema_of(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Tables, columns, indexes, triggers and views, as the server itself describes them."""
    with engine.connect() as connection:
        if not is_mysql(engine):
            rows = connection.exec_driver_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
            )
            return {"sqlite_master": [(*row[:3], " ".join((row[3] or "").split())) for row in rows]}
        database = connection.exec_driver_sql("SELECT DATABASE()").scalar_one()
        queries = {
            "tables": "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION "
            "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
            "columns": "SELECT TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, "
            "IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLLATION_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2",
            "indexes": "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE "
            "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2, 3",
            "triggers": "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, "
            "ACTION_TIMING, ACTION_STATEMENT FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1",
            "views": "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS "
            "WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
        }
        found = {}
        for name, query in queries.items():
            described = connection.exec_driver_sql(query).all()
            # A view's definition names its database: the two compared have different names.
            found[name] = [tuple(str(v).replace(database, "DB") for v in row) for row in described]
        return found


def rows_of(engine: Engine, table: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        result = connection.exec_driver_sql(f"SELECT * FROM {table}").mappings()
        rows = [{key: plain(value) for key, value in row.items()} for row in result]
    return sorted(rows, key=row_order)


def row_order(row: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((key, str(value)) for key, value in row.items())


def plain(value: Any) -> Any:
    """A value as both backends can agree on it: SQLite hands back text for times and
    0/1 for flags, MySQL datetimes, decimals and ints."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == " ":
        return dt.datetime.fromisoformat(value)
    return value


def data_of(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    return {table: rows_of(engine, table) for table in v0_1_0.sample_rows()}


def view(engine: Engine, name: str) -> list[dict[str, Any]]:
    return rows_of(engine, name)


# ---------------------------------------------------------------- the upgrade from v0.1.0


def expected_after_upgrade() -> dict[str, list[dict[str, Any]]]:
    """The v0.1.0 rows as the upgrade leaves them: the same, but a lost run's finished_at
    and duration (and the job's copy of them) are unknown now."""
    rows = v0_1_0.sample_rows()
    for run in rows["smartcron_runs"]:
        if run["status"] == "lost":
            run["finished_at"] = run["duration_s"] = None
    for job in rows["smartcron_jobs"]:
        if job["last_status"] == "lost":
            job["last_finished_at"] = job["last_duration_s"] = None
        # Revision 0005's columns: no zone yet (read as UTC), due for review at once.
        job.update(timezone=None, state="healthy", state_reason="", missed_at=None,
                   review_at=dt.datetime(2000, 1, 1))  # fmt: skip
        job["unlisted_at"] = None  # revision 0012's: no crontab list seen yet
        # Revision 0013's: nothing set, as a report before `expect` leaves a job.
        job.update(grace_s=None, min_duration_s=None, max_duration_s=None, alert_after=3,
                   in_flight_seen_at=None)  # fmt: skip
        # Revision 0019's: the newest failed run's start (a lost run is one), from the runs.
        failures = [run["started_at"] for run in rows["smartcron_runs"]
                    if (run["job"], run["host"]) == (job["job"], job["host"])
                    and run["status"] in FAILED_STATUSES]  # fmt: skip
        job["last_failure_at"] = max(failures, default=None)
    alerts = []
    for old in rows["smartcron_alerts"]:
        # Revision 0008: kind is the rule, the message the detail and the summary; an
        # alert an older collector left open is the open one of its rule, job and host.
        alert = dict(old, rule=old["kind"], detail=old["message"])
        del alert["kind"], alert["message"]
        alert.update(summary=alert["detail"][:255], instant=alert["opened_at"],
                     last_seen_at=alert["opened_at"], repeats=0, acknowledged_at=None,
                     acknowledged_by=None, resolved_by=None, silenced=None,
                     open_key=None if alert["resolved_at"] else 1)  # fmt: skip
        alerts.append(alert)
    rows["smartcron_alerts"] = alerts
    for token in rows["smartcron_tokens"]:
        token["host"] = None  # revision 0018: every existing token stays a fleet token
    return rows


def comparable(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Rows as written, in the form rows_of reads them back (flags are 0/1, sorted)."""
    out = {}
    for table, table_rows in rows.items():
        converted = [
            {key: int(value) if isinstance(value, bool) else value for key, value in row.items()}
            for row in table_rows
        ]
        out[table] = sorted(converted, key=row_order)
    return out


def without_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stripped = [{key: value for key, value in row.items() if key != "id"} for row in rows]
    return sorted(stripped, key=row_order)


def test_upgrade_from_v0_1_0_keeps_every_row_and_view(new_engine: NewEngine) -> None:
    engine = new_engine()
    v0_1_0.create_schema(engine)
    v0_1_0.load_rows(engine, v0_1_0.sample_rows())

    assert migrate(engine) == head_revision()

    found, expected = data_of(engine), comparable(expected_after_upgrade())
    found["smartcron_runs"] = without_ids(found["smartcron_runs"])
    expected["smartcron_runs"] = without_ids(expected["smartcron_runs"])
    for table in expected:
        assert found[table] == expected[table], table
    assert check_schema(engine) == head_revision()
    assert_views_after_upgrade(engine)
    assert_rollup_after_upgrade(engine)
    assert_totals_after_upgrade(engine)


def assert_totals_after_upgrade(engine: Engine) -> None:
    """Every run counted once into /metrics' totals (0020's fill), per job, host and
    status: (runs, timed, duration_us, le_1 .. le_43200). Lost runs have no duration
    since 0004 (not the 86,400 s v0.1.0 gave one), and a skip counts as a run only."""
    totals = {
        (row["job"], row["status"]): (row["runs"], row["timed"], row["duration_us"],
                                      [row[f"le_{b}"] for b in migration_0020.BUCKETS])
        for row in rows_of(engine, "smartcron_run_totals")
        if row["host"] == "web1"
    }  # fmt: skip
    assert totals == {
        ("backup", "success"): (2, 2, 6_000_000, [0] + [2] * 10),  # 2.5 s and 3.5 s
        ("backup", "failed"): (1, 1, 250_000, [1] * 11),
        ("backup", "lost"): (1, 0, 0, [0] * 11),
        ("report", "skipped_locked"): (1, 0, 0, [0] * 11),
        ("report", "lost"): (1, 0, 0, [0] * 11),
    }
    assert len(rows_of(engine, "smartcron_run_totals")) == len(totals)


def assert_rollup_after_upgrade(engine: Engine) -> None:
    """Each run counted once into the daily rollup (0009's fill; the run rollup of 0002 is
    gone since 0017): lost runs as runs and failures without a duration, skips apart."""
    day = v0_1_0.DAY.date()
    cells = {
        row["job"]: (row["runs"], row["successes"], row["failures"], row["skips"], row["timed"],
                     plain(row["duration_sum"]), row["duration_max"])
        for row in rows_of(engine, "smartcron_run_daily")
        if plain(row["day"]) in (day, day.isoformat())
    }  # fmt: skip
    assert cells == {"backup": (4, 2, 2, 0, 3, 6.25, 3.5), "report": (1, 0, 1, 1, 0, 0, None)}


def assert_views_after_upgrade(engine: Engine) -> None:
    performance = {row["job"]: row for row in view(engine, "smartcron_v_job_performance")}
    backup, report = performance["backup"], performance["report"]
    # The lost run is a run and a failure, but not a duration: 86,400 s are gone.
    assert (backup["runs"], backup["successes"]) == (4, 2)
    assert backup["avg_duration_s"] == pytest.approx((2.5 + 3.5 + 0.25) / 3, abs=1e-3)
    assert (backup["p95_duration_s"], backup["max_duration_s"]) == (3.5, 3.5)
    assert (report["runs"], report["successes"]) == (1, 0)
    assert report["avg_duration_s"] is report["p95_duration_s"] is report["max_duration_s"] is None

    trends = {row["job"]: row for row in view(engine, "smartcron_v_daily_trends")}
    assert trends["backup"]["max_duration_s"] == 3.5
    assert trends["backup"]["failures"] == 2
    assert trends["report"]["avg_duration_s"] is None
    assert trends["report"]["skipped"] == 1

    # Revision 0005 leaves every job due for review: the collector's first evaluation
    # pass decides and stores the states the view reads.
    assert evaluate_due(engine, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)) == 3
    health = {row["job"]: row["state"] for row in view(engine, "smartcron_v_job_health")}
    assert health == {"backup": "failing", "report": "paused", "tidy": "healthy"}
    failures = view(engine, "smartcron_v_recent_failures")
    assert sorted(
        (row["status"], row["duration_s"]) for row in failures if row["job"] == "backup"
    ) == [
        ("failed", 0.25),
        ("lost", None),
    ]
    assert [row["id"] for row in view(engine, "smartcron_v_active_alerts")] == [7]


def test_0013_gives_a_0012_job_the_default_alert_options(new_engine: NewEngine) -> None:
    """A database the previous collector left (at 0012, head of main before the alert
    options): its job keeps every value, and reads as a line that set no option."""
    engine = new_engine()
    assert migrate(engine, to="0012") == "0012"
    seen = dt.datetime(2030, 6, 10, 9, 0)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO smartcron_jobs (job, host, schedule, priority, command, "
                 "first_seen_at, breaker_state, paused) VALUES ('nightly', 'web1', "
                 "'0 2 * * *', 2, 'backup.sh', :seen, 'closed', 0)"),
            {"seen": seen},
        )  # fmt: skip

    assert migrate(engine, to="0013") == "0013"

    [job] = rows_of(engine, "smartcron_jobs")
    kept = (job["job"], job["schedule"], job["priority"], job["first_seen_at"])
    assert kept == ("nightly", "0 2 * * *", 2, seen)
    options = ("grace_s", "min_duration_s", "max_duration_s", "alert_after", "in_flight_seen_at")
    assert tuple(job[name] for name in options) == (None, None, None, 3, None)


def test_0019_fills_each_jobs_newest_failure_not_dated_ahead(new_engine: NewEngine) -> None:
    """From the runs an 0018 database holds: the newest failure (a lost run is one) of
    each job, but none a wrong clock dated ahead of now (it would keep its job degraded
    until then: only a later failure replaces the column)."""
    engine = new_engine()
    assert migrate(engine, to="0018") == "0018"
    day = dt.datetime(2026, 3, 1, 2, 0)
    runs = [("nightly", "failed", day), ("nightly", "lost", day + dt.timedelta(days=1)),
            ("nightly", "success", day + dt.timedelta(days=2)),
            ("skewed", "failed", day), ("skewed", "timeout", dt.datetime(2031, 6, 1)),
            ("fine", "success", day)]  # fmt: skip
    with engine.begin() as connection:
        for job in ("nightly", "skewed", "fine"):
            connection.execute(
                text("INSERT INTO smartcron_jobs (job, host, priority, command, first_seen_at,"
                     " breaker_state, paused) VALUES (:job, 'web1', 5, 'x', :day, 'closed', 0)"),
                {"job": job, "day": day},
            )  # fmt: skip
        for n, (job, status, started) in enumerate(runs):
            row = v0_1_0.run_row(f"00000000-0000-4000-8000-{n:012d}", job, status, started, 1.0)
            connection.execute(tables.runs.insert().values(**row))

    assert migrate(engine, to="0019") == "0019"

    found = {row["job"]: row["last_failure_at"] for row in rows_of(engine, "smartcron_jobs")}
    assert found == {"nightly": day + dt.timedelta(days=1), "skewed": day, "fine": None}


def test_a_second_migrate_changes_nothing(new_engine: NewEngine) -> None:
    engine = new_engine()
    v0_1_0.create_schema(engine)
    v0_1_0.load_rows(engine, v0_1_0.sample_rows())
    migrate(engine)
    before = (schema_of(engine), data_of(engine), rows_of(engine, "smartcron_run_daily"))

    assert migrate(engine) == head_revision()

    assert (schema_of(engine), data_of(engine), rows_of(engine, "smartcron_run_daily")) == before
    assert rows_of(engine, "smartcron_alembic_version") == [{"version_num": head_revision()}]


def test_a_new_database_is_identical_to_an_upgraded_one(new_engine: NewEngine) -> None:
    fresh, upgraded = new_engine(), new_engine()
    migrate(fresh)
    v0_1_0.create_schema(upgraded)
    migrate(upgraded)

    assert schema_of(upgraded) == schema_of(fresh)


def test_a_version_1_database_is_adopted_and_gets_its_rollup(new_engine: NewEngine) -> None:
    engine = new_engine()
    v0_1_0.create_schema(engine, version=1)
    v0_1_0.load_rows(engine, v0_1_0.sample_rows())  # nothing counts them at version 1

    migrate(engine)

    assert_rollup_after_upgrade(engine)
    assert_totals_after_upgrade(engine)
    assert schema_of(engine) == schema_of(migrated(new_engine()))


def migrated(engine: Engine) -> Engine:
    migrate(engine)
    return engine


def test_two_migrations_at_once_are_one(new_engine: NewEngine) -> None:
    # Two replicas starting together: one migrates, the other waits for its lock and
    # then finds nothing to do. Without the lock both create the tables, and one fails.
    engine, twin = new_engine(), None
    v0_1_0.create_schema(engine)
    v0_1_0.load_rows(engine, v0_1_0.sample_rows())
    twin = create_db_engine(engine.url.render_as_string(hide_password=False))
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def run(target: Engine) -> None:
        start.wait()
        try:
            outcomes.append(migrate(target))
        except Exception as error:  # noqa: BLE001 - the test reports whatever it was
            outcomes.append(error)

    threads = [threading.Thread(target=run, args=(e,)) for e in (engine, twin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    twin.dispose()

    assert outcomes == [head_revision()] * 2
    assert rows_of(engine, "smartcron_alembic_version") == [{"version_num": head_revision()}]
    assert_rollup_after_upgrade(engine)  # counted once, not twice
    assert_totals_after_upgrade(engine)


def test_migrate_waits_for_the_lock_no_longer_than_told(new_mysql_engine: NewEngine) -> None:
    # SQLite's lock is its own write lock: test_two_migrations_at_once_are_one.
    engine = new_mysql_engine()
    name = migrations.lock_name(str(engine.url.database))
    with engine.connect() as holder:
        holder.execute(text("SELECT GET_LOCK(:name, 0)"), {"name": name})
        with pytest.raises(SchemaError, match=r"another migrate has held the lock .* for 1 s"):
            migrate(engine, lock_wait_s=1)
        holder.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
    assert migrate(engine, lock_wait_s=1) == head_revision()


def test_another_databases_migration_does_not_hold_this_one_up(
    new_mysql_engine: NewEngine,
) -> None:
    # GET_LOCK is server-wide: the lock is per database, or a collector migrating one
    # database would keep every other database's collector on that server waiting.
    engine, other = new_mysql_engine(), new_mysql_engine()
    with other.connect() as holder:
        holder.execute(
            text("SELECT GET_LOCK(:name, 0)"),
            {"name": migrations.lock_name(str(other.url.database))},
        )
        assert migrate(engine, lock_wait_s=1) == head_revision()


def test_a_long_database_name_still_makes_a_valid_lock_name() -> None:
    long_name = "d" * 64
    assert len(migrations.lock_name(long_name)) <= 64
    assert migrations.lock_name(long_name) != migrations.lock_name("d" * 63 + "e")
    assert migrations.lock_name("smartcron") == "smartcron.migrate:smartcron"


def test_migrate_outlasts_the_pools_read_timeout(new_mysql_engine: NewEngine) -> None:
    # A rollup rebuild of a million runs outlasts the pool's 30 s read timeout, which would
    # end it (and roll it back) each time: migrate uses a connection of its own. Here a
    # pool with a 1 s timeout, and a revision kept waiting 3 s by a table lock.
    engine = new_mysql_engine()
    v0_1_0.create_schema(engine)
    impatient = create_engine(engine.url, connect_args={"read_timeout": 1})
    holder = engine.connect()
    holder.exec_driver_sql("LOCK TABLES smartcron_runs READ")
    release = threading.Timer(3, lambda: holder.exec_driver_sql("UNLOCK TABLES"))
    release.start()
    began = time.monotonic()
    try:
        assert migrate(impatient) == head_revision()
    finally:
        release.join()
        holder.close()
        impatient.dispose()
    assert time.monotonic() - began >= 2.5, "the lock did not hold migrate up: proved nothing"


# ---------------------------------------------------------------- check_schema


def test_check_schema_says_what_to_run(new_engine: NewEngine) -> None:
    engine = new_engine()
    with pytest.raises(
        SchemaError, match=r"no smartcron schema; run `smartcron-collector migrate`"
    ):
        check_schema(engine)
    v0_1_0.create_schema(engine)
    with pytest.raises(
        SchemaError, match=r"schema of smartcron 0\.1\.0; run `smartcron-collector migrate`"
    ):
        check_schema(engine)
    migrate(engine)

    def stamp(revision: str) -> None:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE smartcron_alembic_version SET version_num = :r"), {"r": revision}
            )

    stamp("0003")
    with pytest.raises(
        SchemaError, match=rf"revision 0003, this collector needs {head_revision()}"
    ):
        check_schema(engine)
    stamp("9999")
    with pytest.raises(SchemaError, match=r"revision 9999, which this collector does not know"):
        check_schema(engine)


# ---------------------------------------------------------------- sql/


def test_sql_files_are_what_the_migrations_produce() -> None:
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in (REPO / "sql").glob("*.sql")}
    generated = revision_sql_files()
    assert sorted(on_disk) == sorted(generated), "run scripts/generate-sql"
    for name, sql in generated.items():
        assert on_disk[name] == sql, (
            f"sql/{name} differs from the migrations: run scripts/generate-sql"
        )


def test_sql_files_at_the_mysql_client_build_the_migrated_schema(
    new_mysql_engine: NewEngine,
) -> None:
    by_hand = new_mysql_engine()
    raw = by_hand.raw_connection()
    try:
        cursor = raw.cursor()
        for path in sorted((REPO / "sql").glob("*.sql")):
            for statement in split_statements(path.read_text(encoding="utf-8")):
                cursor.execute(statement)
        raw.commit()
    finally:
        raw.close()

    assert schema_of(by_hand) == schema_of(migrated(new_mysql_engine()))
    assert check_schema(by_hand) == head_revision()


# ---------------------------------------------------------------- the command line


def collector(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [collector_bin(), *args], capture_output=True, text=True, check=False, timeout=120
    )


def test_migrate_and_its_old_name_init_db_upgrade_a_v0_1_0_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'collector.db'}"
    engine = create_db_engine(url)
    v0_1_0.create_schema(engine)
    v0_1_0.load_rows(engine, v0_1_0.sample_rows())

    done = collector("init-db", "--db", url)  # what v0.1.0's deploy scripts run

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"schema at revision {head_revision()} in {url}\n"
    assert check_schema(engine) == head_revision()
    again = collector("migrate", "--db", url)
    assert (again.returncode, again.stdout) == (0, done.stdout)
    assert len(rows_of(engine, "smartcron_runs")) == len(v0_1_0.sample_rows()["smartcron_runs"])
    engine.dispose()


def test_migrate_sql_prints_the_ddl_of_sql(tmp_path: Path) -> None:
    everything = collector("migrate", "--sql")
    assert everything.returncode == 0, everything.stderr
    files = revision_sql_files()
    for name, sql in files.items():
        body = sql[sql.index("\n\n") + 2 :]  # after the file's own header
        assert body in everything.stdout, name
    before_latest, latest = sorted(files)[-2:]
    since = collector("migrate", "--sql", "--from", before_latest[:4])
    assert since.stdout == files[latest][files[latest].index("\n\n") + 2 :]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sql", "--from", "0999"], "--from"),
        (["--from", "0003"], "--from goes with --sql"),
    ],
)
def test_migrate_refuses_a_bad_option_in_one_line(args: list[str], message: str) -> None:
    done = collector("migrate", *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
