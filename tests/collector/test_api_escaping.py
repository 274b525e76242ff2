"""User-supplied text (output, command, host, user) is shown escaped on every page,
never as markup: a report carrying <script> in each, through the real service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from tests.support.collector_api import reset_store
from tests.support.service import Service, make_report

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# Closes an HTML attribute first: the host also lands in value="..." and in links.
HOST = f'"><b>web1</b>{SCRIPT}'


@pytest.fixture
def hostile(
    service: Service, schema_engine: Engine, clear_tables: Callable[[Engine], None]
) -> dict[str, Any]:
    reset_store(schema_engine, clear_tables)
    report = make_report("vend_sync", host=HOST, status="failed",
                         stdout=f"before {SCRIPT} after\n", stderr=f"oops {SCRIPT}\n")  # fmt: skip
    report["command"] = f"php /srv/vend.php --note '{SCRIPT}'"
    report["user"] = SCRIPT
    assert service.post_runs([report]).json()["accepted"] == 1
    return report


def page(service: Service, path: str) -> str:
    headers = {"Accept": "text/html", "Authorization": f"Bearer {service.admin_token}"}
    answer = requests.get(f"{service.url}{path}", headers=headers, timeout=30)
    assert answer.status_code == 200, (path, answer.text[:300])
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    return answer.text


def assert_never_raw(html: str) -> None:
    assert SCRIPT not in html
    assert "<script" not in html.lower(), "the pages carry no script at all"
    assert "<b>web1</b>" not in html
    assert '"><b>' not in html


def test_the_summary_shows_the_host_escaped(service: Service, hostile: dict[str, Any]) -> None:
    html = page(service, "/")
    assert_never_raw(html)
    assert ESCAPED in html
    assert "&#34;&gt;&lt;b&gt;web1&lt;/b&gt;" in html


def test_the_job_page_shows_command_and_host_escaped(
    service: Service, hostile: dict[str, Any]
) -> None:
    html = page(service, "/jobs/vend_sync")
    assert_never_raw(html)
    assert f"--note &#39;{ESCAPED}&#39;" in html
    assert html.count(ESCAPED) >= 2  # the command and the host, at least


def test_the_run_page_shows_output_command_and_host_escaped(
    service: Service, hostile: dict[str, Any]
) -> None:
    html = page(service, f"/runs/{hostile['run_id']}")
    assert_never_raw(html)
    assert f"before {ESCAPED} after" in html
    assert f"oops {ESCAPED}" in html
    assert f"--note &#39;{ESCAPED}&#39;" in html


@pytest.mark.parametrize("path", ["/hosts", "/alerts"])
def test_the_other_pages_never_show_it_raw(
    service: Service, hostile: dict[str, Any], path: str
) -> None:
    assert_never_raw(page(service, path))


def test_the_json_api_returns_the_text_as_it_was_sent(
    service: Service, hostile: dict[str, Any]
) -> None:
    answer = service.get(f"/api/v1/runs/{hostile['run_id']}")
    assert answer.headers["content-type"].startswith("application/json")
    run = answer.json()
    assert run["stdout_tail"] == hostile["stdout_tail"]
    assert run["command"] == hostile["command"]
    assert run["host"] == HOST
