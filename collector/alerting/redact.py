"""Keeping channel secrets out of logs, the page and error text.

A channel URL is a credential: Slack's and Telegram's tokens are its path, a mail
server's password its user part, a webhook's key often its query. It is shown as
`scheme://host/…` (for http(s) and mail, whose host is no secret) or `scheme://…`, and
every error text about a channel goes through `scrub`, which blanks each part of the
URL that could be secret (a requests error quotes the URL it failed on)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

HIDDEN = "***"
_HOST_IS_PUBLIC = ("http", "https", "mailto", "mailtos", "json", "jsons", "xml", "xmls", "form")
# Shorter pieces would blank ordinary words in the text ("api", "hook", "v1"): a whole
# part of the URL (its path, password) counts from 4 characters, a path segment or query
# value from 8 (tokens are longer).
_SHORTEST_PART = 4
_SHORTEST_PIECE = 8


def shown_url(url: str) -> str:
    """The URL as it may be shown: scheme and, where it is no secret, host and port."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(a URL that does not parse)"
    scheme = parts.scheme.lower() or "?"
    if scheme in _HOST_IS_PUBLIC and host:
        where = f"[{host}]" if ":" in host else host
        if port is not None:
            where += f":{port}"
        return f"{scheme}://{where}/…"
    return f"{scheme}://…"


def secret_parts(url: str) -> list[str]:
    """Every piece of the URL that could be a secret, longest first."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return [url]
    whole = {url, parts.path, parts.query, parts.username or "", parts.password or ""}
    if parts.scheme.lower() not in _HOST_IS_PUBLIC:
        whole |= {parts.netloc, host}
    pieces = {p for p in re.split(r"[/?&=#,]", f"{parts.path}?{parts.query}")}
    found = {p for p in whole if len(p) >= _SHORTEST_PART}
    found |= {p for p in pieces if len(p) >= _SHORTEST_PIECE}
    found |= {unquote(p) for p in found if len(unquote(p)) >= _SHORTEST_PART}
    return sorted(found, key=len, reverse=True)


class Redactor:
    """Blanks the secret parts of the given URLs in any text."""

    def __init__(self, urls: list[str]) -> None:
        found = {piece for url in urls for piece in secret_parts(url)}
        self._pattern = (
            re.compile("|".join(re.escape(p) for p in sorted(found, key=len, reverse=True)))
            if found
            else None
        )

    def scrub(self, text: str) -> str:
        return self._pattern.sub(HIDDEN, text) if self._pattern else text
