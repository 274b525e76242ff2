"""The POST /api/v1/runs body: its envelope, then each report in it on its own.

A body is refused whole only for what is wrong with the envelope: not JSON (400),
not {"runs": [...]} (422), too many reports (413; read_body refuses a body too
large). Each report is then valid or rejected by itself, with its index, its
run_id when that can be read, and the reason: one bad report never keeps the
others of its batch out (DESIGN.md, "Collector HTTP API").
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from smartcron.wrapper.schema import RunReport

from .errors import ApiError

# Reports are validated strictly: a value of the wrong JSON type (0 for false, "3" for
# 3) is refused rather than converted, so that what the API takes is exactly what its
# OpenAPI document says. The wrapper writes every field in its own type.
STRICT = True
_REPORTS = TypeAdapter(list[RunReport])


@dataclass(frozen=True)
class Rejection:
    """A report of the batch that was not stored, and why."""

    index: int
    run_id: str | None
    error: str  # "runs[3].exit_code: ..."

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "run_id": self.run_id, "error": self.error}


@dataclass
class Batch:
    """The valid reports of a body, each with its index in it, and the rejected ones."""

    reports: list[RunReport]
    indices: list[int]
    rejected: list[Rejection] = field(default_factory=list)


class Envelope(BaseModel):
    """The body as the fast path reads it. Unknown keys are taken, as in a report."""

    model_config = ConfigDict(extra="allow")
    runs: list[RunReport]


def parse_batch(body: bytes, max_reports: int) -> Batch:
    """The reports of a POST body, or the ApiError that says what is wrong with its envelope.

    Fast path: pydantic parses and validates the bytes in one pass in Rust, half the
    CPU of json.loads and validating the objects. It is taken only when every report is
    valid and the body is strict JSON; on anything else the careful path decides and
    words the answer, so the two always agree (tests/collector/test_api_parse.py).
    """
    try:
        envelope = Envelope.model_validate_json(body, strict=STRICT)
    except (ValueError, RecursionError):  # pydantic's ValidationError is a ValueError
        return _parse_batch_carefully(body, max_reports)
    reports = envelope.runs
    # pydantic's reader takes NaN, Infinity and 1e400 where no field checks them (a
    # key it does not know); the careful path refuses them as not JSON.
    if envelope.model_extra and not _finite_json(envelope.model_extra):
        return _parse_batch_carefully(body, max_reports)
    for report in reports:
        if _has_extra(report) and not _finite_json(_extras(report)):
            return _parse_batch_carefully(body, max_reports)
    _check_count(len(reports), max_reports)
    return Batch(reports, list(range(len(reports))))


def refuse_hosts(batch: Batch, refusal_for: Callable[[str], str | None]) -> Batch:
    """The batch less the reports whose host `refusal_for` refuses (a token bound to
    another host), each rejected with that reason: the rest of the batch is stored."""
    if all(refusal_for(host) is None for host in {report.host for report in batch.reports}):
        return batch  # the usual case: one host's own reports, one check
    kept = Batch([], [], list(batch.rejected))
    for report, index in zip(batch.reports, batch.indices, strict=True):
        reason = refusal_for(report.host)
        if reason is None:
            kept.reports.append(report)
            kept.indices.append(index)
        else:
            error = f"runs[{index}].host: {reason}"
            kept.rejected.append(Rejection(index, str(report.run_id), error))
    return kept


def _has_extra(report: RunReport) -> bool:
    return bool(report.model_extra or (report.expect and report.expect.model_extra)) or any(
        attempt.model_extra for attempt in report.attempts
    )


def _extras(report: RunReport) -> list[Any]:
    expect = report.expect.model_extra if report.expect else None
    return [report.model_extra, expect, *(attempt.model_extra for attempt in report.attempts)]


def _finite_json(value: Any) -> bool:
    """Whether `value` holds no float that JSON cannot write (NaN, an infinity)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_json(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite_json(item) for item in value)
    return True


def _check_count(count: int, max_reports: int) -> None:
    if count > max_reports:
        raise ApiError(413, f"{count} reports in one batch; send at most {max_reports}")


def _parse_batch_carefully(body: bytes, max_reports: int) -> Batch:
    try:
        document = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    # RecursionError: "[[[[..." a few thousand deep.
    except (ValueError, RecursionError) as error:
        raise ApiError(400, f"body is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("runs"), list):
        raise ApiError(422, 'body must be a JSON object {"runs": [report, ...]}')
    items = document["runs"]
    _check_count(len(items), max_reports)
    # One adapter over the whole list: a fifth less CPU per batch than a loop. From JSON
    # text again, as the fast path reads it: strict validation of Python objects would
    # refuse every time, since a time there is a str, not a datetime.
    try:
        return Batch(
            _REPORTS.validate_json(json.dumps(items), strict=STRICT), list(range(len(items)))
        )
    except ValidationError as error:
        problems = error.errors()
    by_index: dict[int, list[Any]] = {}
    for problem in problems:
        if not problem["loc"]:
            # Valid to json.loads, not to a strict JSON parser: a lone surrogate
            # ("\ud800", which no UTF-8 text holds) or nesting past pydantic's limit.
            raise ApiError(400, f"body is not valid JSON: {problem['msg']}")
        by_index.setdefault(int(problem["loc"][0]), []).append(problem)
    rejected = [
        Rejection(index, readable_run_id(items[index]), _wording(index, found))
        for index, found in sorted(by_index.items())
    ]
    indices = [index for index in range(len(items)) if index not in by_index]
    valid = [items[index] for index in indices]
    reports = _REPORTS.validate_json(json.dumps(valid), strict=STRICT) if valid else []
    return Batch(reports, indices, rejected)


def _wording(index: int, problems: list[Any]) -> str:
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"][1:]) or "report"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"runs[{index}].{where}: {first['msg']}{more}"


def readable_run_id(item: Any) -> str | None:
    """A rejected report's run_id, when it is a UUID at all (else null in the answer)."""
    value = item.get("run_id") if isinstance(item, dict) else None
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    # 1e400 parses to inf, which no column holds: refuse it here, not in the database.
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:40]} is out of range")
    return number
