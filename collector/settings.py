"""The collector's settings, from flags and SMARTCRON_* environment variables."""

from __future__ import annotations

import ipaddress
import json
import os

from pydantic import BaseModel, Field

from .alerting.config import DeliveryConfig

ENV_SETTINGS = "SMARTCRON_COLLECTOR_SETTINGS_JSON"  # hands settings to uvicorn's workers


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
    # A connection that has not sent a whole request within this is closed (slowloris).
    request_timeout_s: float = Field(default=10.0, gt=0)
    # None: as many as the process's file-descriptor limit leaves room for.
    max_connections: int | None = Field(default=None, ge=1)
    # How often the evaluation pass looks for jobs that time made late (0: never).
    evaluate_every_s: float = Field(default=15.0, ge=0, le=86400)
    # How often the alert pass runs (collector/alerting/; one replica at a time; 0: never).
    alert_every_s: float = Field(default=15.0, ge=0, le=86400)
    # Channels, routes, digest, reminders, the daily summary ([collector] of the config).
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


def settings_from_environment() -> CollectorSettings:
    """The settings `serve` handed to this process (and to each of its workers)."""
    return CollectorSettings.model_validate(json.loads(os.environ[ENV_SETTINGS]))
