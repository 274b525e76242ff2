"""Turn option text into values, or say exactly what is wrong and how to fix it.

Every source of settings (flags, environment, config file) goes through these
functions, so a value means the same thing wherever it was written.
"""

from __future__ import annotations

import re

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,100}")
MAX_TAGS, MAX_TAG_LENGTH = 16, 64  # as the report schema allows
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class SettingError(ValueError):
    """A bad setting. The message names the option, the bad value and the fix."""


def parse_duration(value: object, option: str) -> float:
    """Seconds from `90`, `90s`, `1.5s`, `500ms`, `10m`, `1h30m`, `2d`."""
    if isinstance(value, bool):
        raise _duration_error(value, option)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            seconds = _sum_duration_parts(text, value, option)
    if not 0 <= seconds < float("inf"):
        raise _duration_error(value, option)
    return seconds


def _sum_duration_parts(text: str, value: object, option: str) -> float:
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise _duration_error(value, option)
    return total


def _duration_error(value: object, option: str) -> SettingError:
    return SettingError(
        f"{option}: {value!r} is not a duration; "
        "use seconds or a number with a unit, e.g. 90, 90s, 10m, 1h30m"
    )


def parse_size(value: object, option: str) -> int:
    """Bytes from `512M`, `2G`, `64K`, `1.5G` or a plain number of bytes (binary units)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.fullmatch(str(value).strip())
    size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]) if match else 0
    if size <= 0:
        raise SettingError(
            f"{option}: {value!r} is not a memory size; use a number with K, M or G, e.g. 512M, 2G"
        )
    return size


def parse_int(value: object, option: str, low: int, high: int | None = None) -> int:
    """A whole number within [low, high]."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    if number is None or number < low or (high is not None and number > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise SettingError(f"{option}: {value!r} is not valid; use a whole number {span}")
    return number


def parse_bool(value: object, option: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SettingError(f"{option}: {value!r} is not true or false; use true or false")


def parse_name(value: object, option: str = "--name") -> str:
    text = str(value)
    if not NAME_PATTERN.fullmatch(text):
        raise SettingError(
            f"{option}: {text!r} is not a valid job name; "
            "use 1 to 100 letters, digits, '_', '.' or '-'"
        )
    return text


def parse_text(value: object, option: str) -> str:
    text = str(value).strip()
    if not text:
        raise SettingError(f"{option}: the value is empty; give a value or leave the option out")
    return text


def parse_url(value: object, option: str) -> str:
    text = parse_text(value, option)
    problem = not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text)
    if not problem:
        import urllib.parse

        try:
            parts = urllib.parse.urlsplit(text)
            problem = not parts.hostname or parts.port == 0
        except ValueError:  # a port out of range, a stray bracket
            problem = True
    if problem:
        raise SettingError(
            f"{option}: {text!r} is not an http(s) URL; use e.g. http://collector.internal:8080"
        )
    return text.rstrip("/")


def parse_token(value: object, option: str) -> str:
    """A token, or `file:PATH` to read it from a file (keeps it out of crontab and ps)."""
    text = parse_text(value, option)
    if not text.startswith("file:"):
        return text
    path = text[len("file:") :]
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError as error:
        raise SettingError(
            f"{option}: cannot read token file {path!r} ({error.strerror}); "
            "check the path and that this user may read it"
        ) from None
    if not token:
        raise SettingError(f"{option}: token file {path!r} is empty; put the ingest token in it")
    return token


def parse_schedule(value: object, option: str = "--schedule") -> str:
    """A five-field cron expression or a macro such as @hourly (croniter validates)."""
    text = " ".join(str(value).split())
    if text == "@reboot":
        raise SettingError(
            f"{option}: '@reboot' has no next run time; leave --schedule out for @reboot lines"
        )
    from croniter import croniter  # imported here: only lines with a schedule pay for it

    if len(text.split()) not in (1, 5) or not croniter.is_valid(text):
        raise SettingError(
            f"{option}: {text!r} is not a cron schedule; "
            "use five fields like '*/5 * * * *' or a macro like @hourly"
        )
    return text


def parse_tags(value: object, option: str = "tags") -> tuple[str, ...]:
    """Tags from a TOML list or a comma-separated string."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    tags = tuple(str(item).strip() for item in items if str(item).strip())
    if len(tags) > MAX_TAGS:
        raise SettingError(f"{option}: {len(tags)} tags; use at most {MAX_TAGS}")
    for tag in tags:
        if len(tag) > MAX_TAG_LENGTH or not NAME_PATTERN.fullmatch(tag):
            raise SettingError(
                f"{option}: {tag!r} is not a valid tag; use up to {MAX_TAG_LENGTH} "
                "letters, digits, '_', '.' or '-'"
            )
    return tags


def format_duration(seconds: float) -> str:
    """The shortest readable form: 90 -> '1m30s', 0.5 -> '500ms'."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    whole, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    rest = seconds - int(seconds) + whole
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)


def format_size(size: int) -> str:
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B" if size < 1024 else f"{size / (1 << 20):.1f}M"
