"""Keeping channel secrets out of the log lines of the libraries that send for us.

At DEBUG Apprise logs the URL it posts to ("JSON POST URL: http://host/hook/TOKEN", a
Slack webhook's tokens), and urllib3 the request line with its path, for Apprise's
sends and the webhook's alike. Those loggers are the operator's to turn up, so every
record they make is scrubbed by a filter on the logger itself: a logger's filters run
before any handler sees the record, whatever level or handler the operator set, and
before Apprise's own LogCapture (which channels.py reads reasons from).

The filter blanks with the same Redactor as every other text about a channel, over the
URLs of every channel made in this process, and names the channel being sent to, so the
line still says where it went."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator

from .redact import Redactor

# Apprise logs on the one "apprise" logger (its plugins included); urllib3's request
# lines come from its connectionpool module. A filter on a logger does not see its
# children's records, so each logger that makes records is named.
GUARDED_LOGGERS = ("apprise", "urllib3.connectionpool")

# Apprise runs each notification in a thread of its own with a copy of the caller's
# context, so the channel set here is seen there.
_sending_to: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "smartcron_sending_to", default=None
)


class ChannelSecretsFilter(logging.Filter):
    """Blanks the known channel URLs' secrets in a record and says which channel it is
    about; it never drops a record."""

    def __init__(self) -> None:
        super().__init__()
        self._urls: set[str] = set()
        self._redactor = Redactor([])
        self._lock = threading.Lock()

    def add_urls(self, urls: list[str]) -> None:
        with self._lock:
            if not set(urls) - self._urls:
                return
            self._urls |= set(urls)
            # One assignment: a record filtered in another thread meanwhile uses the old
            # or the new Redactor, both whole.
            self._redactor = Redactor(sorted(self._urls))

    def filter(self, record: logging.LogRecord) -> bool:
        scrub = self._redactor.scrub
        channel = _sending_to.get()
        text = scrub(record.getMessage())
        record.msg = f"channel {channel}: {text}" if channel else text
        record.args = None
        if record.exc_info:
            # The formatted traceback, scrubbed, stands in for the exception (whose text
            # is a requests error quoting the URL); handlers print exc_text as it is.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_FILTER = ChannelSecretsFilter()
_installed = threading.Lock()


def guard_library_logs(urls: list[str]) -> None:
    """From now on, these channel URLs' secrets are blanked in the guarded loggers'
    records (the filter is put on each logger once per process)."""
    _FILTER.add_urls(urls)
    with _installed:
        for name in GUARDED_LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


@contextlib.contextmanager
def sending_to(channel: str) -> Iterator[None]:
    """The library log records made inside are marked as about this channel."""
    token = _sending_to.set(channel)
    try:
        yield
    finally:
        _sending_to.reset(token)


def without_channel_mark(text: str, channel: str) -> str:
    """Captured lines as the library wrote them (for the reasons in errors, which name
    the channel themselves)."""
    return text.replace(f"channel {channel}: ", "")
