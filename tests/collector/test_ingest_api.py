"""POST /api/v1/runs against the real service on SQLite and MySQL: counts, idempotency
(also under concurrent replays), the limits, every error status, and each report of a
batch judged on its own (tests/collector/test_ingest_results.py has more of that)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from smartcron.collector.db import tables
from sqlalchemy import Engine, delete, select

from tests.support.collector_api import answered, assert_error, assert_rejected, count_rows
from tests.support.service import Service, make_report

MIB = 1024 * 1024


def post_raw(service: Service, body: Any, **headers: str) -> requests.Response:
    return requests.post(
        f"{service.url}/api/v1/runs",
        data=body,
        headers={"Authorization": f"Bearer {service.ingest_token}", **headers},
        timeout=60,
    )


def stored_run_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(tables.runs.c.run_id)).scalars())


# ---------------------------------------------------------------- accepted and duplicates


def test_a_batch_is_accepted_and_stored(collector: Service, schema_engine: Engine) -> None:
    batch = [make_report("vend_sync"), make_report("backup", host="db1", status="failed")]
    answer = collector.post_runs(batch)
    assert answer.status_code == 200, answer.text
    assert answer.json() == answered(2, 0)
    assert sorted(stored_run_ids(schema_engine)) == sorted(r["run_id"] for r in batch)
    assert count_rows(schema_engine, tables.run_output) == 2
    assert count_rows(schema_engine, tables.jobs) == 2


def test_a_replayed_batch_inserts_nothing_twice(collector: Service, schema_engine: Engine) -> None:
    batch = [make_report("vend_sync") for _ in range(5)]
    assert collector.post_runs(batch).json() == answered(5, 0)
    assert collector.post_runs(batch).json() == answered(0, 5)
    # Half old, half new: only the new ones count.
    mixed = batch[:2] + [make_report("vend_sync") for _ in range(3)]
    assert collector.post_runs(mixed).json() == answered(3, 2)
    assert count_rows(schema_engine, tables.runs) == 8
    assert count_rows(schema_engine, tables.run_output) == 8


def test_a_run_repeated_inside_one_batch_counts_once(
    collector: Service, schema_engine: Engine
) -> None:
    report = make_report("vend_sync")
    assert collector.post_runs([report, report]).json() == answered(1, 1)
    assert stored_run_ids(schema_engine) == [report["run_id"]]


def test_an_empty_batch_is_fine(collector: Service) -> None:
    assert collector.post_runs([]).json() == answered()


@pytest.mark.parametrize("order", ["same", "shuffled"])
def test_concurrent_replays_insert_each_run_exactly_once(
    collector: Service, schema_engine: Engine, order: str
) -> None:
    batch = [make_report(f"job{i % 7}", host=f"web{i % 3}") for i in range(100)]

    def replay(seed: int) -> requests.Response:
        # Shuffled, each sender holds the same runs in its own order (as agents on a
        # retry would): a lock order that follows the body would deadlock.
        runs = random.Random(seed).sample(batch, len(batch)) if order == "shuffled" else batch
        body = json.dumps({"runs": runs})
        return post_raw(collector, body, **{"Content-Type": "application/json"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(replay, range(8)))
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    counts = [a.json() for a in answers]
    assert sum(c["accepted"] for c in counts) == 100, counts
    assert sum(c["duplicates"] for c in counts) == 700, counts
    ids = stored_run_ids(schema_engine)
    assert len(ids) == 100 and set(ids) == {r["run_id"] for r in batch}
    assert count_rows(schema_engine, tables.run_output) == 100
    assert count_rows(schema_engine, tables.jobs) == 21  # 7 jobs x 3 hosts


def test_fields_this_collector_does_not_know_are_ignored(
    collector: Service, schema_engine: Engine
) -> None:
    # A newer wrapper reporting to an older collector: what it knows is stored.
    report = make_report(stdout="done\n") | {"cgroup": {"path": "/system.slice/x"}}
    report["attempts"][0]["pressure"] = 0.25
    answer = post_raw(collector, json.dumps({"runs": [report], "agent": "0.9"}))
    assert answer.json() == answered(1), answer.text
    stored = collector.get(f"/api/v1/runs/{report['run_id']}").json()
    assert (stored["job"], stored["stdout_tail"]) == (report["job"], "done\n")
    assert "cgroup" not in stored and "pressure" not in stored["attempts"][0]


# ---------------------------------------------------------------- limits


def test_more_than_1000_reports_is_413(collector: Service, schema_engine: Engine) -> None:
    report = make_report("vend_sync")
    batch = [{**report, "run_id": f"00000000-0000-4000-8000-{i:012d}"} for i in range(1001)]
    assert_error(collector.post_runs(batch), 413, "1001", "1000")
    assert count_rows(schema_engine, tables.runs) == 0
    # 1,000 is still fine.
    assert collector.post_runs(batch[:1000]).json() == answered(1000, 0)


def oversized_body() -> bytes:
    """Valid JSON, one report, over 5 MiB: only the size is wrong with it."""
    padding = "x" * (5 * MIB)
    return json.dumps({"runs": [make_report(stdout="ok")], "padding": padding}).encode()


def test_a_body_over_5_mib_is_413(collector: Service, schema_engine: Engine) -> None:
    answer = post_raw(collector, oversized_body(), **{"Content-Type": "application/json"})
    assert_error(answer, 413, str(5 * MIB))
    assert count_rows(schema_engine, tables.runs) == 0


def test_a_chunked_body_over_5_mib_is_413(collector: Service, schema_engine: Engine) -> None:
    body = oversized_body()

    def chunks() -> Iterator[bytes]:  # a generator: requests sends it chunked
        for start in range(0, len(body), 256 * 1024):
            yield body[start : start + 256 * 1024]

    answer = post_raw(collector, chunks(), **{"Content-Type": "application/json"})
    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in answer.request.headers
    assert_error(answer, 413, str(5 * MIB))
    assert count_rows(schema_engine, tables.runs) == 0


def test_a_chunked_body_under_the_limit_is_accepted(collector: Service) -> None:
    body = json.dumps({"runs": [make_report() for _ in range(3)]}).encode()
    answer = post_raw(collector, iter([body[:100], body[100:]]))
    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert answer.status_code == 200, answer.text
    assert answer.json() == answered(3, 0)


# ---------------------------------------------------------------- malformed and invalid


@pytest.mark.parametrize(
    "body", [b'{"runs": [', b"not json", b"\xff\xfe{}", b""], ids=["cut", "text", "bytes", "empty"]
)
def test_malformed_json_is_400(collector: Service, body: bytes) -> None:
    assert_error(post_raw(collector, body), 400, "JSON")


@pytest.mark.parametrize(
    "body", [b"[]", b'{"reports": []}', b'{"runs": {}}', b"42"], ids=["list", "key", "obj", "num"]
)
def test_a_body_without_a_runs_list_is_422(collector: Service, body: bytes) -> None:
    assert_error(post_raw(collector, body), 422, "runs")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"exit_code": "zero"}, "runs[0].exit_code"),
        ({"status": "exploded"}, "runs[0].status"),
        ({"run_id": "not-a-uuid"}, "runs[0].run_id"),
        ({"job": "no spaces allowed"}, "runs[0].job"),
        ({"started_at": "yesterday"}, "runs[0].started_at"),
        ({"priority": 11}, "runs[0].priority"),
        ({"schema": 2}, "runs[0].schema"),
        ({"attempts": [{"status": "success"}]}, "runs[0].attempts.0"),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else "",
)
def test_a_schema_error_is_422_naming_the_field(
    collector: Service, change: dict[str, Any], field: str
) -> None:
    report = make_report() | change
    [rejected] = assert_rejected(collector.post_runs([report]), 422, {0: (field,)})
    # A run_id that is no UUID cannot be given back: null.
    assert rejected["run_id"] == (None if "run_id" in change else report["run_id"])


@pytest.mark.parametrize(
    "literal", ["NaN", "Infinity", "-Infinity", "1e400"], ids=["nan", "inf", "-inf", "1e400"]
)
def test_numbers_no_column_can_hold_are_400(
    collector: Service, schema_engine: Engine, literal: str
) -> None:
    body = json.dumps({"runs": [make_report(duration_s=1.5)]})
    body = body.replace('"duration_s": 1.5', f'"duration_s": {literal}')
    assert literal in body
    assert_error(post_raw(collector, body), 400, "JSON")
    assert count_rows(schema_engine, tables.runs) == 0


def test_deeply_nested_json_is_400_not_a_crash(collector: Service) -> None:
    assert_error(post_raw(collector, b"[" * 100_000), 400, "JSON")
    assert_error(post_raw(collector, b'{"runs": ' + b"[" * 100_000), 400, "JSON")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"exit_code": 2**70}, id="exit_code"),
        pytest.param({"duration_s": 1e300}, id="duration_s"),
        pytest.param({"started_at": "9999-12-31T23:59:59.000000Z",
                      "finished_at": "9999-12-31T23:59:59.000000Z"}, id="started_at"),
        pytest.param({"priority": 0}, id="priority"),
        pytest.param({"signal": 65}, id="signal"),
    ],
)  # fmt: skip
def test_values_out_of_range_are_422(
    collector: Service, schema_engine: Engine, change: dict[str, Any]
) -> None:
    answer = collector.post_runs([make_report(schedule="*/5 * * * *") | change])
    assert_rejected(answer, 422, {0: (f"runs[0].{next(iter(change))}",)})
    assert count_rows(schema_engine, tables.runs) == 0


def test_a_report_at_the_schemas_limits_is_stored_whole(collector: Service) -> None:
    report = make_report(stdout="\U0001f600" * 131_072, stderr="é" * 131_072)
    report["command"] = "é" * 65_536
    answer = collector.post_runs([report])
    assert answer.status_code == 200, answer.text[:300]
    stored = collector.get(f"/api/v1/runs/{report['run_id']}").json()
    assert stored["command"] == report["command"]
    assert stored["stdout_tail"] == report["stdout_tail"]
    assert stored["stderr_tail"] == report["stderr_tail"]


@contextlib.contextmanager
def command_columns_as_text(
    engine: Engine, tables_: tuple[str, ...] = ("smartcron_runs", "smartcron_jobs")
) -> Iterator[None]:
    """MySQL's command columns as TEXT (65,535 bytes), as in a database created before
    they became MEDIUMTEXT (init-db creates, it does not alter); put back at the end."""
    with engine.begin() as connection:
        for table in tables_:
            connection.exec_driver_sql(f"ALTER TABLE {table} MODIFY command TEXT NOT NULL")
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(delete(tables.run_output))
            connection.execute(delete(tables.runs))
            connection.execute(delete(tables.jobs))
            for table in tables_:
                connection.exec_driver_sql(
                    f"ALTER TABLE {table} MODIFY command MEDIUMTEXT NOT NULL"
                )


def test_a_value_the_database_cannot_hold_is_not_retry_later(
    collector: Service, schema_engine: Engine
) -> None:
    # 503 would have the sender retry it forever; 200 for a value cut short loses it. It
    # is that report's rejection alone: the others of its batch are stored.
    now = dt.datetime.now(dt.timezone.utc)
    long_command = "é" * 65_536  # the schema's limit: 131,072 bytes in UTF-8
    alone = make_report(started=now - dt.timedelta(hours=2)) | {"command": long_command}
    # The older run's command goes only into smartcron_runs (the job's row takes the newer).
    older = make_report(started=now - dt.timedelta(hours=1)) | {"command": long_command}
    newer = make_report(started=now - dt.timedelta(minutes=1))
    if schema_engine.dialect.name == "sqlite":
        # SQLite's TEXT has no length limit: there is no such value, and it is all stored.
        for batch in ([alone], [older, newer]):
            answer = collector.post_runs(batch)
            assert answer.json() == answered(len(batch)), answer.text
        for report in (alone, older):
            stored = collector.get(f"/api/v1/runs/{report['run_id']}").json()
            assert stored["command"] == long_command
        return
    with command_columns_as_text(schema_engine):
        assert_rejected(collector.post_runs([alone]), 422, {0: ("does not fit",)})
        assert count_rows(schema_engine, tables.runs) == 0
        [refused] = assert_rejected(
            collector.post_runs([older, newer]), 200, {0: ("does not fit",)}
        )
        assert refused["run_id"] == older["run_id"]
        assert stored_run_ids(schema_engine) == [newer["run_id"]]
        # Behind 70 replayed runs, in the same batch as a new one that fits.
        replayed = [make_report(started=now - dt.timedelta(hours=3)) for _ in range(70)]
        assert collector.post_runs(replayed).json() == answered(70)
        last = [
            make_report("zz_last", started=now - dt.timedelta(hours=1)) | {"command": long_command},
            make_report("zz_last", started=now - dt.timedelta(minutes=1)),
        ]
        answer = collector.post_runs([*replayed, *last])
        assert_rejected(answer, 200, {70: ("does not fit",)})
        assert (answer.json()["accepted"], answer.json()["duplicates"]) == (1, 70)
        assert count_rows(schema_engine, tables.runs) == 1 + 70 + 1
    # A skip as the first report of a job: its command goes into the job's new row too
    # (inserted with IGNORE, then set by an UPDATE, which strict mode checks).
    skip = make_report("zz_skipped", status="skipped_locked") | {"command": long_command}
    with command_columns_as_text(schema_engine, ("smartcron_jobs",)):
        assert_rejected(collector.post_runs([skip]), 422, {0: ("does not fit",)})
        assert count_rows(schema_engine, tables.runs) == count_rows(schema_engine, tables.jobs) == 0


def test_a_missing_field_is_named(collector: Service) -> None:
    report = make_report()
    del report["host"]
    assert_rejected(collector.post_runs([make_report(), report]), 200, {1: ("runs[1].host",)})


def test_one_bad_report_keeps_only_itself_out(collector: Service, schema_engine: Engine) -> None:
    batch = [make_report() for _ in range(10)]
    batch[7]["duration_s"] = -1
    answer = collector.post_runs(batch)
    [rejected] = assert_rejected(answer, 200, {7: ("runs[7].duration_s",)})
    assert rejected["run_id"] == batch[7]["run_id"]
    assert answer.json()["accepted"] == 9
    assert sorted(stored_run_ids(schema_engine)) == sorted(
        r["run_id"] for r in batch[:7] + batch[8:]
    )
    # Fixed, it goes in; the nine others are duplicates now.
    batch[7]["duration_s"] = 1.0
    assert collector.post_runs(batch).json() == answered(1, 9)


# ---------------------------------------------------------------- tokens


def test_a_missing_token_is_401(collector: Service, schema_engine: Engine) -> None:
    assert_error(collector.post_runs([make_report()], token=None), 401, "token")
    assert count_rows(schema_engine, tables.runs) == 0


def test_a_wrong_token_is_401(collector: Service, schema_engine: Engine) -> None:
    assert_error(collector.post_runs([make_report()], token="sct_wrong"), 401, "token")
    answer = requests.post(
        f"{collector.url}/api/v1/runs",
        json={"runs": [make_report()]},
        headers={"Authorization": f"Basic {collector.ingest_token}"},
        timeout=30,
    )
    assert_error(answer, 401)
    assert count_rows(schema_engine, tables.runs) == 0


def test_the_token_is_checked_before_the_body(collector: Service) -> None:
    # No token and a malformed body: the caller learns nothing about the body.
    answer = requests.post(f"{collector.url}/api/v1/runs", data=b"{", timeout=30)
    assert_error(answer, 401)


def test_an_admin_token_may_also_send(collector: Service) -> None:
    answer = collector.post_runs([make_report()], token=collector.admin_token)
    assert answer.json() == answered(1, 0)


def test_unknown_paths_and_methods_answer_json(collector: Service) -> None:
    assert_error(collector.get("/api/v1/nowhere"), 404)
    answer = requests.put(f"{collector.url}/api/v1/runs", timeout=30)
    assert_error(answer, 405)
