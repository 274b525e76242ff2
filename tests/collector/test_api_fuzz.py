"""The JSON API fuzzed from its own OpenAPI document (schemathesis), against the real
service on both backends: no answer is a server error, every status a route gives is
one its document lists, every body is JSON of the documented shape, and data that
breaks the document (a wrong type, a missing field, a value out of range) is refused.

Cases come from schemathesis's Hypothesis strategies, one operation at a time
(its pytest plugin does not run under this pytest)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok

from tests.support.service import Service

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]
# Data that breaks the document is refused with a 4xx; schemathesis's own list of
# refusals lacks 413 (a stdout_tail over its maxLength makes the body too large).
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {
    "expected-statuses": [400, 401, 403, 404, 405, 409, 413, 415, 422, 429],
}}})  # fmt: skip
EXAMPLES = 25  # per operation and mode: some 500 requests per backend
ROUTES = {
    ("POST", "/api/v1/runs"), ("GET", "/api/v1/runs"), ("GET", "/api/v1/runs/{run_id}"),
    ("GET", "/api/v1/status"), ("GET", "/api/v1/jobs"), ("GET", "/api/v1/jobs/{job}"),
    ("GET", "/api/v1/metrics"), ("GET", "/api/v1/logs"), ("GET", "/api/v1/hosts"),
    ("POST", "/api/v1/jobs/{job}/{action}"), ("POST", "/api/v1/heartbeat"),
    ("GET", "/api/v1/control"), ("GET", "/api/v1/schedule-load"), ("GET", "/api/v1/alerts"),
    ("POST", "/api/v1/alerts/{alert_id}/ack"), ("POST", "/api/v1/alerts/{alert_id}/resolve"),
}  # fmt: skip


def operations(collector: Service) -> list[Any]:
    document = collector.get("/api/openapi.json")
    assert document.status_code == 200, document.text
    schema = schemathesis.openapi.from_dict(document.json(), config=CONFIG)
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is sound
        found.append(result.ok())
    # Every route of the API is in the document, so every route is fuzzed.
    assert {(op.method.upper(), op.path) for op in found} == ROUTES
    return found


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_its_document(collector: Service, mode: GenerationMode) -> None:
    fuzzed = set()
    for operation in operations(collector):
        route = (operation.method.upper(), operation.path)
        try:
            _fuzz(operation, mode, collector.url, _token_for(route, collector))
        except Unsatisfiable:
            # Nothing to get wrong: no parameters, or only strings that take any text.
            assert mode is GenerationMode.NEGATIVE, route
            continue
        fuzzed.add(route)
    if mode is GenerationMode.POSITIVE:
        assert fuzzed == ROUTES
    else:  # the routes that take typed input were given wrong input
        assert fuzzed >= {("POST", "/api/v1/runs"), ("GET", "/api/v1/runs"),
                          ("GET", "/api/v1/metrics"), ("GET", "/api/v1/logs")}, fuzzed  # fmt: skip


def _token_for(route: tuple[str, str], collector: Service) -> str:
    sender = route == ("POST", "/api/v1/runs")
    return collector.ingest_token if sender else collector.admin_token


def _fuzz(operation: Any, mode: GenerationMode, url: str, token: str) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    # Derandomized: the same cases on every run, so that a failure in CI can be replayed.
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def call(case: Any) -> None:
        case.call_and_validate(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
        )

    call()
