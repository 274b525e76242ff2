"""Read a crontab's text into lines cron would see: blank, comment, env, job, or bad.

The rules are cron's own (Vixie cron's load_entry/load_env, as Debian ships it,
and cronie's, where they agree):
- a line whose first non-blank character is `#`, or that is blank, is ignored;
- `NAME=VALUE` (blanks allowed around `=`, the value optionally quoted) sets the
  environment of every job line after it: SHELL, PATH, MAILTO, CRON_TZ ...;
- a job is five time fields or an `@` macro, then (system crontabs only) a user,
  then the command: everything after the blanks that follow, to the end of the line.

Each line keeps its exact bytes (`raw`, with its line ending), so that a rewrite
can change one job line and give back every other byte as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from croniter import croniter

MACROS = frozenset(
    {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
DEFAULT_SHELL = "/bin/sh"
# A crontab is a few kilobytes; anything near this is not a crontab we should rewrite.
MAX_CRONTAB_BYTES = 4 * 1024 * 1024
# Far longer than any command cron runs (Debian's cron takes 999 bytes of command).
MAX_LINE_BYTES = 64 * 1024

_ENV_LINE = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*?)[ \t]*")
_NAME_COMMENT = re.compile(r"[ \t]*#[ \t]*name:[ \t]*(\S+)[ \t]*")
_BLANKS = re.compile(r"[ \t]+")

Kind = Literal["blank", "comment", "env", "job", "bad"]


class CrontabError(ValueError):
    """The crontab cannot be read at all (not text, too large). Names the fix."""


@dataclass
class Line:
    number: int  # 1-based
    raw: bytes  # the exact bytes, line ending included
    text: str  # decoded, without the line ending
    kind: Kind
    reason: str = ""  # for "bad": why cron (or we) cannot read it
    # env lines
    env_name: str = ""
    env_value: str = ""
    # job lines
    lead: str = ""  # schedule, user field and the blanks before the command, exactly
    schedule: str = ""  # the time fields joined by one space, or the macro
    user: str | None = None  # the sixth field of a system crontab
    command: str = ""  # the text after the lead, as written (cron's % rule not applied)
    env: dict[str, str] = field(default_factory=dict)  # the environment in effect here
    name_comment: str | None = None  # from a `# name: NAME` line just above

    @property
    def ending(self) -> bytes:
        return self.raw[len(self.text.encode()) :]


@dataclass
class Crontab:
    source: str  # a path, or "crontab -l -u USER"
    system: bool  # six fields: the user field is there
    lines: list[Line]

    def to_bytes(self) -> bytes:
        return b"".join(line.raw for line in self.lines)

    def jobs(self) -> list[Line]:
        return [line for line in self.lines if line.kind == "job"]


def parse_crontab(data: bytes, *, source: str, system: bool) -> Crontab:
    """Split `data` into lines. CrontabError when it is not a crontab at all."""
    if len(data) > MAX_CRONTAB_BYTES:
        raise CrontabError(
            f"{source}: {len(data)} bytes is too large for a crontab "
            f"(limit {MAX_CRONTAB_BYTES}); is it the right file?"
        )
    if b"\0" in data:
        raise CrontabError(f"{source}: contains NUL bytes, so it is not a crontab; check the file")
    lines: list[Line] = []
    env: dict[str, str] = {}
    name_comment: str | None = None
    for number, raw in enumerate(split_lines(data), start=1):
        if len(raw) > MAX_LINE_BYTES:
            raise CrontabError(
                f"{source}: line {number} is {len(raw)} bytes long "
                f"(limit {MAX_LINE_BYTES}); that is not a crontab to rewrite, check the file"
            )
        body = raw[:-1] if raw.endswith(b"\n") else raw  # a CR stays: cron keeps it too
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise CrontabError(
                f"{source}: line {number} is not valid UTF-8 (byte {error.start + 1}); "
                "re-save the crontab as UTF-8"
            ) from None
        line = parse_line(number, raw, text, system=system, env=env)
        if line.kind == "env":
            env[line.env_name] = line.env_value
        if line.kind == "job":
            line.name_comment = name_comment
        match = _NAME_COMMENT.fullmatch(text) if line.kind == "comment" else None
        name_comment = match.group(1) if match else None
        lines.append(line)
    return Crontab(source=source, system=system, lines=lines)


def split_lines(data: bytes) -> list[bytes]:
    """Lines ending in b"\\n" only (bytes.splitlines would also split at a lone CR)."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def parse_line(number: int, raw: bytes, text: str, *, system: bool, env: dict[str, str]) -> Line:
    stripped = text.strip(" \t")
    if not stripped or stripped == "\r":
        return Line(number, raw, text, "blank")
    if stripped.startswith("#"):
        return Line(number, raw, text, "comment")
    env_match = _ENV_LINE.fullmatch(text)
    if env_match and not stripped[0].isdigit():
        return Line(
            number, raw, text, "env", env_name=env_match[1], env_value=_unquote(env_match[2])
        )
    return _parse_job(number, raw, text, system=system, env=dict(env))


def _parse_job(number: int, raw: bytes, text: str, *, system: bool, env: dict[str, str]) -> Line:
    def bad(reason: str) -> Line:
        return Line(number, raw, text, "bad", reason=reason)

    position = len(text) - len(text.lstrip(" \t"))
    first = _next_field(text, position)
    if first is None:
        return bad("no schedule")
    fields_wanted = 1 if text[first[0]] == "@" else 5
    spans = []
    cursor = position
    for _ in range(fields_wanted + (1 if system else 0)):
        span = _next_field(text, cursor)
        if span is None:
            return bad("the line ends before the command")
        spans.append(span)
        cursor = span[1]
    time_fields = [text[start:end] for start, end in spans[:fields_wanted]]
    schedule = " ".join(time_fields)
    if fields_wanted == 1 and schedule not in MACROS:
        return bad(f"{schedule!r} is not a cron macro (@hourly, @daily, @reboot, ...)")
    if fields_wanted == 5 and not croniter.is_valid(schedule):
        return bad(f"{schedule!r} is not a valid cron schedule")
    user = text[spans[-1][0] : spans[-1][1]] if system else None
    blanks = _BLANKS.match(text, cursor)
    if blanks is None or blanks.end() >= len(text):
        return bad("no command after the schedule")
    command_start = blanks.end()
    return Line(
        number,
        raw,
        text,
        "job",
        lead=text[:command_start],
        schedule=schedule,
        user=user,
        command=text[command_start:],
        env=env,
    )


def _next_field(text: str, cursor: int) -> tuple[int, int] | None:
    blanks = _BLANKS.match(text, cursor)
    start = blanks.end() if blanks else cursor
    if start >= len(text):
        return None
    end = start
    while end < len(text) and text[end] not in " \t":
        end += 1
    return start, end


def _unquote(value: str) -> str:
    # cron strips one pair of matching quotes around the value (load_env).
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def effective_shell(env: dict[str, str]) -> str:
    return env.get("SHELL") or DEFAULT_SHELL
