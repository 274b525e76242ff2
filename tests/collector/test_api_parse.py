"""parse_batch: the fast path (pydantic reading the bytes) accepts exactly what the
careful path accepts, every refusal is worded by the careful path, and each report is
judged on its own (only the envelope refuses a body whole)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from smartcron.collector.batch import Rejection, _parse_batch_carefully, parse_batch
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
    "extra attempt key": body(
        {
            "runs": [
                with_field(
                    attempts=[
                        {
                            **make_report()["attempts"][0],
                            "cgroup": {"path": "/x", "limits": [1, 2.5]},
                        }
                    ]
                )
            ]
        }
    ),
    "NaN in an unknown field": body({"runs": [with_field(colour="red")]}).replace(b'"red"', b"NaN"),
    "Infinity in an unknown attempt field": body(
        {"runs": [with_field(attempts=[{**make_report()["attempts"][0], "x": "red"}])]}
    ).replace(b'"red"', b"[Infinity]"),
    "1e400 in an unknown field": body({"runs": [with_field(colour="red")]}).replace(
        b'"red"', b"1e400"
    ),
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
    "a report not an object": body({"runs": [make_report(), 42, make_report("backup")]}),
    "every report bad": body({"runs": [with_field(host=""), with_field(run_id=7)]}),
}


def outcome(parse: Any, raw: bytes) -> Any:
    try:
        batch = parse(raw, MAX)
    except ApiError as error:
        return (error.status, error.message)
    reports = [report.model_dump() for report in batch.reports]
    return {"reports": reports, "indices": batch.indices, "rejected": batch.rejected}


def status(result: Any) -> int:
    """The answer's status: the envelope's error, or 422 only when every report failed."""
    if isinstance(result, tuple):
        return int(result[0])
    return 422 if result["rejected"] and not result["reports"] else 200


@pytest.mark.parametrize("raw", BODIES.values(), ids=BODIES.keys())
def test_both_paths_agree(raw: bytes) -> None:
    assert outcome(parse_batch, raw) == outcome(_parse_batch_carefully, raw)


def test_the_bodies_cover_acceptance_and_each_refusal() -> None:
    # The agreement above means something only if both kinds of body are in it.
    statuses = {name: status(outcome(parse_batch, raw)) for name, raw in BODIES.items()}
    assert statuses["valid"] == statuses["time with offset"] == statuses["empty list"] == 200
    assert statuses["extra top-level key"] == statuses["extra report key"] == 200
    assert statuses["extra attempt key"] == 200
    assert statuses["NaN"] == statuses["1e400"] == statuses["not JSON"] == 400
    assert statuses["NaN in an unknown field"] == statuses["1e400 in an unknown field"] == 400
    assert statuses["Infinity in an unknown attempt field"] == 400
    assert statuses["deep inside the runs"] == statuses["lone surrogate"] == 400
    assert statuses["naive time"] == statuses["year 2200"] == statuses["no runs"] == 422
    assert statuses["second report bad"] == statuses["a report not an object"] == 200
    assert statuses["every report bad"] == 422
    assert statuses["too many"] == 413
    # Strict types: what the OpenAPI document says, nothing converted; 2 is a number.
    assert statuses["string for a number"] == statuses["0 for false"] == 422
    assert statuses["3.0 for an integer"] == 422
    assert statuses["an integer for a number"] == 200


def test_a_value_of_the_wrong_type_is_named() -> None:
    batch = parse_batch(BODIES["0 for false"], MAX)
    assert batch.reports == []
    [rejected] = batch.rejected
    assert rejected.error == "runs[0].output_truncated: Input should be a valid boolean"


def test_each_report_is_judged_on_its_own() -> None:
    good, other = make_report(), make_report("backup")
    bad = with_field(host="", exit_code="0")
    batch = parse_batch(body({"runs": [good, 42, bad, other, with_field(run_id="nope")]}), MAX)
    assert [str(report.run_id) for report in batch.reports] == [good["run_id"], other["run_id"]]
    assert batch.indices == [0, 3]
    assert [(r.index, r.run_id) for r in batch.rejected] == [
        (1, None), (2, bad["run_id"]), (4, None)
    ]  # fmt: skip
    assert batch.rejected[0].error == "runs[1].report: Input should be an object"
    assert batch.rejected[1].error.startswith("runs[2].host: ")
    assert batch.rejected[1].error.endswith(" (and 1 more)")


def test_unknown_fields_are_taken_and_left_aside() -> None:
    known = make_report()
    [report] = parse_batch(body({"runs": [known | {"colour": "red"}], "agent": "0.2"}), MAX).reports
    assert report.model_extra == {"colour": "red"}
    [plain] = parse_batch(body({"runs": [known]}), MAX).reports
    assert report.model_dump(exclude={"colour"}) == plain.model_dump()


def test_a_rejection_as_the_answer_lists_it() -> None:
    rejection = Rejection(3, None, "runs[3].report: …")
    assert rejection.as_json() == {"index": 3, "run_id": None, "error": "runs[3].report: …"}
