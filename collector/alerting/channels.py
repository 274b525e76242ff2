"""Sending one message to one channel: Apprise for every URL it knows, or smartcron's own
JSON webhook. A send either returns or raises SendFailed with a reason that holds no
secret of the channel's URL."""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Protocol

import requests

from .redact import Redactor, shown_url

if TYPE_CHECKING:
    from .config import ChannelConfig
    from .messages import Message

log = logging.getLogger("smartcron.collector.alerts")
USER_AGENT = "smartcron-collector"
_ERROR_MAX = 500


class SendFailed(Exception):
    """The channel did not take the message; str() is the reason, secrets blanked."""


class Sender(Protocol):
    name: str

    def send(self, message: Message) -> None: ...


class WebhookSender:
    """POSTs DESIGN.md's JSON body; any 2xx is taken, anything else is a failure."""

    def __init__(self, name: str, config: ChannelConfig) -> None:
        self.name = name
        self.config = config
        self._redactor = Redactor([config.url])
        self._local = threading.local()  # a requests.Session is not for sharing

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
        return session

    def send(self, message: Message) -> None:
        body = json.dumps(message.payload, separators=(",", ":")).encode()
        try:
            answer = self._session().post(
                self.config.url,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=self.config.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise SendFailed(self._reason(f"{type(error).__name__}: {error}")) from None
        if not 200 <= answer.status_code < 300:
            raise SendFailed(self._reason(f"HTTP {answer.status_code} {answer.reason or ''}"))

    def _reason(self, text: str) -> str:
        return self._redactor.scrub(text)[:_ERROR_MAX]


class AppriseSender:
    """Any Apprise URL (mailto://, mailtos://, slack://, msteams://, ntfy://, …)."""

    def __init__(self, name: str, config: ChannelConfig) -> None:
        import apprise

        self.name = name
        self.config = config
        self._redactor = Redactor([config.url])
        self._apprise = apprise
        self._service = apprise.Apprise.instantiate(config.url)
        if self._service is None:
            raise ValueError(
                f"channels.{name}.url: Apprise does not know this URL ({shown_url(config.url)}); "
                'see Apprise\'s list of URLs, or set kind = "webhook" for an http(s) receiver'
            )

    def send(self, message: Message) -> None:
        apprise = self._apprise
        body_format = apprise.NotifyFormat.HTML if message.html else apprise.NotifyFormat.TEXT
        notifier = apprise.Apprise()
        notifier.add(self._service)
        # Apprise says why a send failed only in its log: catch this send's lines.
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            ok = notifier.notify(body=message.body, title=message.title, body_format=body_format)
        if not ok:
            lines = [line for line in captured.getvalue().splitlines() if line.strip()]
            reason = "; ".join(lines[-3:]) or "Apprise reported a failure"
            raise SendFailed(self._redactor.scrub(reason)[:_ERROR_MAX])


def make_sender(name: str, config: ChannelConfig) -> Sender:
    """The sender for a configured channel; ValueError if its URL is unusable."""
    if config.kind == "webhook":
        return WebhookSender(name, config)
    return AppriseSender(name, config)


def make_senders(channels: dict[str, ChannelConfig]) -> dict[str, Sender]:
    return {name: make_sender(name, config) for name, config in channels.items()}
