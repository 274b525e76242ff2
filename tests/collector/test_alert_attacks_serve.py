"""Attacks through the real `serve`: a cron host holding the ingest token floods the
collector with failing runs whose hosts carry markup and CR/LF, then tries the alert API
with that token and without any. What must hold: every alert arrives, in no more messages
than the channel's rate limit allows; the page shows the markup as text; the ingest token
and no credentials can neither read nor act on alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from smartcron.collector.db import tables
from sqlalchemy import Engine, func, select

from tests.support.receivers import MailReceiver, WebhookReceiver
from tests.support.service import Service, make_report, run_cli, start_collector, wait_for

FLOOD = 1000  # the most reports one batch may carry
XSS = '<script>alert("x")</script>'
RATE_LIMIT = 3


def write_config(tmp_path: Path, hook: WebhookReceiver, mail: MailReceiver) -> Path:
    """Both channels limited to RATE_LIMIT messages per window (the default 10 min)."""
    channels = {"hook": f'kind = "webhook"\nurl = "{hook.url}"', "mail": f'url = "{mail.url()}"'}
    tables_text = "".join(
        f"[collector.channels.{name}]\n{body}\nrate_limit = {RATE_LIMIT}\n"
        for name, body in channels.items()
    )
    path = tmp_path / "smartcron.toml"
    path.write_text(f"[collector]\nevaluate_every = 1\nalert_every = 1\n{tables_text}")
    return path


def open_alert_ids(engine: Engine) -> int:
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(tables.alerts)).scalar_one()
    return int(count)


def test_a_flood_of_failing_runs_is_digested_within_the_rate_limit(
    engine: Engine, db_url: str, tmp_path: Path, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    config = write_config(tmp_path, hook, mail)
    with start_collector(db_url, tmp_path, extra=("--config", str(config))) as service:
        reports = [
            make_report(f"job{index}", host=f"h{index % 7}{XSS}\r\nBcc: victim@evil.example",
                        status="failed")
            for index in range(FLOOD)
        ]  # fmt: skip
        answer = service.post_runs(reports)
        assert answer.status_code == 200 and answer.json()["accepted"] == FLOOD, answer.text[:300]
        wait_for(lambda: open_alert_ids(engine) >= FLOOD, "an alert for each failed job")
        wait_for(lambda: len(set(hook.alert_ids())) >= FLOOD, "every alert on the webhook")
        assert len(hook.bodies) <= RATE_LIMIT, [b["event"] for b in hook.bodies]
        assert {b["event"] for b in hook.bodies} == {"digest"}
        wait_for(lambda: mail.messages, "the digest by mail")
        assert len(mail.messages) <= RATE_LIMIT
        assert all(rcpt == ["ops@example.com"] for rcpt in mail.recipients)
        assert all(m["Bcc"] is None for m in mail.messages)

        page = service.get("/alerts")
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
        check_the_alert_api_refuses_the_ingest_token(service, hook.bodies[0]["alerts"][0])


def check_the_alert_api_refuses_the_ingest_token(service: Service, sent: dict[str, Any]) -> None:
    alert_id = sent["id"]
    for token in (service.ingest_token, None):
        status = 403 if token else 401
        listed = service.get("/api/v1/alerts", token=token)
        assert listed.status_code == status, listed.text[:200]
        for action in ("ack", "resolve"):
            done = requests.post(f"{service.url}/api/v1/alerts/{alert_id}/{action}",
                                 headers=service.headers(token), timeout=30)  # fmt: skip
            assert done.status_code == status, done.text[:200]
            page = requests.post(f"{service.url}/alerts/{alert_id}/{action}",
                                 headers=service.headers(token), data={"next": "/alerts"},
                                 allow_redirects=False, timeout=30)  # fmt: skip
            assert page.status_code == status, page.text[:200]
    (alert,) = service.get("/api/v1/alerts", params={"job": sent["job"]}).json()["alerts"]
    assert alert["id"] == alert_id
    assert alert["acknowledged_at"] is None and alert["resolved_at"] is None


def test_one_hosts_token_cannot_resolve_another_hosts_alert(
    engine: Engine, db_url: str, tmp_path: Path, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    config = write_config(tmp_path, hook, mail)
    with start_collector(db_url, tmp_path, extra=("--config", str(config))) as service:
        web7 = run_cli("create-token", "--db", db_url, "--name", "web7", "--host", "web7")
        assert service.post_runs([make_report("backup", host="db1", status="failed")]).ok
        wait_for(lambda: "opened" in [b.get("event") for b in hook.bodies], "the alert")
        # web7, with the token it holds, says db1's backup succeeded.
        forged = service.post_runs([make_report("backup", host="db1")], token=web7)
        assert forged.status_code == 422, forged.text
        assert "bound to host 'web7'" in forged.json()["rejected"][0]["error"]
        # web7's own failure is taken, and alerted: the engine has passed since the forgery.
        own = service.post_runs([make_report("backup", host="web7", status="failed")], token=web7)
        assert own.ok, own.text
        wait_for(lambda: len(hook.bodies) >= 2, "the alert of web7's own failure")
        alerts = service.get("/api/v1/alerts", params={"job": "backup"}).json()["alerts"]
        assert {(a["host"], a["resolved_at"]) for a in alerts} == {("db1", None), ("web7", None)}
        assert "resolved" not in [b.get("event") for b in hook.bodies]
