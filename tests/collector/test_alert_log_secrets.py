"""Channel secrets stay out of the libraries' own log lines: Apprise at DEBUG logs the URL
it posts to, urllib3 the request line with its path. Whatever level the operator turns
those loggers to, no record holds a secret, and each still says which channel it is."""

from __future__ import annotations

import logging

import pytest
from smartcron.collector.alerting.channels import AppriseSender, SendFailed, WebhookSender
from smartcron.collector.alerting.config import ChannelConfig
from smartcron.collector.alerting.messages import test_message as a_test_message

from tests.collector.test_alert_channels import closed_port
from tests.support.receivers import WebhookReceiver

TOKEN = "TokenAbcdef0123456789"
PASSWORD = "Passw0rdSecret"
SECRETS = (TOKEN, PASSWORD)
# Apprise's TRACE (below DEBUG) and DEBUG: what an operator turns up to see a send.
LEVELS = [1, logging.DEBUG]


def apprise_url(port: int) -> str:
    return f"json://alice:{PASSWORD}@127.0.0.1:{port}/hook/{TOKEN}"


def library_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("apprise", "urllib3"))]


def assert_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        line = caplog.handler.format(record)
        for secret in SECRETS:
            assert secret not in line, f"{secret!r} in {record.name}: {line}"


@pytest.mark.parametrize("level", LEVELS)
def test_apprise_debug_lines_hold_no_secret(caplog: pytest.LogCaptureFixture, level: int) -> None:
    caplog.set_level(level, logger="apprise")
    caplog.set_level(level, logger="urllib3")
    with WebhookReceiver() as hook:
        AppriseSender("ops-json", ChannelConfig(url=apprise_url(hook.port))).send(
            a_test_message("ops-json", None)
        )
        assert len(hook.bodies) == 1  # it was sent, through the logging
    records = library_records(caplog)
    posted = [r.getMessage() for r in records if "POST URL" in r.getMessage()]
    assert posted, "Apprise logged no POST URL line at this level"
    # The line still says where it went: the channel, and the host (no secret); the
    # path, which holds the token, is blanked whole.
    assert posted[0].startswith("channel ops-json: ")
    assert f"http://127.0.0.1:{hook.port}*** " in posted[0]
    assert any(r.name.startswith("urllib3") for r in records)
    assert_no_secret(caplog)


def test_a_failed_apprise_send_logs_and_says_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="apprise")
    caplog.set_level(logging.DEBUG, logger="urllib3")
    sender = AppriseSender("ops-json", ChannelConfig(url=apprise_url(closed_port())))
    with pytest.raises(SendFailed) as failed:
        sender.send(a_test_message("ops-json", None))
    assert_no_secret(caplog)
    reason = str(failed.value)
    assert not any(secret in reason for secret in SECRETS)
    # The reason names no channel of its own: its callers put the channel first.
    assert "channel ops-json" not in reason
    assert any(r.levelno >= logging.WARNING for r in library_records(caplog))


def test_urllib3_request_lines_of_a_webhook_hold_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="urllib3")
    with WebhookReceiver() as hook:
        url = f"http://127.0.0.1:{hook.port}/hooks/{TOKEN}"
        WebhookSender("hook", ChannelConfig(kind="webhook", url=url)).send(
            a_test_message("hook", None)
        )
        assert len(hook.bodies) == 1
    requests = [r.getMessage() for r in library_records(caplog) if "POST" in r.getMessage()]
    assert requests == [f'channel hook: http://127.0.0.1:{hook.port} "POST *** HTTP/1.1" 204 0']
    assert_no_secret(caplog)
