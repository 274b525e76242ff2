"""rows_by_job_key: the jobs rows of (job, host) keys, typed as Core types them."""

from __future__ import annotations

import datetime as dt

import pytest
from smartcron.collector.db import tables
from smartcron.collector.db.keys import rows_by_job_key
from smartcron.collector.ingest import ingest_reports
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, select

from tests.support.service import make_report


def test_the_rows_of_the_keys_asked_come_in_key_order_typed_as_core_reads_them(
    engine: Engine,
) -> None:
    reports = [RunReport.model_validate(make_report(job=job, host=host))
               for job, host in [("b", "web1"), ("a", "web2"), ("a", "web1")]]  # fmt: skip
    ingest_reports(engine, reports)
    j = tables.jobs.c
    columns = [j.job, j.host, j.paused, j.last_started_at, j.grace_s]
    keys = [("a", "web1"), ("b", "web1"), ("zz", "nowhere")]
    with engine.connect() as connection:
        found = rows_by_job_key(connection, columns, keys)
        core = [dict(row) for row in connection.execute(
            select(*columns).where(j.job.in_(["a", "b"]), j.host == "web1").order_by(j.job)
        ).mappings()]  # fmt: skip
        assert rows_by_job_key(connection, columns, []) == []
    assert [(row["job"], row["host"]) for row in found] == [("a", "web1"), ("b", "web1")]
    assert found == core
    assert found[0]["paused"] is False  # Core's bool, not the driver's 0
    assert isinstance(found[0]["last_started_at"], dt.datetime)


def test_keys_over_a_statement_s_worth_are_read_in_several_and_come_in_key_order(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smartcron.collector.db import keys as db_keys

    pairs = [("c", "web1"), ("a", "web1"), ("b", "web2")]
    ingest_reports(engine, [RunReport.model_validate(make_report(job=j, host=h)) for j, h in pairs])
    monkeypatch.setattr(db_keys, "KEYS_PER_QUERY", 2)
    with engine.connect() as connection:
        found = rows_by_job_key(connection, [tables.jobs.c.job, tables.jobs.c.host], pairs * 2)
    assert [(row["job"], row["host"]) for row in found] == sorted(pairs)
