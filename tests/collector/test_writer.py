"""Group commit (collector/writer.py) on both backends: concurrent requests share
transactions and each still gets its own counts, and its own errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any

import pymysql
import pytest
from smartcron.collector import ingest
from smartcron.collector.app import database_answer
from smartcron.collector.db import tables
from smartcron.collector.ingest import Stored, ingest_reports, store_batches
from smartcron.collector.writer import GroupWriter
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.collector.conftest import clear_tables
from tests.support.service import free_port, make_report

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
# The collector's clock in these tests: a day after T0, so that no report is ahead of it.
RECEIVED = dt.datetime(2030, 1, 2, 12, 0)


def writer_at(engine: Engine, **kwargs: Any) -> GroupWriter:
    """A GroupWriter whose clock says RECEIVED."""
    return GroupWriter(engine, clock=lambda: RECEIVED, **kwargs)


def ok(accepted: int = 0, duplicates: int = 0) -> Stored:
    return Stored(accepted, duplicates)


def report(job: str = "sync", minutes: int = 0, **kwargs: Any) -> RunReport:
    started = T0 + dt.timedelta(minutes=minutes)
    return RunReport.model_validate(make_report(job, started=started, **kwargs))


def stored_runs(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(tables.runs)).scalar_one())


def submit_together(writer: GroupWriter, requests: Sequence[Sequence[RunReport]]) -> list[Any]:
    """All requests reach the writer in one turn of the event loop, as a burst does."""

    async def burst() -> list[Any]:
        return await asyncio.gather(
            *(writer.ingest(reports) for reports in requests), return_exceptions=True
        )

    return asyncio.run(burst())


class CountingGroups:
    """Records the groups store_batches is called with (the real function runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        real = store_batches

        def counting(engine: Engine, batches: Sequence[Sequence[RunReport]], *rest: Any) -> Any:
            self.sizes.append(len(batches))
            return real(engine, batches, *rest)

        monkeypatch.setattr("smartcron.collector.writer.store_batches", counting)


def test_a_burst_of_single_reports_is_written_in_few_transactions(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = CountingGroups(monkeypatch)
    requests = [[report(f"job{n}")] for n in range(40)]

    answers = submit_together(writer_at(engine, max_writers=1), requests)

    assert answers == [ok(1)] * 40
    assert stored_runs(engine) == 40
    # All forty were waiting when the writer first ran: one transaction for them all.
    assert groups.sizes == [40]


def test_requests_that_arrive_during_a_write_go_together_in_the_next(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = CountingGroups(monkeypatch)
    writer = writer_at(engine, max_writers=1)

    async def two_waves() -> list[Any]:
        first = asyncio.ensure_future(writer.ingest([report("first")]))
        await asyncio.sleep(0)  # the writer has taken "first" and is writing it
        later = [writer.ingest([report(f"later{n}")]) for n in range(5)]
        return await asyncio.gather(first, *later)

    assert asyncio.run(two_waves()) == [ok(1)] * 6
    assert groups.sizes == [1, 5]


def test_a_run_sent_twice_in_one_group_is_accepted_once_the_first_time(engine: Engine) -> None:
    shared = report("shared")
    requests = [[report("a")], [shared, report("b")], [shared], [shared, shared]]

    answers = submit_together(writer_at(engine, max_writers=1), requests)

    assert answers == [ok(1), ok(2), ok(0, 1), ok(0, 2)]
    assert stored_runs(engine) == 3


def test_a_group_holding_runs_stored_before_counts_exactly_per_request(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = [report("old", minutes=n) for n in range(3)]
    assert ingest_reports(engine, old, received_at=RECEIVED) == ok(3)
    groups = CountingGroups(monkeypatch)
    fresh = report("fresh")
    requests = [[report("first")], [old[0], fresh], old, [report("new")]]

    answers = submit_together(writer_at(engine, max_writers=1), requests)

    assert answers == [ok(1), ok(1, 1), ok(0, 3), ok(1)]
    assert groups.sizes == [4]  # one transaction: the read said which runs were stored
    assert stored_runs(engine) == 3 + 3


def test_a_value_that_does_not_fit_fails_only_its_own_request(mysql_engine: Engine) -> None:
    # MySQL only: SQLite stores a string of any length in a VARCHAR column.
    engine = mysql_engine
    clear_tables(engine)
    # Past validation on purpose, as a bug in a bound could let one through.
    too_long = report("too_long").model_copy(update={"host": "h" * 300})
    requests = [[report("a")], [report("b")], [too_long], [report("c")]]

    answers = submit_together(writer_at(engine, max_writers=1), requests)

    assert answers[:2] == [ok(1), ok(1)] and answers[3] == ok(1)
    assert answers[2].accepted == 0 and "does not fit" in answers[2].refused[0]
    assert stored_runs(engine) == 3


def test_a_value_that_does_not_fit_refuses_only_its_report(mysql_engine: Engine) -> None:
    engine = mysql_engine
    clear_tables(engine)
    too_long = report("too_long").model_copy(update={"host": "h" * 300})
    requests = [[report("a"), too_long, report("b")], [report("c")]]

    answers = submit_together(writer_at(engine, max_writers=1), requests)

    assert (answers[0].accepted, answers[0].duplicates) == (2, 0)
    assert list(answers[0].refused) == [1] and "does not fit" in answers[0].refused[1]
    assert answers[1] == ok(1)
    assert stored_runs(engine) == 3


def test_a_run_stored_twice_at_once_is_a_race_not_a_fault() -> None:
    # The unique run_id refusing an insert means another request stored it first: the
    # transaction is done again (it is no value that does not fit).
    duplicate = pymysql.err.IntegrityError(1062, "Duplicate entry 'x' for key 'uq_runs_run_id'")
    unique = sqlite3.IntegrityError("UNIQUE constraint failed: smartcron_runs.run_id")
    missing = sqlite3.IntegrityError("NOT NULL constraint failed: smartcron_runs.job")
    for cause in (duplicate, unique):  # as the driver raises it, and as SQLAlchemy wraps it
        assert not ingest.is_request_fault(cause)
        assert not ingest.is_request_fault(IntegrityError("INSERT ...", {}, cause))
    assert ingest.is_request_fault(IntegrityError("INSERT ...", {}, missing))


def test_every_request_of_a_group_hears_that_the_database_is_away() -> None:
    away = create_engine(f"mysql+pymysql://root@127.0.0.1:{free_port()}/none",
                         connect_args={"connect_timeout": 2})  # fmt: skip
    answers = submit_together(writer_at(away, max_writers=1), [[report(f"j{n}")] for n in range(5)])
    assert all(isinstance(answer, OperationalError) for answer in answers)


def test_the_writer_keeps_working_after_a_failed_group(engine: Engine) -> None:
    writer = writer_at(engine, max_writers=2)
    first = submit_together(writer, [[report(f"a{n}")] for n in range(10)])
    second = submit_together(writer, [[report(f"b{n}")] for n in range(10)])
    assert first == second == [ok(1)] * 10
    assert stored_runs(engine) == 20


def test_an_empty_request_touches_nothing(engine: Engine) -> None:
    assert submit_together(writer_at(engine), [[]]) == [ok()]


def test_a_request_right_after_the_last_write_finds_a_writer(engine: Engine) -> None:
    writer = writer_at(engine, max_writers=1)

    async def back_to_back() -> Stored:
        await writer.ingest([report("first")])
        # Resumed in the turn in which the writer finished (awaited inline: a new task
        # would start a turn later): it must start another writer, not wait forever.
        return await writer.ingest([report("second")])

    assert asyncio.run(asyncio.wait_for(back_to_back(), timeout=10)) == ok(1)


def test_the_biggest_memory_figures_the_schema_allows_add_up(engine: Engine) -> None:
    # Two runs of one job, day and duration at the schema's limit: the rollup's memory
    # sum must hold them (a BIGINT overflowed, and failed every batch near it).
    huge = [report("hog", minutes=n, peak_rss_bytes=2**62) for n in range(3)]
    answers = submit_together(writer_at(engine, max_writers=1), [[huge[0]], huge[1:]])
    assert answers == [ok(1), ok(2)]


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        (pymysql.err.OperationalError(1690, "BIGINT value is out of range"), True),
        (pymysql.err.OperationalError(1264, "Out of range value for column"), True),
        (pymysql.err.DataError(1406, "Data too long for column 'host'"), True),
        (sqlite3.DataError("string or blob too big"), True),
        (pymysql.err.OperationalError(2013, "Lost connection to server"), False),
        (pymysql.err.OperationalError(1213, "Deadlock found"), False),
    ],
)
def test_values_that_do_not_fit_are_the_request_s_fault(error: Exception, fault: bool) -> None:
    assert ingest.is_request_fault(error) is fault
    assert database_answer(error).status_code == (422 if fault else 503)


def test_the_copy_stored_is_the_copy_counted_as_accepted(engine: Engine) -> None:
    shared = report("shared", duration_s=1.0)
    later = shared.model_copy(update={"duration_s": 2.0})  # same run_id, other figures
    answers = submit_together(writer_at(engine, max_writers=1), [[shared], [later]])
    assert answers == [ok(1), ok(0, 1)]
    with engine.connect() as connection:
        stored = connection.execute(select(tables.runs.c.duration_s)).scalar_one()
    assert stored == 1.0
