"""The time zone a job's schedule is read in, as its IANA name (`Europe/Berlin`).

Resolution, first match wins: `--timezone` (or the config file), `CRON_TZ`, `TZ`,
the host's `/etc/localtime` (the name is the symlink's path below `zoneinfo/`),
`/etc/timezone`, else `UTC`. A flag or config value this host does not know is a
usage error; a value from the environment that names no known zone (a POSIX rule
such as `CET-1CEST`, a typo) is passed over for the next source, because the
environment is the host's, not the line's, and monitoring never stops a job.

A name is known when a TZif file of that name is in the zone database
(PYTHONTZPATH, else zoneinfo's default directories): checked with one open and
read, without importing zoneinfo on the run path.
"""

from __future__ import annotations

import os

from .limits import ZONE_MAX, ZONE_PATTERN
from .validate import SettingError

_DEFAULT_TZPATH = ("/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo",
                   "/etc/zoneinfo")  # fmt: skip
# Subtrees of the database that hold the same zones under another rule set.
_VARIANT_PREFIXES = ("posix/", "right/")
LOCALTIME = "/etc/localtime"
TIMEZONE_FILE = "/etc/timezone"


def zone_dirs(environ: os._Environ[str] | dict[str, str]) -> tuple[str, ...]:
    configured = environ.get("PYTHONTZPATH")
    if configured:
        return tuple(d for d in configured.split(os.pathsep) if os.path.isabs(d))
    return _DEFAULT_TZPATH


def is_known_zone(name: str, environ: os._Environ[str] | dict[str, str]) -> bool:
    """Whether `name` is a zone of this host's tz database."""
    if len(name) > ZONE_MAX or not ZONE_PATTERN.fullmatch(name):
        return False
    for directory in zone_dirs(environ):
        try:
            with open(os.path.join(directory, name), "rb") as file:
                if file.read(4) == b"TZif":
                    return True
        except OSError:  # absent, a directory, unreadable: not a zone here
            continue
    return False


def parse_timezone(value: object, option: str = "--timezone") -> str:
    """An IANA zone name this host knows (the option's validator)."""
    name = _normal_name(str(value).strip())
    if name is None or not is_known_zone(name, os.environ):
        raise SettingError(
            f"{option}: {str(value)!r} is not a time zone this host knows; use an IANA name "
            "such as Europe/Berlin or UTC (the names under /usr/share/zoneinfo)"
        )
    return name


def _normal_name(text: str) -> str | None:
    """The zone name in a TZ-style value: `Europe/Berlin`, `:Europe/Berlin`, or a path
    into the database such as `/usr/share/zoneinfo/Europe/Berlin`."""
    text = text.removeprefix(":")
    if text.startswith("/"):
        _, marker, rest = text.rpartition("/zoneinfo/")
        if not marker:
            return None
        text = rest
    for prefix in _VARIANT_PREFIXES:
        text = text.removeprefix(prefix)
    return text or None


def zone_from_environment(environ: os._Environ[str] | dict[str, str]) -> tuple[str, str] | None:
    """(name, source) from CRON_TZ, else TZ, when it names a known zone."""
    for variable in ("CRON_TZ", "TZ"):
        name = _normal_name(environ.get(variable, "").strip())
        if name is not None and is_known_zone(name, environ):
            return name, f"env {variable}"
    return None


def host_zone(environ: os._Environ[str] | dict[str, str]) -> tuple[str, str]:
    """(name, source) of the host's own zone: /etc/localtime's link, /etc/timezone, UTC."""
    try:
        name = _normal_name(os.readlink(LOCALTIME))
    except OSError:  # not a link (a copied file) or absent: the name is not in it
        name = None
    if name is not None and is_known_zone(name, environ):
        return name, f"host {LOCALTIME}"
    try:
        with open(TIMEZONE_FILE, encoding="utf-8", errors="replace") as file:
            name = _normal_name(file.readline(256).strip())
    except OSError:
        name = None
    if name is not None and is_known_zone(name, environ):
        return name, f"host {TIMEZONE_FILE}"
    return "UTC", "default"
