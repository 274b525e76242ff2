"""What a browser gets where a program gets JSON: an HTML page for an address that
does not exist, and /api/docs served whole by the collector with the page's headers."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from tests.support.collector_api import assert_error
from tests.support.service import Service, make_report, start_collector

PAGE_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
                "Referrer-Policy")  # fmt: skip
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("pages")
    with start_collector(f"sqlite:///{tmp / 'c.db'}", tmp) as running:
        assert running.post_runs([make_report("vend_sync")]).json()["accepted"] == 1
        yield running


def get(service: Service, path: str, accept: str, admin: bool = True) -> requests.Response:
    headers = {"Accept": accept}
    if admin:
        headers["Authorization"] = f"Bearer {service.admin_token}"
    answer: requests.Response = requests.get(
        f"{service.url}{path}", headers=headers, allow_redirects=False, timeout=30
    )
    return answer


def page_headers(answer: requests.Response) -> dict[str, str]:
    return {name: answer.headers.get(name, "") for name in PAGE_HEADERS}


def test_a_browser_gets_a_page_for_an_address_that_does_not_exist(service: Service) -> None:
    summary = get(service, "/", BROWSER)
    assert summary.status_code == 200
    for admin in (True, False):  # before the login too: a typo is no reason to log in
        answer = get(service, "/no/such/page", BROWSER, admin=admin)
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html"), answer.headers
        assert "There is no page at this address." in answer.text
        assert '<link rel="stylesheet" href="/static/style.css">' in answer.text
        assert page_headers(answer) == page_headers(summary)


def test_a_program_still_gets_json_for_an_address_that_does_not_exist(service: Service) -> None:
    assert_error(get(service, "/no/such/page", "application/json"), 404, "not found")
    assert_error(get(service, "/no/such/page", "*/*"), 404, "not found")
    assert_error(get(service, "/api/v1/nowhere", BROWSER), 404, "not found")


def test_a_browser_gets_a_page_for_a_job_that_does_not_exist(service: Service) -> None:
    answer = get(service, "/jobs/<b>no_such_job", BROWSER)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "no job named &#39;&lt;b&gt;no_such_job&#39;" in answer.text
    assert_error(get(service, "/jobs/no_such_job", "application/json"), 404, "no_such_job")


def test_api_docs_is_the_collector_s_own_page_with_the_page_s_headers(service: Service) -> None:
    docs = get(service, "/api/docs", BROWSER)
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert page_headers(docs) == page_headers(get(service, "/", BROWSER))
    assert "<script" not in docs.text.lower()
    # Every address the page names is the collector's own.
    addresses = re.findall(r'(?:src|href|action)="([^"]*)"', docs.text)
    assert addresses, docs.text[:500]
    assert all(a.startswith(("/", "#")) and not a.startswith("//") for a in addresses), addresses
    document = get(service, "/api/openapi.json", "application/json").json()
    for path, item in document["paths"].items():
        for method in item:
            assert f"<code>{method.upper()} {path}</code>" in docs.text, (method, path)
    assert "a value the API cannot take; the message names the field" in docs.text


def test_api_docs_needs_a_reader(service: Service) -> None:
    assert_error(get(service, "/api/docs", BROWSER, admin=False), 401)
    ingest = requests.get(f"{service.url}/api/docs", timeout=30,
                          headers={"Authorization": f"Bearer {service.ingest_token}"})  # fmt: skip
    assert_error(ingest, 403)
