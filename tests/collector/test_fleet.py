"""A fleet of thousands of jobs through the real service on SQLite and MySQL: the summary
page and /api/v1/jobs page it worst first (a failing job among 5,000 healthy ones on the
first page, a page's size the same for 200 healthy jobs as for 5,000), filter it by
state, host, tag and name, and every count stays true for the whole fleet."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from smartcron.collector import fleet
from smartcron.collector.db import tables
from sqlalchemy import Engine, insert, text

from tests.support.service import Service, make_report

ORDER = {state: rank for rank, state in enumerate(fleet.STATES)}


def add_jobs(
    engine: Engine, count: int, *, state: str = "healthy", hosts: int = 50, prefix: str = "job"
) -> list[tuple[str, str]]:
    """`count` jobs with `state` stored on their rows, as collector/state.py leaves them,
    spread over `hosts` hosts, with no review due (the evaluator leaves them alone)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [
        {"job": f"{prefix}{n:05d}", "host": f"host{n % hosts:03d}", "priority": n % 3 + 4,
         "command": "true", "first_seen_at": now, "breaker_state": "closed", "paused": False,
         "state": state, "state_reason": f"{state} on purpose", "review_at": None}
        for n in range(count)
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(tables.jobs), rows)
    return [(f"{prefix}{n:05d}", f"host{n % hosts:03d}") for n in range(count)]


def get_json(service: Service, path: str, **params: Any) -> Any:
    answer = service.get(path, params=params)
    assert answer.status_code == 200, (path, params, answer.text[:300])
    return answer.json()


def page(service: Service, query: str = "") -> str:
    answer = service.get(f"/{query}")
    assert answer.status_code == 200, answer.text[:300]
    return answer.text


def shown_jobs(body: str) -> list[str]:
    return re.findall(r'<td class="job" data-label="Job"><a href="/jobs/([^"]+)"', body)


def link(body: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', body)
    return html.unescape(found.group(1)) if found else None


def walk(service: Service, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every page of /api/v1/jobs, following next_cursor."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = get_json(service, "/api/v1/jobs", limit=limit, **params,
                          **({"cursor": cursor} if cursor else {}))  # fmt: skip
        assert len(answer["jobs"]) <= limit
        seen.extend(answer["jobs"])
        cursor = answer["next_cursor"]
        if cursor is None:
            return seen


def post_failure(service: Service, job: str, host: str, tags: list[str] | None = None) -> None:
    report = make_report(job, host=host, status="failed", schedule=None)
    report["tags"] = tags or []
    assert service.post_runs([report]).status_code == 200


# ---------------------------------------------------------------- the summary page


def test_a_failing_job_leads_the_page_among_5000_healthy(
    collector: Service, schema_engine: Engine
) -> None:
    add_jobs(schema_engine, 5000)
    post_failure(collector, "zz_broken", "host007")
    body = page(collector)
    shown = shown_jobs(body)
    assert shown[0] == "zz_broken" and len(shown) == 100
    # The counts are the whole fleet's, not the page's.
    assert "<strong>5000</strong> healthy" in body and "<strong>1</strong> failing" in body
    assert link(body, "next") is not None and link(body, "prev") is None


def test_the_page_does_not_grow_with_the_healthy_jobs_it_does_not_show(
    collector: Service, schema_engine: Engine
) -> None:
    add_jobs(schema_engine, 200)
    post_failure(collector, "zz_broken", "host007")
    small = page(collector)
    add_jobs(schema_engine, 4800, prefix="more")
    large = page(collector)
    assert len(shown_jobs(small)) == len(shown_jobs(large)) == 100
    # Only the counts' digits and the cursor differ.
    assert abs(len(large) - len(small)) < 100


def test_next_and_previous_walk_the_pages(collector: Service, schema_engine: Engine) -> None:
    add_jobs(schema_engine, 250)
    add_jobs(schema_engine, 30, state="late", prefix="late")
    first = page(collector)
    second = page(collector, link(first, "next") or "")
    third = page(collector, link(second, "next") or "")
    assert all(name.startswith("late") for name in shown_jobs(first)[:30])
    names = shown_jobs(first) + shown_jobs(second) + shown_jobs(third)
    assert len(names) == len(set(names)) == 280
    assert link(third, "next") is None
    assert shown_jobs(page(collector, link(third, "prev") or "")) == shown_jobs(second)
    assert shown_jobs(page(collector, link(second, "prev") or "")) == shown_jobs(first)
    assert link(page(collector, link(second, "prev") or ""), "prev") is None


def test_the_page_filters_by_state_host_tag_and_name(
    collector: Service, schema_engine: Engine
) -> None:
    add_jobs(schema_engine, 400)
    post_failure(collector, "billing_export", "host003", tags=["billing", "nightly"])
    post_failure(collector, "mail_queue", "host004", tags=["mail"])
    assert shown_jobs(page(collector, "?state=failing")) == ["billing_export", "mail_queue"]
    assert shown_jobs(page(collector, "?tag=billing")) == ["billing_export"]
    assert shown_jobs(page(collector, "?q=queue")) == ["mail_queue"]
    on_host = shown_jobs(page(collector, "?host=host004"))
    assert on_host[0] == "mail_queue" and len(on_host) == 9  # 400 / 50 jobs, and mail_queue
    # The filters stay in the form and in the next page's link.
    body = page(collector, "?state=healthy&host=host004")
    assert 'name="host" value="host004"' in body and "<option selected>healthy</option>" in body
    assert link(body, "next") is None
    body = page(collector, "?state=healthy")
    assert "state=healthy" in (link(body, "next") or "")
    assert "No jobs match these filters." in page(collector, "?q=nothing_like_it")


def test_an_unknown_state_on_the_page_names_the_states(collector: Service) -> None:
    answer = collector.get("/?state=broken")
    assert answer.status_code == 422 and "healthy" in answer.text


# ---------------------------------------------------------------- /api/v1/jobs and status


def test_cursor_pages_give_every_job_once_worst_first(
    collector: Service, schema_engine: Engine
) -> None:
    expected = set()
    for state, count in (("healthy", 1500), ("degraded", 300), ("paused", 120), ("late", 80)):
        expected |= set(add_jobs(schema_engine, count, state=state, prefix=state[:3]))
    seen = walk(collector, 350)
    keys = [(item["job"], item["host"]) for item in seen]
    assert len(keys) == len(set(keys)) and set(keys) == expected
    order = [(ORDER[item["state"]], item["priority"], item["job"], item["host"]) for item in seen]
    assert order == sorted(order)


def test_jobs_filter_by_state_host_tag_and_name(collector: Service, schema_engine: Engine) -> None:
    add_jobs(schema_engine, 1000, hosts=20)
    add_jobs(schema_engine, 40, state="late", hosts=20, prefix="late")
    post_failure(collector, "billing_export", "host003", tags=["billing"])
    post_failure(collector, "billingxexport", "host003", tags=["billings"])

    problems = walk(collector, 15, state="failing,late")
    assert {item["state"] for item in problems} == {"failing", "late"} and len(problems) == 42
    assert [i["job"] for i in problems[:2]] == ["billing_export", "billingxexport"]

    on_host = walk(collector, 7, host="host003")
    assert len(on_host) == 50 + 2 + 2 and {i["host"] for i in on_host} == {"host003"}
    order = [(ORDER[i["state"]], i["priority"], i["job"]) for i in on_host]
    assert order == sorted(order) and len(set(order)) == len(order)
    assert [i["job"] for i in walk(collector, 5, tag="billing")] == ["billing_export"]
    # The name search is a plain substring: % and _ are no wildcards.
    assert [i["job"] for i in walk(collector, 5, q="g_e")] == ["billing_export"]
    assert walk(collector, 5, q="%") == []
    assert len(walk(collector, 100, q="job0099")) == 10  # job00990 .. job00999
    failing = get_json(collector, "/api/v1/jobs", state="failing", host="host003", q="billing_")
    [only] = failing["jobs"]
    assert only["job"] == "billing_export" and only["failures_24h"] == 1
    assert only["recent_runs"] == 1 and failing["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "named"),
    [({"state": "failing,sleeping"}, "sleeping"), ({"cursor": "bm90IG91cnM"}, "cursor"),
     ({"cursor": "!!"}, "cursor"), ({"limit": "0"}, "limit")],
)  # fmt: skip
def test_jobs_refuse_a_bad_filter_naming_it(
    collector: Service, params: dict[str, str], named: str
) -> None:
    answer = collector.get("/api/v1/jobs", params=params)
    assert answer.status_code == 422 and named in answer.text, answer.text


def test_status_counts_the_whole_fleet(collector: Service, schema_engine: Engine) -> None:
    add_jobs(schema_engine, 3000, hosts=200)
    add_jobs(schema_engine, 25, state="paused", prefix="paused")
    post_failure(collector, "zz_broken", "elsewhere")
    status = get_json(collector, "/api/v1/status")
    assert status["jobs"] == 3026 and status["hosts"] == 201
    assert status["jobs_by_state"] == {
        "failing": 1, "late": 0, "running": 0, "degraded": 0, "paused": 25, "healthy": 3000
    }  # fmt: skip
    assert (status["runs_24h"], status["failures_24h"], status["ok"]) == (1, 1, False)


def test_mysql_reads_a_page_of_one_state_in_index_order(
    mysql_engine: Engine, clear_tables: Callable[[Engine], None]
) -> None:
    """No sort of the fleet: a state's page comes from ix_jobs_state_order in its order,
    one host's from ix_jobs_host_state."""
    engine = mysql_engine
    clear_tables(engine)
    for state in fleet.STATES:
        add_jobs(engine, 400, state=state, prefix=state)
    statement = (
        "EXPLAIN SELECT * FROM smartcron_jobs WHERE state = 'failing'{host} "
        "ORDER BY priority, job{order} LIMIT 101"
    )
    with engine.connect() as connection:
        connection.execute(text("ANALYZE TABLE smartcron_jobs")).all()
        # As fleet.py asks: one host's rows in (priority, job) order, the host being fixed.
        for host, order, index in (
            ("", ", host", "ix_jobs_state_order"),
            (" AND host = 'host001'", "", "ix_jobs_host_state"),
        ):
            query = statement.format(host=host, order=order)
            plan = connection.execute(text(query)).mappings().one()
            assert plan["key"] == index, plan
            assert "filesort" not in (plan["Extra"] or ""), plan
