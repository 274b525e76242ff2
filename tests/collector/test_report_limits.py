"""The collector refuses what the wrapper refuses (wrapper/limits.py holds the rules for
both): names made only of dots, tag lists longer than the tags column, over-long
schedules. A report at the limits is stored whole, tags included."""

from __future__ import annotations

from typing import Any

import pytest
from smartcron.collector.db import tables
from smartcron.wrapper import limits
from sqlalchemy import Engine, String, select

from tests.support.collector_api import assert_rejected, count_rows
from tests.support.service import Service, make_report


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"job": "."}, "runs[0].job", id="dot"),
        pytest.param({"job": ".."}, "runs[0].job", id="dotdot"),
        pytest.param({"job": "." * 100}, "runs[0].job", id="dots"),
        pytest.param({"tags": ["t" * 64] * 16}, "runs[0].tags", id="tags-joined"),
        pytest.param({"tags": ["t"] * 17}, "runs[0].tags", id="tags-count"),
        pytest.param({"schedule": "*" * 4007}, "runs[0].schedule", id="schedule"),
    ],
)
def test_values_the_wrapper_refuses_are_refused(
    collector: Service, schema_engine: Engine, change: dict[str, Any], field: str
) -> None:
    # Alone, the report is refused (422: nothing was stored); next to a good one, only
    # it is, by its index (200).
    assert_rejected(collector.post_runs([make_report() | change]), 422, {0: (field,)})
    assert count_rows(schema_engine, tables.runs) == 0
    second = field.replace("runs[0]", "runs[1]")
    answer = collector.post_runs([make_report(), make_report() | change])
    assert_rejected(answer, 200, {1: (second,)})
    assert count_rows(schema_engine, tables.runs) == 1


def test_tags_at_the_joined_limit_are_stored_whole(
    collector: Service, schema_engine: Engine
) -> None:
    # 15 tags of 64 and one of 49: 15 * 64 + 49 + 15 commas = 1024, the column's size.
    tags = [f"{i:02d}" + "t" * 62 for i in range(15)] + ["z" * 49]
    assert limits.joined_tags_length(tags) == limits.TAGS_JOINED_MAX
    report = make_report("dots.in.the.middle") | {"tags": tags}
    answer = collector.post_runs([report])
    assert answer.status_code == 200, answer.text[:300]
    with schema_engine.connect() as connection:
        stored = connection.execute(select(tables.runs.c.job, tables.runs.c.tags)).one()
    assert stored.job == "dots.in.the.middle"
    assert stored.tags == ",".join(tags)


def test_the_columns_are_as_wide_as_the_limits_say() -> None:
    widths = {
        name: column.type.length
        for name, column in tables.runs.c.items()
        if isinstance(column.type, String) and name in ("tags", "schedule", "job", "host")
    }
    assert widths == {
        "tags": limits.TAGS_JOINED_MAX,
        "schedule": limits.SCHEDULE_MAX,
        "job": limits.NAME_MAX,
        "host": limits.HOST_MAX,
    }
