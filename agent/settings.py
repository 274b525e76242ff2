"""The agent's settings: `[agent]` of the wrapper's TOML file < `SMARTCRON_*` < flags.

One pydantic model checks every value, each through the same parser the wrapper
uses for its own flags (durations, the collector URL, a token or file:PATH), so a
bad value gets the same one line, naming it and the fix, and exit 2.
`[defaults]` lends the agent what it shares with the wrapper: collector, token
and state_dir, so that one file configures both.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from smartcron.wrapper import validate as v
from smartcron.wrapper.settings import DEFAULT_CONFIG, default_state_dir
from smartcron.wrapper.textfile import UnreadableFile, read_small_file
from smartcron.wrapper.validate import SettingError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

CONFIG_MAX = 1024 * 1024
MAX_BATCH = 1000  # the collector's cap on reports per POST
SHARED = ("collector", "token", "state_dir")  # taken from [defaults] too
DURATIONS = ("interval", "connect_timeout", "read_timeout", "backoff_min", "backoff_max")
# The environment variable of each setting; the first three are the wrapper's own.
ENV = {
    "collector": "SMARTCRON_COLLECTOR_URL",
    "token": "SMARTCRON_TOKEN",
    "state_dir": "SMARTCRON_STATE_DIR",
    "interval": "SMARTCRON_AGENT_INTERVAL",
    "batch_size": "SMARTCRON_AGENT_BATCH_SIZE",
    "connect_timeout": "SMARTCRON_AGENT_CONNECT_TIMEOUT",
    "read_timeout": "SMARTCRON_AGENT_READ_TIMEOUT",
    "backoff_min": "SMARTCRON_AGENT_BACKOFF_MIN",
    "backoff_max": "SMARTCRON_AGENT_BACKOFF_MAX",
    "host": "SMARTCRON_AGENT_HOST",
}


class AgentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    collector: str | None = None
    token: str | None = None
    state_dir: str = ""
    interval: float = 30.0
    batch_size: int = 500
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    # Waits between attempts while the collector is down: backoff_min, doubling, up
    # to backoff_max, each with jitter, and never shorter than a Retry-After.
    backoff_min: float = 2.0
    backoff_max: float = 300.0
    host: str = ""
    # Where the heartbeat's crontab scan looks (agent/discover.py's Places); for chroots
    # and tests. spool_dir empty: the system's usual places.
    system_crontab: str = "/etc/crontab"
    cron_dir: str = "/etc/cron.d"
    spool_dir: str = ""

    @field_validator(*DURATIONS, mode="before")
    @classmethod
    def _duration(cls, value: Any, info: Any) -> float:
        seconds = v.parse_duration(value, _flag(info.field_name))
        if seconds <= 0:
            raise SettingError(f"{_flag(info.field_name)}: give a positive duration, not 0")
        return seconds

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch(cls, value: Any) -> int:
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        if number is None or not 1 <= number <= MAX_BATCH:
            raise SettingError(
                f"--batch-size: {value!r} is not a whole number from 1 to {MAX_BATCH}; "
                f"give a number of reports per POST, such as 500"
            )
        return number

    @field_validator("collector", mode="before")
    @classmethod
    def _collector(cls, value: Any) -> str | None:
        return None if value is None else v.parse_url(value, "--collector")

    @field_validator("token", mode="before")
    @classmethod
    def _token(cls, value: Any) -> str | None:
        return None if value is None else v.parse_token(value, "--token")

    @field_validator("state_dir", "host", "system_crontab", "cron_dir", "spool_dir", mode="before")
    @classmethod
    def _text(cls, value: Any, info: Any) -> str:
        return "" if value in (None, "") else v.parse_text(value, _flag(info.field_name))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def resolve_settings(
    flags: dict[str, Any], environ: dict[str, str] | os._Environ[str], config: str | None
) -> AgentSettings:
    """The settings from the config file, the environment and `flags` (None = not
    given). SettingError names the first bad value."""
    values: dict[str, Any] = {}
    path = config or environ.get("SMARTCRON_CONFIG") or None
    if path is None and os.path.exists(DEFAULT_CONFIG):
        path = DEFAULT_CONFIG
    if path is not None:
        values |= _config_values(path)
    values |= {name: environ[var] for name, var in ENV.items() if environ.get(var)}
    values |= {name: value for name, value in flags.items() if value is not None}
    try:
        settings = AgentSettings.model_validate(values)
    except ValidationError as error:
        raise _setting_error(error) from None
    if settings.backoff_max < settings.backoff_min:
        raise SettingError(
            f"--backoff-max ({settings.backoff_max:g}s) is shorter than --backoff-min "
            f"({settings.backoff_min:g}s); raise the cap or lower the minimum"
        )
    state_dir = os.path.abspath(settings.state_dir or default_state_dir(environ))
    return settings.model_copy(
        update={"state_dir": state_dir, "host": settings.host or os.uname().nodename}
    )


def _setting_error(error: ValidationError) -> SettingError:
    first = error.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, SettingError):
        return cause
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        known = ", ".join(AgentSettings.model_fields)
        return SettingError(f"[agent] unknown setting {key!r}; use one of {known}")
    return SettingError(f"{_flag(key)}: {first['msg']}")


def _config_values(path: str) -> dict[str, Any]:
    """[defaults]' shared keys, then [agent], from the TOML file at `path`."""
    try:
        data = read_small_file(path, CONFIG_MAX)
        document = tomllib.loads(data.decode("utf-8"))
    except UnreadableFile as error:
        raise SettingError(
            f"config {path}: cannot read it ({error}); fix the path or permissions, "
            "or pass --config with another file"
        ) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as error:
        raise SettingError(
            f"config {path}: not valid TOML text ({error}); fix the syntax"
        ) from None
    defaults = document.get("defaults", {})
    agent = document.get("agent", {})
    if not isinstance(defaults, dict) or not isinstance(agent, dict):
        raise SettingError(f"config {path}: [defaults] and [agent] must be tables")
    values = {
        key.replace("-", "_"): value
        for key, value in defaults.items()
        if key.replace("-", "_") in SHARED
    }
    for key, value in agent.items():
        name = key.replace("-", "_")
        if name not in AgentSettings.model_fields:
            known = ", ".join(AgentSettings.model_fields)
            raise SettingError(
                f"config {path}: [agent] unknown setting {key!r}; use one of {known}"
            )
        values[name] = value
    return values
