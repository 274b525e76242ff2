"""The alert centre through the real service on SQLite and MySQL: GET /api/v1/alerts
with its filters and pages, acknowledge and resolve with an admin token or a session and
its CSRF token (audited, once, the resolve with its outbox event), maintenance windows
and pauses named as what silences an alert, and /alerts with its buttons."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from smartcron.collector.db import tables
from sqlalchemy import Engine, insert, select

from tests.support.collector_api import assert_error, login, session_csrf
from tests.support.service import Service

UTC = dt.timezone.utc


def now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def add_alert(engine: Engine, **given: Any) -> int:
    """An alert row as the engine writes one: open unless told otherwise."""
    at = now() - dt.timedelta(minutes=given.pop("minutes_ago", 10))
    row = {"job": "backup", "host": "db1", "rule": "failed", "severity": "high",
           "summary": "last run failed", "detail": "last run failed: exit 1", "opened_at": at,
           "instant": at, "last_seen_at": at, "repeats": 0, "open_key": 1, **given}  # fmt: skip
    if row.get("resolved_at") is not None:
        row["open_key"] = None
    with engine.begin() as connection:
        key = connection.execute(insert(tables.alerts).values(row)).inserted_primary_key
    assert key is not None
    return int(key[0])


def add_job(engine: Engine, job: str, host: str, **given: Any) -> None:
    row = {"job": job, "host": host, "priority": 2, "command": "true", "first_seen_at": now(),
           "breaker_state": "closed", "paused": False, "state": "healthy", "state_reason": "",
           "review_at": None, **given}  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(tables.jobs).values(row))


def listed(service: Service, **params: Any) -> list[dict[str, Any]]:
    answer = service.get("/api/v1/alerts", params=params)
    assert answer.status_code == 200, answer.text[:300]
    return list(answer.json()["alerts"])


def ids(alerts: list[dict[str, Any]]) -> list[int]:
    return [int(a["id"]) for a in alerts]


def test_filters_and_pages(collector: Service, schema_engine: Engine) -> None:
    e = schema_engine
    failed = add_alert(e, minutes_ago=50)
    missed = add_alert(e, rule="missed", severity="critical", job="report", host="web1",
                       summary="no run at 02:30", minutes_ago=40)  # fmt: skip
    acked = add_alert(e, rule="timeout", severity="warning", job="report", host="web2",
                      acknowledged_at=now(), acknowledged_by="ops", minutes_ago=30)  # fmt: skip
    resolved = add_alert(e, rule="failed", job="report", host="web1", resolved_at=now(),
                         minutes_ago=20)  # fmt: skip
    silent = add_alert(e, rule="host_silent", job="", host="web3", severity="critical",
                       summary="no heartbeat for 3 intervals", minutes_ago=10)  # fmt: skip
    assert ids(listed(collector)) == [silent, resolved, acked, missed, failed]  # newest first
    assert ids(listed(collector, state="open")) == [silent, missed, failed]
    assert ids(listed(collector, state="open,acknowledged")) == [silent, acked, missed, failed]
    assert ids(listed(collector, state="resolved")) == [resolved]
    assert ids(listed(collector, rule="failed")) == [resolved, failed]
    assert ids(listed(collector, severity="critical")) == [silent, missed]
    assert ids(listed(collector, job="report", host="web1")) == [resolved, missed]
    states = {a["id"]: a["state"] for a in listed(collector)}
    assert states == {silent: "open", resolved: "resolved", acked: "acknowledged",
                      missed: "open", failed: "open"}  # fmt: skip
    item = listed(collector, state="acknowledged")[0]
    assert item["acknowledged_by"] == "ops" and item["summary"] == "last run failed"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", item["opened_at"])
    assert "open_key" not in item

    first = collector.get("/api/v1/alerts", params={"limit": 2}).json()
    assert ids(first["alerts"]) == [silent, resolved] and first["next_cursor"]
    second = collector.get("/api/v1/alerts", params={"limit": 2, "cursor": first["next_cursor"]})
    assert ids(second.json()["alerts"]) == [acked, missed]
    after = second.json()["next_cursor"]
    third = collector.get("/api/v1/alerts", params={"limit": 2, "cursor": after})
    assert ids(third.json()["alerts"]) == [failed] and third.json()["next_cursor"] is None

    assert_error(collector.get("/api/v1/alerts", params={"state": "closed"}), 422, "state")
    assert_error(collector.get("/api/v1/alerts", params={"rule": "bogus"}), 422, "rule")
    assert_error(collector.get("/api/v1/alerts", params={"cursor": "nonsense!"}), 422, "cursor")
    assert_error(collector.get("/api/v1/alerts", token=None), 401)
    assert_error(collector.get("/api/v1/alerts", token=collector.ingest_token), 403)


def audit_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        query = select(tables.audit).order_by(tables.audit.c.id)
        return [dict(row) for row in connection.execute(query).mappings()]


def events(engine: Engine, alert_id: int) -> list[str]:
    e = tables.alert_events.c
    with engine.connect() as connection:
        return list(connection.execute(select(e.event).where(e.alert_id == alert_id)).scalars())


def test_acknowledge_and_resolve_with_the_admin_token(
    collector: Service, schema_engine: Engine
) -> None:
    alert = add_alert(schema_engine)
    post = collector.session.post
    headers = collector.headers(collector.admin_token)
    answer = post(f"{collector.url}/api/v1/alerts/{alert}/ack", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["changed"] is True and body["alert"]["state"] == "acknowledged"
    assert body["alert"]["acknowledged_by"] == "admin token"
    again = post(f"{collector.url}/api/v1/alerts/{alert}/ack", headers=headers, timeout=30)
    assert again.json()["changed"] is False  # once: the second click changes nothing

    done = post(f"{collector.url}/api/v1/alerts/{alert}/resolve", headers=headers, timeout=30)
    assert done.status_code == 200 and done.json()["changed"] is True
    resolved = done.json()["alert"]
    assert resolved["state"] == "resolved" and resolved["resolved_by"] == "admin token"
    twice = post(f"{collector.url}/api/v1/alerts/{alert}/resolve", headers=headers, timeout=30)
    assert twice.json()["changed"] is False
    assert events(schema_engine, alert) == ["resolved"]  # one notice for the channels
    late_ack = post(f"{collector.url}/api/v1/alerts/{alert}/ack", headers=headers, timeout=30)
    assert_error(late_ack, 409, "resolved already")
    audit = audit_rows(schema_engine)
    assert [(r["action"], r["actor"], r["job"], r["host"]) for r in audit] == [
        ("alert-ack", "admin token", "backup", "db1"),
        ("alert-resolve", "admin token", "backup", "db1"),
    ]
    assert all(f"alert {alert} (failed, high)" in r["detail"] for r in audit)

    missing = post(f"{collector.url}/api/v1/alerts/999999/ack", headers=headers, timeout=30)
    assert_error(missing, 404, "no alert 999999")
    reader = collector.headers(collector.ingest_token)
    refused = post(f"{collector.url}/api/v1/alerts/{alert}/resolve", headers=reader, timeout=30)
    assert_error(refused, 403)


def test_a_silenced_alert_resolved_by_hand_sends_no_notice(
    collector: Service, schema_engine: Engine
) -> None:
    """The engine's rule (alerting/store.py): nobody was told it opened, so nobody is
    told it ended; the resolve itself is still made and audited."""
    alert = add_alert(schema_engine, silenced="maintenance window 3: nightly reboot")
    headers = collector.headers(collector.admin_token)
    url = f"{collector.url}/api/v1/alerts/{alert}/resolve"
    done = collector.session.post(url, headers=headers, timeout=30)
    assert done.status_code == 200 and done.json()["changed"] is True
    assert done.json()["alert"]["resolved_by"] == "admin token"
    assert events(schema_engine, alert) == []
    assert [r["action"] for r in audit_rows(schema_engine)] == ["alert-resolve"]


def test_a_session_acts_only_with_its_csrf_token(collector: Service, schema_engine: Engine) -> None:
    alert = add_alert(schema_engine)
    client = login(collector)
    url = f"{collector.url}/api/v1/alerts/{alert}/ack"
    assert_error(client.post(url, timeout=30), 403, "CSRF")
    assert_error(client.post(url, headers={"X-CSRF-Token": "wrong"}, timeout=30), 403, "CSRF")
    token = session_csrf(collector, client, "/alerts")
    answer = client.post(url, headers={"X-CSRF-Token": token}, timeout=30)
    assert answer.status_code == 200 and answer.json()["alert"]["acknowledged_by"] == "admin"

    # The page's buttons: a form with the token, then back to the list it came from.
    other = add_alert(schema_engine, rule="lost", job="sync", host="web1")
    page = client.get(f"{collector.url}/alerts?rule=lost", timeout=30)
    assert f'action="/alerts/{other}/ack"' in page.text
    form = {"csrf_token": token, "next": "/alerts?rule=lost"}
    done = client.post(f"{collector.url}/alerts/{other}/resolve", data=form,
                       allow_redirects=False, timeout=30)  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/alerts?rule=lost"
    forged = client.post(f"{collector.url}/alerts/{alert}/resolve", data={"next": "/alerts"},
                         allow_redirects=False, timeout=30)  # fmt: skip
    assert forged.status_code == 403
    actions = [(r["action"], r["actor"]) for r in audit_rows(schema_engine)]
    assert actions == [("alert-ack", "admin"), ("alert-resolve", "admin")]
    assert listed(collector, state="resolved")[0]["resolved_by"] == "admin"


def test_what_silences_an_alert_is_named(collector: Service, schema_engine: Engine) -> None:
    e = schema_engine
    add_job(e, "backup", "db1")
    add_job(e, "sync", "web1", paused=True, paused_by="ops", paused_at=now())
    add_job(e, "report", "web2")
    ends = now() + dt.timedelta(hours=2)
    windows = [
        {"job": "backup", "starts_at": now() - dt.timedelta(hours=1), "ends_at": ends,
         "reason": "db upgrade"},
        # over already, cancelled, and one for another host: none of them silences
        {"host": "web2", "starts_at": now() - dt.timedelta(hours=3),
         "ends_at": now() - dt.timedelta(hours=1), "reason": "over"},
        {"host": "web2", "starts_at": now(), "ends_at": ends, "reason": "cancelled",
         "cancelled_at": now()},
        {"host": "db9", "starts_at": now(), "ends_at": None, "reason": "elsewhere"},
        # cron-shaped: every day at the hour just begun, for two hours, in UTC
        {"host": "web2", "starts_at": now() - dt.timedelta(days=3), "ends_at": None,
         "schedule": f"0 {now().hour} * * *", "timezone": "UTC", "duration_s": 7200,
         "reason": "nightly batch"},
    ]  # fmt: skip
    with e.begin() as connection:
        for window in windows:
            connection.execute(insert(tables.maintenance).values(
                created_by="ops", created_at=now(), **window))  # fmt: skip
    backup = add_alert(e)
    sync = add_alert(e, job="sync", host="web1", rule="missed")
    report = add_alert(e, job="report", host="web2", rule="missed")
    said = {a["id"]: a["silenced_now"] for a in listed(collector)}
    (text,) = said[backup]
    assert re.fullmatch(r"silenced by maintenance window #\d+ \(db upgrade\) until "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text), text  # fmt: skip
    assert said[sync] == [f"silenced: paused by ops at {now():%Y-%m-%d} " + said[sync][0][-9:]]
    (nightly,) = said[report]
    until = now().replace(minute=0, second=0) + dt.timedelta(hours=2)
    assert nightly.endswith(f"(nightly batch) until {until:%Y-%m-%d %H:%M} UTC"), nightly

    page = collector.get("/jobs/backup").text
    assert "silenced by maintenance window" in page and "db upgrade" in page
    assert "1 open alert" in page
    alerts_page = collector.get("/alerts").text
    assert alerts_page.count('class="small silenced"') == 3
