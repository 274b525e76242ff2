"""The collector's config file: the `[collector]` table of smartcron.toml.

One model for the table, validated whole when `serve` (or `alerts`, `test-alert`)
starts: the settings `serve` also takes as flags, and alert delivery's channels,
routes, rate limits, digest, reminders and daily summary. The file is shared with
smartcron-wrap and smartcron-agent, which read `[defaults]`, `[jobs.NAME]` and `[agent]`:
those tables are theirs and ignored here. A bad file or value is one line naming it and
the fix (ConfigError).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import zoneinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from smartcron.wrapper.textfile import UnreadableFile, read_small_file
from smartcron.wrapper.validate import SettingError, parse_duration

from .routing import SEVERITIES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

ENV_CONFIG = "SMARTCRON_CONFIG"
DEFAULT_CONFIG = "/etc/smartcron/smartcron.toml"
CONFIG_MAX = 1024 * 1024
CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


class ConfigError(ValueError):
    """A bad config file or value, in one line that names it and the fix."""


class _Strict(BaseModel):
    # A misspelt key is refused, never quietly ignored (a `chanels` table would
    # otherwise leave every alert undelivered).
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: Any, info: Any) -> float:
    return parse_duration(value, info.field_name)


class ChannelConfig(_Strict):
    """One destination: any Apprise URL, or smartcron's own JSON webhook."""

    url: str = Field(min_length=1, max_length=4096)
    kind: Literal["apprise", "webhook"] = "apprise"
    # At most `rate_limit` messages per `rate_window`; beyond it alerts wait and go
    # out together as one digest when the window allows (0: no limit).
    rate_limit: int = Field(default=20, ge=0, le=100_000)
    rate_window: float = 600.0
    # Seconds a send may take before it counts as failed.
    timeout: float = 10.0

    _durations = field_validator("rate_window", "timeout", mode="before")(_duration)

    @field_validator("url")
    @classmethod
    def _url_has_scheme(cls, url: str) -> str:
        if "://" not in url:
            raise SettingError("url: not a URL; give SCHEME://…, e.g. an Apprise URL")
        return url

    @model_validator(mode="after")
    def _webhook_is_http(self) -> ChannelConfig:
        if self.kind == "webhook" and not self.url.lower().startswith(("http://", "https://")):
            raise SettingError('url: a kind = "webhook" channel takes an http:// or https:// URL')
        if self.rate_window <= 0 or self.timeout <= 0:
            raise SettingError("rate_window and timeout must be more than 0 seconds")
        return self


class RouteConfig(_Strict):
    """Alerts matching every criterion given go to `channels`; the first route that
    matches wins. Patterns are shell globs (`db-*`)."""

    job: str | None = None
    host: str | None = None
    tag: str | None = None
    severity: list[str] | None = None
    min_severity: str | None = None
    rule: list[str] | None = None
    channels: list[str]

    @field_validator("severity", "rule", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("severity")
    @classmethod
    def _known_severities(cls, values: list[str] | None) -> list[str] | None:
        for value in values or []:
            _check_severity(value, "severity")
        return values

    @field_validator("min_severity")
    @classmethod
    def _known_min(cls, value: str | None) -> str | None:
        return None if value is None else _check_severity(value, "min_severity")


def _check_severity(value: str, key: str) -> str:
    if value not in SEVERITIES:
        raise SettingError(
            f"{key}: {value!r} is not a severity; use one of {', '.join(SEVERITIES)}"
        )
    return value


class SummaryConfig(_Strict):
    """The daily summary: at `time` (HH:MM) in `zone`, to `channels`."""

    time: str = "08:00"
    zone: str = "UTC"
    channels: list[str] = Field(min_length=1)

    @field_validator("time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not _CLOCK.fullmatch(value):
            raise SettingError(f'time: {value!r} is not HH:MM (24 h), e.g. "08:00"')
        return value

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SettingError(
                f"zone: {value!r} is not a time zone; use an IANA name, e.g. Europe/Berlin"
            ) from None
        return value

    def clock(self) -> dt.time:
        hour, minute = self.time.split(":")
        return dt.time(int(hour), int(minute))


class DeliveryConfig(_Strict):
    """What alert delivery needs, handed to every process of the service."""

    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    routes: list[RouteConfig] = Field(default_factory=list)
    # More alerts than this due for one channel at once go out as one digest.
    digest_threshold: int = Field(default=5, ge=1, le=100_000)
    # Open, unacknowledged critical alerts are sent again this often (0: never).
    reminder_interval: float = 4 * 3600.0
    # A channel whose attempts failed this many times in a row is failing: it shows in
    # /healthz and on the page, and raises channel_failing on the other channels.
    failing_after: int = Field(default=3, ge=1, le=1000)
    summary: SummaryConfig | None = None
    # The page's address as people reach it, for the links in alerts.
    url: str | None = None

    _durations = field_validator("reminder_interval", mode="before")(_duration)

    @model_validator(mode="after")
    def _names_are_known(self) -> DeliveryConfig:
        for name in self.channels:
            if not CHANNEL_NAME.fullmatch(name):
                raise SettingError(
                    f"channels.{name!r}: not a channel name; use letters, digits, ., _ and -"
                )
        for index, route in enumerate(self.routes):
            _known_channels(self, route.channels, f"routes[{index}].channels")
        if self.summary is not None:
            _known_channels(self, self.summary.channels, "summary.channels")
        return self


def _known_channels(config: DeliveryConfig, names: list[str], key: str) -> None:
    for name in names:
        if name not in config.channels:
            known = ", ".join(config.channels) or "none is configured"
            raise SettingError(
                f"{key}: no channel {name!r} ([collector.channels.{name}]); known: {known}"
            )


class CollectorTable(DeliveryConfig):
    """The `[collector]` table: serve's settings (each also a flag and most an
    environment variable, which win over the file) and alert delivery's."""

    db: str | None = None
    listen: str | None = None
    admin_user: str | None = None
    admin_password_hash: str | None = None
    secure_cookies: bool | None = None
    workers: int | None = Field(default=None, ge=1, le=64)
    request_timeout: float | None = None
    evaluate_every: float | None = None
    alert_every: float | None = None

    @field_validator("request_timeout", "evaluate_every", "alert_every", mode="before")
    @classmethod
    def _optional_duration(cls, value: Any, info: Any) -> float | None:
        return None if value is None else parse_duration(value, info.field_name)

    def delivery(self) -> DeliveryConfig:
        return DeliveryConfig.model_validate(
            self.model_dump(include=set(DeliveryConfig.model_fields))
        )


def config_path(given: str | None, environ: os._Environ[str] | dict[str, str]) -> str | None:
    """--config, else $SMARTCRON_CONFIG, else the default file if it exists."""
    if given:
        return given
    if environ.get(ENV_CONFIG):
        return environ[ENV_CONFIG]
    return DEFAULT_CONFIG if os.path.exists(DEFAULT_CONFIG) else None


def load_config(path: str | None) -> CollectorTable:
    """The validated `[collector]` table of the file (empty without a file)."""
    if path is None:
        return CollectorTable()
    table = _collector_table(path, _read_toml(path))
    try:
        return CollectorTable.model_validate(table)
    except ValidationError as error:
        raise ConfigError(f"config {path}: {_first_problem(error)}") from None


def _read_toml(path: str) -> dict[str, Any]:
    try:
        data = read_small_file(path, CONFIG_MAX)
    except UnreadableFile as error:
        raise ConfigError(
            f"config {path}: cannot read it ({error}); fix the path or permissions, "
            "or pass --config with another file"
        ) from None
    try:
        document: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
        return document
    except UnicodeDecodeError:
        raise ConfigError(f"config {path}: not UTF-8 text; save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config {path}: not valid TOML ({error}); fix the syntax") from None
    except RecursionError:
        raise ConfigError(f"config {path}: tables nested too deeply to read") from None


def _collector_table(path: str, document: dict[str, Any]) -> dict[str, Any]:
    table = document.get("collector", {})
    if not isinstance(table, dict):
        raise ConfigError(f"config {path}: collector must be a table ([collector])")
    # TOML users write both rate-limit and rate_limit; names of channels keep theirs.
    normalised: dict[str, Any] = _underscored(table, keep_keys_of={"channels"})
    return normalised


def _underscored(value: Any, keep_keys_of: set[str], parent: str = "") -> Any:
    if isinstance(value, list):
        return [_underscored(item, keep_keys_of) for item in value]
    if not isinstance(value, dict):
        return value
    if parent in keep_keys_of:
        return {key: _underscored(item, keep_keys_of) for key, item in value.items()}
    return {
        key.replace("-", "_"): _underscored(item, keep_keys_of, key.replace("-", "_"))
        for key, item in value.items()
    }


KEYS_DOC = 'docs/delivery.md ("Every key")'


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    key = f"[collector] {where}" if where else "[collector]"
    if first["type"] == "extra_forbidden":
        return f"{key}: unknown key; see {KEYS_DOC} for the keys of [collector]"
    if first["type"] == "missing":
        return f"{key}: missing; this key is required ({KEYS_DOC})"
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, SettingError):
        message = str(cause)
        # A field's validator names the field: the key above says it already.
        last = f"{first['loc'][-1]}: " if first["loc"] else ""
        return f"{key}: {message.removeprefix(last)}"
    return f"{key}: {first['msg'].lower()}"
