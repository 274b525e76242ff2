"""Sending one message to one channel: Apprise for every URL it knows, or smartcron's own
JSON webhook. A send either returns or raises SendFailed with a reason that holds no
secret of the channel's URL."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import TYPE_CHECKING, Any, Protocol

import requests

from .log_scrub import guard_library_logs, sending_to, without_channel_mark
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
        guard_library_logs([config.url])  # urllib3 logs the request's path at DEBUG
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
            with sending_to(self.name):
                answer = self._session().post(
                    self.config.url,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=self.config.timeout,
                    allow_redirects=False,
                )
        except requests.Timeout:
            raise SendFailed(f"no answer within {self.config.timeout:g} s") from None
        except requests.ConnectionError as error:
            raise SendFailed(self._reason(unreachable(error))) from None
        except requests.RequestException as error:
            raise SendFailed(self._reason(f"{type(error).__name__}: {error}")) from None
        if not 200 <= answer.status_code < 300:
            raise SendFailed(self._reason(f"HTTP {answer.status_code} {answer.reason or ''}"))

    def _reason(self, text: str) -> str:
        return self._redactor.scrub(text)[:_ERROR_MAX]


_OS_ERROR = re.compile(r"\[Errno -?\d+\] [^'\")]+|Name or service not known|Connection refused")


def unreachable(error: requests.ConnectionError) -> str:
    """requests' text for a failed connection is urllib3's pool, retries and URL, with the
    cause at the end: keep the cause and say what to check."""
    found = _OS_ERROR.findall(str(error))
    cause = found[-1].strip() if found else f"{type(error).__name__}: {error}"
    return f"cannot connect ({cause}); check that the receiver runs and the URL's host and port"


class AppriseSender:
    """Any Apprise URL (mailto://, mailtos://, slack://, msteams://, ntfy://, …)."""

    def __init__(self, name: str, config: ChannelConfig) -> None:
        import apprise

        self.name = name
        self.config = config
        self._redactor = Redactor([config.url])
        guard_library_logs([config.url])  # before Apprise first logs the URL
        self._apprise = apprise
        # Apprise says why it refused a URL only in its log: catch the lines (its LogCapture
        # has no annotations, which mypy would refuse in this typed call).
        capture: Any = apprise.LogCapture
        fmt = "%(levelname)s %(message)s"
        with sending_to(name), capture(level=logging.WARNING, fmt=fmt) as log_:
            self._service = apprise.Apprise.instantiate(config.url)
        if self._service is None:
            apprise_log = without_channel_mark(log_.getvalue(), name)
            raise ValueError(refused_url(name, config.url, apprise_log, self._redactor))

    def send(self, message: Message) -> None:
        apprise = self._apprise
        body_format = apprise.NotifyFormat.HTML if message.html else apprise.NotifyFormat.TEXT
        notifier = apprise.Apprise()
        notifier.add(self._service)
        # Apprise says why a send failed only in its log: catch this send's lines.
        capture = apprise.LogCapture(level=logging.WARNING, fmt="%(message)s")
        with sending_to(self.name), capture as captured:
            ok = notifier.notify(body=message.body, title=message.title, body_format=body_format)
        if not ok:
            lines = [
                without_channel_mark(line, self.name)
                for line in captured.getvalue().splitlines()
                if line.strip()
            ]
            reason = "; ".join(lines[-3:]) or "Apprise reported a failure"
            raise SendFailed(self._redactor.scrub(reason)[:_ERROR_MAX])


def refused_url(name: str, url: str, apprise_log: str, redactor: Redactor) -> str:
    """Why Apprise took no service from the URL, as one line naming the fix. Apprise logs
    "Unparseable URL" for a scheme it has no plugin for, and a WARNING with the reason
    when a plugin refused the rest (mailto:// to a bare IP without ?from=, say)."""
    where = f"channels.{name}.url"
    reasons = [
        line.removeprefix("WARNING ").strip()
        for line in apprise_log.splitlines()
        if line.startswith("WARNING ") and line.removeprefix("WARNING ").strip()
    ]
    if not reasons:
        return (
            f"{where}: Apprise does not know this URL ({shown_url(url)}); "
            'see Apprise\'s list of URLs, or set kind = "webhook" for an http(s) receiver'
        )
    scheme = url.partition("://")[0].lower()
    hint = (
        "; a mail server given by IP or a host without a domain needs "
        "?to=ADDRESS&from=ADDRESS (full addresses)"
        if scheme in ("mailto", "mailtos")
        else ""
    )
    reason = redactor.scrub(reasons[-1]).rstrip(" .:")[:_ERROR_MAX]
    return (
        f"{where}: Apprise refused this URL ({shown_url(url)}): {reason}; "
        f"fix it as Apprise's page for {scheme}:// says{hint}"
    )


def make_sender(name: str, config: ChannelConfig) -> Sender:
    """The sender for a configured channel; ValueError if its URL is unusable."""
    if config.kind == "webhook":
        return WebhookSender(name, config)
    return AppriseSender(name, config)


def make_senders(channels: dict[str, ChannelConfig]) -> dict[str, Sender]:
    return {name: make_sender(name, config) for name, config in channels.items()}
