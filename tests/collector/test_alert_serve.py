"""Delivery in the real `serve` (its pass after each evaluation pass) and the real
`test-alert`: what the receivers get, and what /healthz says of a failing channel."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import requests
from sqlalchemy import Engine

from tests.support.outbox import open_alerts
from tests.support.receivers import MailReceiver, WebhookReceiver
from tests.support.service import collector_bin, start_collector, wait_for


def write_config(tmp_path: Path, hook: WebhookReceiver, mail: MailReceiver) -> Path:
    path = tmp_path / "smartcron.toml"
    path.write_text(
        "[collector]\n"
        "evaluate_every = 1\n"
        "alert_every = 1\n"
        'url = "https://cron.example.com"\n'
        "failing_after = 2\n"
        "[collector.channels.hook]\n"
        'kind = "webhook"\n'
        f'url = "{hook.url}?key=Secret0123456789"\n'
        "[collector.channels.ops-mail]\n"
        f'url = "{mail.url()}"\n'
    )
    return path


def test_serve_delivers_and_healthz_names_a_failing_channel(
    engine: Engine, db_url: str, tmp_path: Path, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    config = write_config(tmp_path, hook, mail)
    with start_collector(db_url, tmp_path, extra=("--config", str(config))) as service:
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        (alert_id,) = open_alerts(engine, now, "backup", severity="critical")
        wait_for(lambda: hook.alert_ids() and mail.messages, "the alert on both channels")
        assert hook.bodies[0]["alert"]["id"] == alert_id
        assert hook.bodies[0]["alert"]["url"] == f"https://cron.example.com/alerts?id={alert_id}"
        assert mail.subjects() == ["[critical] failed: backup on web1"]
        assert requests.get(f"{service.url}/healthz", timeout=10).json()["channels"] == "ok"

        hook.refusing = True
        # Two alerts in one pass: two messages, two failed attempts (failing_after = 2).
        open_alerts(engine, now, "report", "cleanup", severity="critical")
        wait_for(
            lambda: (
                requests.get(f"{service.url}/healthz", timeout=10).json().get("channels")
                == "failing"
            ),
            "/healthz saying the channel fails",
        )
        health = requests.get(f"{service.url}/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["channels_failing"] == ["hook"]
        wait_for(lambda: any("channel_failing" in s for s in mail.subjects()),
                 "channel_failing on the mail channel")  # fmt: skip
        log = service.log()
    assert "Secret0123456789" not in log
    assert "Secret0123456789" not in health.text


def run_test_alert(config: Path, channel: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCRON_")}
    command = [collector_bin(), "test-alert", "--config", str(config), channel]
    return subprocess.run(
        command, capture_output=True, text=True, env=clean, timeout=60, check=False
    )


def test_test_alert_sends_one_message_and_says_what_happened(
    tmp_path: Path, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    config = write_config(tmp_path, hook, mail)
    done = run_test_alert(config, "hook")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"hook (webhook, http://127.0.0.1:{hook.port}/…): the test message was sent"
    )
    assert hook.events() == ["test"]
    # Its link, as a real alert's, is on the configured page: the alerts list.
    assert hook.bodies[0]["alert"]["url"] == "https://cron.example.com/alerts"
    assert run_test_alert(config, "ops-mail").returncode == 0
    assert mail.subjects() == ["smartcron: test message to ops-mail"]
    assert "https://cron.example.com/alerts" in str(mail.messages[0].get_payload())

    hook.refusing = True
    refused = run_test_alert(config, "hook")
    assert refused.returncode == 1
    assert "the test message was not sent: HTTP 503" in refused.stderr
    assert "Secret0123456789" not in refused.stderr
    unknown = run_test_alert(config, "pager")
    assert unknown.returncode == 2
    assert "no channel 'pager' in [collector.channels]; known: hook, ops-mail" in unknown.stderr


def test_test_alert_without_a_page_address_says_url_null(
    tmp_path: Path, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    """As a real alert sent by `alerts` with no `url` configured: the key, null (a
    receiver reads one shape)."""
    config = write_config(tmp_path, hook, mail)
    config.write_text(config.read_text().replace('url = "https://cron.example.com"\n', ""))
    done = run_test_alert(config, "hook")
    assert done.returncode == 0, done.stderr
    (body,) = hook.bodies
    assert "url" in body["alert"]
    assert body["alert"]["url"] is None
