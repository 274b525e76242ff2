"""Turn option text into values, or say exactly what is wrong and how to fix it.

Every source of settings (flags, environment, config file) goes through these
functions, so a value means the same thing wherever it was written.
"""

from __future__ import annotations

import math
import re

from . import limits

# ASCII digits only: str.isdigit() and float() also take '²' and '١٢', which int() or
# a reader of the value later refuses.
_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]{1,4})?")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)[ \t]*([KMGT]?)(?:I?B)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class SettingError(ValueError):
    """A bad setting. The message names the option, the bad value and the fix."""


def parse_duration(value: object, option: str) -> float:
    """Seconds from `90`, `90s`, `1.5s`, `500ms`, `10m`, `1h30m`, `2d`, at most
    limits.SECONDS_MAX: every sleep and deadline built from one stays within what the
    clock and time.sleep take (a --jitter of 1e12 used to crash before the job ran)."""
    if isinstance(value, bool):
        raise _duration_error(value, option)
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        else:
            seconds = _sum_duration_parts(text, value, option)
    else:
        raise _duration_error(value, option)
    if not 0 <= seconds < math.inf:
        raise _duration_error(value, option)
    if seconds > limits.SECONDS_MAX:
        raise SettingError(
            f"{option}: {_shown(value)} is too long; use at most {limits.SECONDS_MAX:.0f} seconds "
            "(about 31 years)"
        )
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
        f"{option}: {_shown(value)} is not a duration; "
        "use seconds or a number with a unit, e.g. 90, 90s, 10m, 1h30m"
    )


def _shown(value: object) -> str:
    """The bad value as an error line shows it: quoted, escaped, and not a page long."""
    text = repr(value)
    if len(text) <= 200:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return text[:120] + "…" + text[-20:] + size


def parse_size(value: object, option: str) -> int:
    """Bytes from `512M`, `2G`, `64K`, `1.5G` or a plain number of bytes (binary units)."""
    size: float = 0
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match:
            size = float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]
    if not 1 <= size < math.inf:
        raise SettingError(
            f"{option}: {_shown(value)} is not a memory size; "
            "use a number with K, M or G, e.g. 512M, 2G"
        )
    if size > limits.MEMORY_MAX:
        raise SettingError(f"{option}: {_shown(value)} is too large; use at most 1024T")
    return int(size)


def parse_int(value: object, option: str, low: int, high: int | None = None) -> int:
    """A whole number within [low, high], written in ASCII digits."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        number = int(value)
    if number is None or number < low or (high is not None and number > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise SettingError(f"{option}: {_shown(value)} is not valid; use a whole number {span}")
    return number


def parse_bool(value: object, option: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else ""
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SettingError(f"{option}: {_shown(value)} is not true or false; use true or false")


def is_job_name(text: str) -> bool:
    return len(text) <= limits.NAME_MAX and limits.NAME_PATTERN.fullmatch(text) is not None


def parse_name(value: object, option: str = "--name") -> str:
    text = value if isinstance(value, str) else ""
    if not is_job_name(text):
        raise SettingError(
            f"{option}: {_shown(value)} is not a valid job name; use 1 to "
            f"{limits.NAME_MAX} {limits.NAME_CHARS}, not only dots (e.g. backup.daily)"
        )
    return text


def parse_text(value: object, option: str) -> str:
    if not isinstance(value, str):
        raise SettingError(f"{option}: {_shown(value)} is not text; write it in quotes")
    text = value.strip()
    if not text:
        raise SettingError(f"{option}: the value is empty; give a value or leave the option out")
    if "\0" in text:  # no path or header may hold one; os.* would raise on it later
        raise SettingError(f"{option}: {_shown(value)} holds a NUL character; remove it")
    return text


def parse_url(value: object, option: str) -> str:
    text = parse_text(value, option)
    # ASCII only: an IDN host is written in its xn-- form, as HTTP sends it.
    problem = not text.isascii() or not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text)
    if not problem:
        import urllib.parse

        try:
            parts = urllib.parse.urlsplit(text)
            problem = not parts.hostname or parts.port == 0
        except ValueError:  # a port out of range, a stray bracket
            problem = True
    if problem:
        raise SettingError(
            f"{option}: {_shown(text)} is not an http(s) URL; use e.g. http://collector.internal:8080"
        )
    return text.rstrip("/")


TOKEN_FILE_MAX = 64 * 1024


def parse_token(value: object, option: str) -> str:
    """A token, or `file:PATH` to read it from a file (keeps it out of crontab and ps)."""
    text = parse_text(value, option)
    if text.startswith("file:"):
        from .textfile import UnreadableFile, read_small_file

        path = text[len("file:") :]
        try:
            raw = read_small_file(path, TOKEN_FILE_MAX)
        except UnreadableFile as error:
            raise SettingError(
                f"{option}: cannot read token file {path!r} ({error}); "
                "check the path and that this user may read it"
            ) from None
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            raise SettingError(
                f"{option}: token file {path!r} is empty; put the ingest token in it"
            )
    # It goes into an HTTP header: a line break or a control character would break it.
    if not text.isprintable() or not text.isascii():
        raise SettingError(
            f"{option}: the token holds a line break, a control or a non-ASCII character; "
            "give the token alone"
        )
    return text


def parse_schedule(value: object, option: str = "--schedule") -> str:
    """A five-field cron expression or a macro such as @hourly (croniter validates)."""
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if len(text) > limits.SCHEDULE_MAX:
        raise SettingError(
            f"{option}: {len(text)} characters; a schedule has at most {limits.SCHEDULE_MAX}"
        )
    if text == "@reboot":
        raise SettingError(
            f"{option}: '@reboot' has no next run time; leave --schedule out for @reboot lines"
        )
    from croniter import croniter  # imported here: only lines with a schedule pay for it

    if not text.isascii() or len(text.split()) not in (1, 5) or not croniter.is_valid(text):
        raise SettingError(
            f"{option}: {_shown(text)} is not a cron schedule; "
            "use five fields like '*/5 * * * *' or a macro like @hourly"
        )
    # Valid fields can still name no date at all (Feb 30): every reader of the schedule,
    # --dry-run's next runs and the collector's missed-run check, would fail on it.
    from croniter import CroniterError

    try:
        croniter(text).get_next(float)
    except (CroniterError, ValueError, OverflowError):
        raise SettingError(
            f"{option}: {_shown(text)} never fires (no date matches its day and month "
            "fields); fix the day or the month"
        ) from None
    return text


def parse_tags(value: object, option: str = "tags") -> tuple[str, ...]:
    """Tags from a TOML list or a comma-separated string."""
    if isinstance(value, (list, tuple)):
        if not all(isinstance(item, str) for item in value):
            raise SettingError(f'{option}: every tag is text; write them as ["a", "b"]')
        items = list(value)
    else:
        items = str(value).split(",")
    tags = tuple(item.strip() for item in items if item.strip())
    if len(tags) > limits.TAGS_MAX:
        raise SettingError(f"{option}: {len(tags)} tags; use at most {limits.TAGS_MAX}")
    for tag in tags:
        if len(tag) > limits.TAG_MAX or not limits.TAG_PATTERN.fullmatch(tag):
            raise SettingError(
                f"{option}: {_shown(tag)} is not a valid tag; use up to {limits.TAG_MAX} "
                f"{limits.NAME_CHARS}"
            )
    joined = limits.joined_tags_length(tags)
    if joined > limits.TAGS_JOINED_MAX:
        raise SettingError(
            f"{option}: the tags take {joined} characters joined by commas; "
            f"the collector keeps at most {limits.TAGS_JOINED_MAX}: use fewer or shorter tags"
        )
    return tags


def format_duration(seconds: float) -> str:
    """The shortest readable form: 90 -> '1m30s', 0.5 -> '500ms'."""
    if seconds < 1 and seconds != 0:
        return f"{_decimal(seconds * 1000)}ms"
    whole, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    rest = seconds - int(seconds) + whole
    if rest or not parts:
        parts.append(f"{_decimal(rest)}s")
    return "".join(parts)


def _decimal(number: float) -> str:
    # Never an exponent: the text must read back as a duration (1e-05ms would not).
    return f"{number:.6f}".rstrip("0").rstrip(".") or "0"


def format_size(size: int) -> str:
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B" if size < 1024 else f"{size / (1 << 20):.1f}M"
