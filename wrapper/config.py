"""The config file: `[defaults]` and `[jobs.NAME]` tables of wrapper options.

Imported only when a config file is in play: pydantic checks the file's shape and
reports unknown keys, and each value goes through the same validator as its flag.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from . import limits
from .options import OPTIONS, unknown_config_key
from .textfile import UnreadableFile, read_small_file
from .validate import SettingError, is_job_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

_CONFIG_OPTIONS = {option.name: option for option in OPTIONS if option.config}


def _normalise_keys(data: Any) -> Any:
    # TOML users write both kill-after and kill_after; accept either spelling, not both.
    if not isinstance(data, dict):
        return data
    normalised: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name in normalised:
            raise ValueError(f"{key!r} is given twice (as - and _); keep one of them")
        normalised[name] = value
    return normalised


def _validate_value(cls: type[BaseModel], value: Any, info: Any) -> Any:
    if value is None:
        return None
    option = _CONFIG_OPTIONS[info.field_name]
    assert option.parse is not None
    return option.parse(value, info.field_name)


_Table = create_model(  # type: ignore[call-overload]
    "Table",
    __config__=ConfigDict(extra="forbid"),
    __validators__={
        "normalise": model_validator(mode="before")(_normalise_keys),
        "values": field_validator(*_CONFIG_OPTIONS, mode="before")(_validate_value),
    },
    **{name: (Any, None) for name in _CONFIG_OPTIONS},
)


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    defaults: dict[str, Any] = Field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # smartcron-agent's own table: the agent validates it (agent/settings.py).
    agent: dict[str, Any] = Field(default_factory=dict)
    # smartcron-collector's own table, in the same file on a host that runs both: the
    # collector validates it (collector/alerting/config.py).
    collector: dict[str, Any] = Field(default_factory=dict)


def load_tables(path: str, job: str) -> tuple[dict[str, object], dict[str, object]]:
    """The validated `[defaults]` table and the job's own `[jobs.NAME]` table.

    Only those two are validated: a typo in another job's table must not stop
    this job from running. `--dry-run` checks the whole file (`check_file`).
    """
    document = _read(path)
    defaults = _table(path, "defaults", document.defaults)
    own = _table(path, f"jobs.{job}", document.jobs.get(job, {}))
    return defaults, own


def check_file(path: str) -> list[str]:
    """Every problem in the file, one line each (for `--dry-run`)."""
    problems = []
    try:
        document = _read(path)
    except SettingError as error:
        return [str(error)]
    problems.extend(_check_job_names(path, document))
    tables = {"defaults": document.defaults} | {f"jobs.{k}": t for k, t in document.jobs.items()}
    for label, table in tables.items():
        try:
            _table(path, label, table)
        except SettingError as error:
            problems.append(str(error))
    return problems


CONFIG_MAX = 1024 * 1024  # far above any real config; /dev/zero must not be read whole


def _read(path: str) -> ConfigFile:
    fix = "fix the path or permissions, or pass --config with another file"
    try:
        data = read_small_file(path, CONFIG_MAX)
    except UnreadableFile as error:
        raise SettingError(f"config {path}: cannot read it ({error}); {fix}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise SettingError(
            f"config {path}: line {line} is not UTF-8 text; save the file as UTF-8"
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingError(f"config {path}: not valid TOML ({error}); fix the syntax") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise SettingError(
            f"config {path}: arrays or tables nested too deeply to read; "
            "options take plain values and lists of text"
        ) from None
    try:
        document = ConfigFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = _printable(".".join(str(part) for part in first["loc"]))
        raise SettingError(
            f"config {path}: [{key}] is not allowed; "
            "use only [defaults], [jobs.NAME], [agent] and [collector] tables"
        ) from None
    return document


def _check_job_names(path: str, document: ConfigFile) -> list[str]:
    return [
        f"config {path}: [jobs.{_printable(name)}] is not a valid job name; "
        f'use {limits.NAME_CHARS}, not only dots (quote it: [jobs."my.job"])'
        for name in document.jobs
        if not is_job_name(name)
    ]


def _printable(text: str) -> str:
    """A key or table name from the file, fit for a one-line message."""
    return text if text.isprintable() else repr(text)


def _table(path: str, label: str, table: dict[str, Any]) -> dict[str, object]:
    label = _printable(label)
    try:
        model = _Table.model_validate(table)
    except ValidationError as error:
        first = error.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "?"
        if first["type"] == "extra_forbidden":
            raise SettingError(
                f"config {path}: [{label}] unknown option {key!r} ({unknown_config_key(key)})"
            ) from None
        cause = first.get("ctx", {}).get("error")
        message = str(cause) if cause is not None else first["msg"]
        raise SettingError(f"config {path}: [{label}] {message}") from None
    return {key: value for key, value in model.model_dump().items() if value is not None}
