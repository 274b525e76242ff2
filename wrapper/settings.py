"""Resolve the wrapper's settings from every layer, remembering where each came from.

Precedence (lowest first): built-in defaults < config `[defaults]` < config
`[jobs.NAME]` < environment < flags.
"""

from __future__ import annotations

import os
import re

from .options import BY_NAME, OPTIONS, ParsedArgs
from .validate import SettingError, parse_name
from .zone import host_zone, zone_from_environment

DEFAULT_CONFIG = "/etc/smartcron/smartcron.toml"
# Interpreters and launchers whose first argument names the job better than they do.
_LAUNCHERS = {
    "sh", "bash", "dash", "zsh", "env", "nice", "ionice", "nohup", "php", "node", "ruby",
    "perl", "python", "python3", "java", "flock", "timeout", "sudo", "exec",
}  # fmt: skip
_SHELLS = {"sh", "bash", "dash", "zsh"}
_SCRIPT_EXTENSIONS = {"sh", "bash", "py", "php", "pl", "rb", "js", "mjs", "ts"}
# Launcher options that take a value, so the value is not taken for the command.
_TAKES_VALUE = {
    "nice": {"-n", "--adjustment"}, "ionice": {"-c", "-n", "--class", "--classdata"},
    "timeout": {"-s", "-k", "--signal", "--kill-after"}, "flock": {"-w", "-E", "--timeout"},
    "sudo": {"-u", "-g", "--user", "--group"}, "env": {"-u", "--unset", "-C", "--chdir"},
}  # fmt: skip


class Settings:
    """The resolved plan for one run. Attributes mirror the option table."""

    name: str
    timeout: float | None
    kill_after: float
    retries: int
    retry_delay: float
    retry_max_delay: float
    retry_timeouts: bool
    lock: bool
    lock_wait: float
    max_memory: int | None
    breaker: bool
    breaker_threshold: int
    breaker_window: float
    breaker_cooldown: float
    schedule: str | None
    timezone: str
    priority: int
    grace: float | None
    min_duration: float | None
    max_duration: float | None
    alert_after: int
    tags: tuple[str, ...]
    jitter: float
    quiet: bool
    output_stall: float
    collector: str | None
    token: str | None
    delivery_timeout: float
    state_dir: str
    config: str | None
    dry_run: bool
    reset_breaker: bool

    def __init__(self) -> None:
        self.command: list[str] = []
        self.sources: dict[str, str] = {}


def resolve(parsed: ParsedArgs, environ: os._Environ[str] | dict[str, str]) -> Settings:
    settings = Settings()
    settings.command = parsed.command
    settings.reset_breaker = bool(parsed.values.get("reset_breaker", False))
    if not parsed.command and not settings.reset_breaker:
        raise SettingError(
            "no command given; put it after '--', "
            "e.g. smartcron-wrap --name backup -- /usr/local/bin/backup"
        )

    if "name" in parsed.values:
        settings.name = parse_name(parsed.values["name"])
        settings.sources["name"] = "flag"
    elif parsed.command:
        settings.name = derive_name(parsed.command)
        settings.sources["name"] = "derived from the command"
    else:
        raise SettingError("--reset-breaker needs --name NAME to know which job to reset")

    config_path, config_source = _config_path(parsed, environ)
    defaults_table: dict[str, object] = {}
    job_table: dict[str, object] = {}
    if config_path is not None:
        from .config import load_tables  # pydantic is imported only when a file is in play

        defaults_table, job_table = load_tables(config_path, settings.name)
    settings.config = config_path
    settings.sources["config"] = config_source

    for option in OPTIONS:
        if option.name in ("name", "config", "reset_breaker"):
            continue
        value, source = option.default, "default"
        if option.name in defaults_table:
            value, source = defaults_table[option.name], "config [defaults]"
        if option.name in job_table:
            value, source = job_table[option.name], f"config [jobs.{settings.name}]"
        if option.env and environ.get(option.env):
            assert option.parse is not None
            value, source = option.parse(environ[option.env], option.env), f"env {option.env}"
        if option.name in parsed.values:
            assert option.parse is not None
            value, source = option.parse(parsed.values[option.name], option.flag), "flag"
        setattr(settings, option.name, value)
        settings.sources[option.name] = source

    _resolve_timezone(settings, environ)
    settings.state_dir = os.path.abspath(settings.state_dir or default_state_dir(environ))
    _check_relations(settings)
    return settings


def _resolve_timezone(settings: Settings, environ: os._Environ[str] | dict[str, str]) -> None:
    """The flag or config value (validated), else CRON_TZ or TZ when either names a known
    zone, else the host's zone (wrapper/zone.py)."""
    if settings.sources["timezone"] != "flag":
        found = zone_from_environment(environ)
        if found is not None:
            settings.timezone, settings.sources["timezone"] = found
    if not settings.timezone:  # the option's default is None
        settings.timezone, settings.sources["timezone"] = host_zone(environ)


def _config_path(
    parsed: ParsedArgs, environ: os._Environ[str] | dict[str, str]
) -> tuple[str | None, str]:
    if "config" in parsed.values:
        return str(parsed.values["config"]), "flag"
    if environ.get("SMARTCRON_CONFIG"):
        return environ["SMARTCRON_CONFIG"], "env SMARTCRON_CONFIG"
    if os.path.exists(DEFAULT_CONFIG):
        return DEFAULT_CONFIG, "default (present)"
    return None, "none"


def _check_relations(settings: Settings) -> None:
    if settings.retry_max_delay < settings.retry_delay:
        raise SettingError(
            f"--retry-max-delay ({settings.retry_max_delay:g}s) is shorter than --retry-delay "
            f"({settings.retry_delay:g}s); raise the cap or lower the delay"
        )
    if settings.delivery_timeout == 0:
        raise SettingError(
            "--delivery-timeout: 0 would give up on every delivery; give a positive duration"
        )
    if settings.output_stall == 0:
        raise SettingError(
            "--output-stall: 0 would drop the output whenever the reader is a moment "
            "behind; give a positive duration"
        )
    if settings.timeout == 0:
        raise SettingError("--timeout: 0 would kill every run at once; give a positive duration")
    _check_expectations(settings)


def _check_expectations(settings: Settings) -> None:
    """The alert options among themselves: a value that would make every run alert."""
    if settings.grace == 0:
        raise SettingError(
            "--grace: 0 would count every run as missed the moment its minute came; "
            "give a positive duration, e.g. --grace 10m"
        )
    if settings.grace is not None and settings.jitter >= settings.grace:
        # The run starts after its jitter: a grace within it would miss runs that did run.
        raise SettingError(
            f"--grace ({settings.grace:g}s) is not longer than --jitter ({settings.jitter:g}s): "
            "a run delayed by its jitter would count as missed; raise --grace or lower --jitter"
        )
    if settings.max_duration == 0:
        raise SettingError(
            "--max-duration: 0 would call every run too slow; give a positive duration"
        )
    low, high = settings.min_duration, settings.max_duration
    if low is not None and high is not None and low > high:
        raise SettingError(
            f"--min-duration ({low:g}s) is longer than --max-duration ({high:g}s): every "
            "successful run would alert; lower the minimum or raise the maximum"
        )


def default_state_dir(environ: os._Environ[str] | dict[str, str]) -> str:
    if os.geteuid() == 0:
        return "/var/lib/smartcron"
    base = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "smartcron")


def derive_name(command: list[str]) -> str:
    """A job name from the command, for lines without --name:
    `php /srv/app/sync.php` -> `sync`, `/usr/local/bin/backup.sh --full` -> `backup`,
    `nice -n 10 timeout 60 ./etl.py` -> `etl`, `sh -c 'cd /srv && make report'` -> `make`.
    """
    words = _strip_launchers(list(command))
    if isinstance(words, str):  # a shell's -c script: name it after its last command
        import shlex

        segments = [seg for seg in re.split(r"&&|\|\||[;|]", words) if seg.strip()]
        try:
            inner = shlex.split(segments[-1]) if segments else []
        except ValueError:
            inner = segments[-1].split()
        return derive_name(inner) if inner else "job"
    base = os.path.basename(words[0]) if words else ""
    stem, dot, extension = base.rpartition(".")
    if not (dot and stem and extension in _SCRIPT_EXTENSIONS):
        stem = base
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.")[:100]
    return name or "job"


def _strip_launchers(words: list[str]) -> list[str] | str:
    """The command without its launchers (nice, timeout, env, sh ...), or a shell's script."""
    while len(words) > 1:
        launcher = os.path.basename(words[0])
        if launcher not in _LAUNCHERS and not _versioned(launcher):
            break
        words.pop(0)
        while len(words) > 1 and words[0].startswith("-"):
            flag = words.pop(0)
            if flag == "-c" and launcher in _SHELLS:
                return words[0]
            if flag == "-m" and launcher.startswith("python"):
                return words[:1]  # python -m package.module: the module names the job
            if flag in _TAKES_VALUE.get(launcher, ()) and len(words) > 1:
                words.pop(0)
        while launcher == "env" and len(words) > 1 and "=" in words[0]:
            words.pop(0)
        if launcher in ("timeout", "flock") and len(words) > 1:
            words.pop(0)  # the duration, the lock file
    return words


def _versioned(word: str) -> bool:
    # python3.11, php8.2 and friends count as their launcher.
    return re.fullmatch(r"(python|php|ruby|perl|node)[0-9.]*", word) is not None


def describe(settings: Settings, name: str) -> str:
    """A setting's value as a person would write it, for --dry-run."""
    from .validate import format_duration, format_size

    value = getattr(settings, name)
    parse = BY_NAME[name].parse
    if value is None:
        return "-"
    if name == "token":
        return "(set)"
    if name == "max_memory":
        return format_size(int(value))
    if isinstance(value, float) and parse is not None and parse.__name__ == "parse_duration":
        return format_duration(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ",".join(value) or "-"
    return str(value)
