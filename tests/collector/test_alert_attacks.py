"""Attacks on the alert channels and the alert centre, each the proof of its fix: what a
cron host with the ingest token can put in a report must not add mail headers or
recipients, nor reach a channel as markup."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcron.collector.alerting.channel_health import channel_health
from smartcron.collector.alerting.config import ChannelConfig, DeliveryConfig, SummaryConfig
from smartcron.collector.alerting.delivery import Delivery, run_delivery_pass
from smartcron.collector.db import tables
from sqlalchemy import Engine, select, update

from tests.support.outbox import open_alerts
from tests.support.receivers import MailReceiver, WebhookReceiver

T0 = dt.datetime(2026, 3, 2, 9, 0, 0)


def config_for(hook: WebhookReceiver, mail: MailReceiver, **extra: Any) -> DeliveryConfig:
    channels = {
        "hook": ChannelConfig(kind="webhook", url=hook.url),
        "mail": ChannelConfig(url=mail.url()),
    }
    return DeliveryConfig(channels=channels, url="https://cron.example.com", **extra)


def test_a_host_name_with_cr_lf_adds_no_mail_header_nor_recipient(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    host = "web1\r\nBcc: victim@evil.example\r\nX-Injected: yes"
    open_alerts(engine, T0, "backup", host=host)
    run_delivery_pass(engine, Delivery(config_for(hook, mail)), T0)
    assert mail.recipients == [["ops@example.com"]]
    (message,) = mail.messages
    assert message["X-Injected"] is None and message["Bcc"] is None
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])


XSS = '<img src=x onerror="alert(1)">'


def test_markup_in_host_and_summary_reaches_the_mail_as_text(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    summary = SummaryConfig(time="08:00", zone="UTC", channels=["mail"])
    delivery = Delivery(config_for(hook, mail, summary=summary))
    # Opened an hour before the pass: inside the summary's last 24 hours.
    (alert_id,) = open_alerts(engine, T0 - dt.timedelta(hours=1), "backup", host=f"web1{XSS}")
    with engine.begin() as connection:
        connection.execute(
            update(tables.alerts).where(tables.alerts.c.id == alert_id).values(summary=XSS)
        )
    run_delivery_pass(engine, delivery, T0)  # the alert, then the day's summary (after 08:00)
    assert len(mail.messages) == 2
    daily = next(i for i, subject in enumerate(mail.subjects()) if "daily summary" in subject)
    event = mail.messages[1 - daily]
    # An alert's mail is plain text: nothing in it renders as markup.
    assert event.get_content_type() == "text/plain" and XSS in event.get_content()
    html = mail.html_of(daily)  # the summary is HTML: the markup arrives escaped
    assert "<img" not in html and "&lt;img src=x onerror=" in html
    assert hook.bodies[0]["alert"]["host"] == f"web1{XSS}"  # JSON carries it as a string


def test_a_mail_password_stays_out_of_attempts_and_health(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    # The receiver offers no AUTH: a login with the channel's password fails.
    password = "Pw0rdSecret42"
    channels = {
        "mail": ChannelConfig(url=mail.url().replace("mailto://", f"mailto://ops:{password}@"))
    }
    config = DeliveryConfig(channels=channels, url="https://cron.example.com")
    open_alerts(engine, T0, "backup")
    run_delivery_pass(engine, Delivery(config), T0)
    a = tables.delivery_attempts.c
    with engine.connect() as connection:
        errors = [row.error for row in connection.execute(select(a.ok, a.error))]
    assert errors, "no delivery attempt recorded"
    health = channel_health(engine, config)
    shown = " ".join(str(e) for e in errors) + repr([h for h in health])
    assert password not in shown
