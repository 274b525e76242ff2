"""The collector's settings, from flags and SMARTCRON_* environment variables."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, Field


class CollectorSettings(BaseModel):
    db_url: str
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    admin_user: str = "admin"
    admin_password_hash: str | None = None
    # Cookies marked Secure are not sent over plain http: on by default only when
    # the collector is told it sits behind https.
    secure_cookies: bool = False
    session_hours: float = 12.0
    max_batch_reports: int = 1000
    max_body_bytes: int = 5 * 1024 * 1024
    login_failure_limit: int = 5
    login_failure_window_s: int = 15 * 60
    token_cache_s: float = 30.0

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"
