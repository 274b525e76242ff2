"""A channel's send failures as the operator reads them: one reason that names what to
check, never urllib3's pool and retry text, never the URL's secrets."""

from __future__ import annotations

import socket

import pytest
from smartcron.collector.alerting.channels import SendFailed, WebhookSender
from smartcron.collector.alerting.config import ChannelConfig
from smartcron.collector.alerting.messages import test_message as a_test_message


def closed_port() -> int:
    """A loopback port nothing listens on: bound, then closed, so a connect is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_receiver_that_is_not_running_is_named_as_such() -> None:
    url = f"http://127.0.0.1:{closed_port()}/hooks/Secret0123456789"
    sender = WebhookSender("hook", ChannelConfig(kind="webhook", url=url))
    with pytest.raises(SendFailed) as failed:
        sender.send(a_test_message("hook", None))
    reason = str(failed.value)
    assert reason.startswith("cannot connect (")
    assert "Connection refused" in reason
    assert reason.endswith("check that the receiver runs and the URL's host and port")
    assert "HTTPConnectionPool" not in reason
    assert "Max retries" not in reason
    assert "Secret0123456789" not in reason
