"""parse_batch: the fast path (pydantic reading the bytes) accepts exactly what the
careful path accepts, and every refusal is worded by the careful path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from smartcron.collector.api import _parse_batch_carefully, parse_batch
from smartcron.collector.errors import ApiError

from tests.support.service import make_report

MAX = 5


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def with_field(**change: Any) -> dict[str, Any]:
    return {**make_report(), **change}


BODIES = {
    "valid": body({"runs": [make_report(), make_report("backup")]}),
    "empty list": body({"runs": []}),
    "extra top-level key": body({"runs": [make_report()], "agent": "0.1"}),
    "extra report key": body({"runs": [with_field(colour="red")]}),
    "naive time": body({"runs": [with_field(started_at="2030-01-01T12:00:00")]}),
    "time with offset": body({"runs": [with_field(started_at="2030-01-01T14:00:00+02:00")]}),
    "year 1999": body({"runs": [with_field(started_at="1999-12-31T23:59:59Z")]}),
    "year 2200": body({"runs": [with_field(finished_at="2200-01-01T00:00:00Z")]}),
    "NaN": body({"runs": [make_report()]}).replace(b'"duration_s": 1.5', b'"duration_s": NaN'),
    "1e400": body({"runs": [make_report()]}).replace(b'"duration_s": 1.5', b'"duration_s": 1e400'),
    "NaN outside the runs": body({"runs": [make_report()]})[:-1] + b', "x": NaN}',
    "too many": body({"runs": [make_report() for _ in range(MAX + 1)]}),
    "not an object": body([make_report()]),
    "no runs": body({"reports": []}),
    "not JSON": b'{"runs": [',
    "deep": b"[" * 100_000,
    "deep inside the runs": b'{"runs": [' + b"[" * 300 + b"]" * 300 + b"]}",
    "lone surrogate": body({"runs": [with_field(command="\ud800")]}),
    "string for a number": body({"runs": [with_field(priority="5")]}),
    "0 for false": body({"runs": [with_field(output_truncated=0)]}),
    "3.0 for an integer": body({"runs": [with_field(exit_code=3.0)]}),
    "an integer for a number": body({"runs": [with_field(duration_s=2)]}),
    "second report bad": body({"runs": [make_report(), with_field(host="")]}),
}


def outcome(parse: Any, raw: bytes) -> Any:
    try:
        return [report.model_dump() for report in parse(raw, MAX)]
    except ApiError as error:
        return (error.status, error.message)


@pytest.mark.parametrize("raw", BODIES.values(), ids=BODIES.keys())
def test_both_paths_agree(raw: bytes) -> None:
    assert outcome(parse_batch, raw) == outcome(_parse_batch_carefully, raw)


def test_the_bodies_cover_acceptance_and_each_refusal() -> None:
    # The agreement above means something only if both kinds of body are in it.
    statuses = {
        name: result[0] if isinstance(result, tuple) else 200
        for name, result in ((n, outcome(parse_batch, raw)) for n, raw in BODIES.items())
    }
    assert statuses["valid"] == statuses["time with offset"] == statuses["empty list"] == 200
    assert statuses["extra top-level key"] == 200
    assert statuses["NaN"] == statuses["1e400"] == statuses["not JSON"] == 400
    assert statuses["deep inside the runs"] == statuses["lone surrogate"] == 400
    assert statuses["naive time"] == statuses["year 2200"] == statuses["no runs"] == 422
    assert statuses["too many"] == 413
    # Strict types: what the OpenAPI document says, nothing converted; 2 is a number.
    assert statuses["string for a number"] == statuses["0 for false"] == 422
    assert statuses["3.0 for an integer"] == 422
    assert statuses["an integer for a number"] == 200


def test_a_value_of_the_wrong_type_is_named() -> None:
    with pytest.raises(ApiError) as refused:
        parse_batch(BODIES["0 for false"], MAX)
    assert refused.value.status == 422
    assert refused.value.message == "runs[0].output_truncated: Input should be a valid boolean"
