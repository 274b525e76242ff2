"""Real receivers on loopback that record exactly what alert channels send: an SMTP server
(aiosmtpd) and a webhook (ThreadingHTTPServer) that can be told to refuse for a while.

with WebhookReceiver() as hook, MailReceiver() as mail:
    ... hook.bodies, mail.messages ...
"""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


class WebhookReceiver:
    """Records each POSTed JSON body; while `refusing`, answers 503 and records nothing."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.refused = 0
        self.refusing = False
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(length)
                with receiver._lock:
                    if receiver.refusing:
                        receiver.refused += 1
                        status = 503
                    else:
                        receiver.bodies.append(json.loads(data))
                        status = 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[str]:
        with self._lock:
            return [body["event"] for body in self.bodies]

    def alert_ids(self) -> list[int]:
        """Every alert id received, one per alert in a digest."""
        with self._lock:
            bodies = list(self.bodies)
        ids: list[int] = []
        for body in bodies:
            if "alert" in body:
                ids.append(body["alert"]["id"])
            ids.extend(alert["id"] for alert in body.get("alerts", []))
        return ids


class _Recorder:
    def __init__(self, receiver: MailReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.receiver.lock:
            self.receiver.messages.append(message)
            self.receiver.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailReceiver:
    """An SMTP server on loopback; `url(to)` is the Apprise mailto:// URL that reaches it."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.lock = threading.Lock()
        self.port = _free_port()
        self._controller = Controller(_Recorder(self), hostname="127.0.0.1", port=self.port)

    def url(self, to: str = "ops@example.com") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=smartcron@example.com&to={to}"

    def __enter__(self) -> MailReceiver:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop()

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(message["Subject"]) for message in self.messages]

    def html_of(self, index: int) -> str:
        with self.lock:
            message = self.messages[index]
        part = message.get_body(preferencelist=("html",))
        assert part is not None, "no HTML part"
        return str(part.get_content())
