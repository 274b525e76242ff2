"""The agent's HTTP client: one requests Session (kept-alive connections) to the collector.

Every request has a connect and a read timeout. An answer that means "not now"
(no connection, a timeout, 5xx, 429) raises NotNow with the wait the collector
asked for, if any (Retry-After, read by wrapper/answer.py); the caller backs off.
Other answers are returned for the caller to read.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from smartcron.wrapper import __version__
from smartcron.wrapper.answer import is_not_now, retry_after_seconds

USER_AGENT = f"smartcron-agent/{__version__}"


class NotNow(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Answer:
    def __init__(self, status: int, document: Any, text: str) -> None:
        self.status = status
        self.document = document
        self.text = text

    def error_text(self) -> str:
        if isinstance(self.document, dict) and "error" in self.document:
            return str(self.document["error"])[:300]
        return self.text[:300] or "no reason given"


class Collector:
    def __init__(
        self, url: str, token: str | None, connect_timeout: float, read_timeout: float
    ) -> None:
        self.url = url.rstrip("/")
        self.timeouts = (connect_timeout, read_timeout)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def post(self, path: str, body: bytes) -> Answer:
        return self._send("POST", path, data=body, headers={"Content-Type": "application/json"})

    def get(self, path: str, params: dict[str, str] | None = None) -> Answer:
        return self._send("GET", path, params=params)

    def _send(self, method: str, path: str, **kwargs: Any) -> Answer:
        try:
            response = self.session.request(
                method, self.url + path, timeout=self.timeouts, allow_redirects=False, **kwargs
            )
            text = response.text
        except requests.RequestException as error:
            raise NotNow(f"cannot reach {self.url} ({type(error).__name__}: {error})") from None
        try:
            document = json.loads(text) if text else None
        except ValueError:
            document = None
        answer = Answer(response.status_code, document, text)
        if is_not_now(response.status_code):
            raise NotNow(
                f"collector answered {response.status_code}: {answer.error_text()}",
                retry_after_seconds(response.headers.get("Retry-After")),
            )
        return answer
