"""Wrap or unwrap every job line of a crontab, and say what was left alone and why.

Only job lines change, and only their command text: every other byte of the
crontab (comments, blank lines, env lines, the schedule's spacing, line endings)
is copied as it was.
"""

from __future__ import annotations

import difflib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field

from smartcron.wrapper.validate import is_job_name

from .cronpercent import split_cron_command
from .crontab import Crontab, Line, split_lines
from .naming import assign_names
from .wrapline import Refused, unwrap_command, wrap_command, wrapper_words


@dataclass
class Rewrite:
    old: bytes
    new: bytes
    changed: list[int] = field(default_factory=list)  # line numbers
    notes: list[str] = field(default_factory=list)  # "line N: left alone: why"


def wrapped_names(crontab: Crontab) -> set[str]:
    """The --name of every line already behind smartcron-wrap."""
    from smartcron.wrapper.options import parse_argv
    from smartcron.wrapper.validate import SettingError

    names = set()
    for line in crontab.jobs():
        words = wrapper_words(line)
        if words is None:
            continue
        try:
            name = parse_argv(words[1:]).values.get("name")
        except SettingError:
            continue
        if isinstance(name, str):
            names.add(name)
    return names


def plan_names(crontab: Crontab, reserved: set[str]) -> dict[int, str]:
    """The name wrap-crontab gives each plain job line, by line number."""
    taken = set(reserved) | wrapped_names(crontab)
    plain = [line for line in crontab.jobs() if wrapper_words(line) is None]
    from_comments = {line.number: line.name_comment for line in plain if line.name_comment}
    taken |= set(from_comments.values())
    derived = [line for line in plain if line.number not in from_comments]
    texts = [split_cron_command(line.command).shell_text for line in derived]
    names = dict(zip((line.number for line in derived), assign_names(texts, taken), strict=False))
    return {**names, **{k: v for k, v in from_comments.items() if v is not None}}


# Asks the installed wrapper whether it accepts a wrapped line: the line's job and
# its new command text in, the wrapper's complaint (or None) out.
LineCheck = Callable[[Line, str], "str | None"]


def wrap_crontab(
    crontab: Crontab,
    wrap_path: str,
    *,
    skip_reboot: bool = False,
    reserved: set[str] | None = None,
    check: LineCheck | None = None,
) -> Rewrite:
    taken = (reserved or set()) | wrapped_names(crontab)
    names = plan_names(crontab, taken)
    seen_comment_names: set[str] = set(taken)
    out: list[bytes] = []
    result = Rewrite(old=crontab.to_bytes(), new=b"")
    for line in crontab.lines:
        new_raw = line.raw
        try:
            new_raw = _wrap_one(line, names, wrap_path, skip_reboot, seen_comment_names, check)
        except Refused as error:
            result.notes.append(f"line {line.number}: left alone: {error}")
        if new_raw != line.raw:
            result.changed.append(line.number)
        out.append(new_raw)
    result.new = b"".join(out)
    return result


def _wrap_one(
    line: Line,
    names: dict[int, str],
    wrap_path: str,
    skip_reboot: bool,
    seen: set[str],
    check: LineCheck | None,
) -> bytes:
    if line.kind != "job":
        raise Refused(_WHY_NOT_A_JOB[line.kind].format(reason=line.reason))
    if wrapper_words(line) is not None:
        raise Refused("already behind smartcron-wrap")
    if line.schedule == "@reboot" and skip_reboot:
        raise Refused("@reboot line (--skip-reboot)")
    name = names[line.number]
    if line.name_comment:
        if not is_job_name(name):
            raise Refused(
                f"the '# name: {name}' above is not a job name "
                "(up to 100 letters, digits, '_', '.' or '-', not only dots)"
            )
        if name in seen:
            raise Refused(f"'# name: {name}' is the name of another job already")
        seen.add(name)
    zone = line.env.get("CRON_TZ")
    if zone:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise Refused(f"CRON_TZ={zone} is not a time zone this host knows") from None
    command = wrap_command(line, name, wrap_path)
    problem = check(line, command) if check else None
    if problem:
        # A line the wrapper refuses would never run its job again: keep the plain one.
        raise Refused(f"smartcron-wrap refuses the wrapped line: {problem}")
    return (line.lead + command).encode() + line.ending


_WHY_NOT_A_JOB = {
    "blank": "blank line",
    "comment": "comment",
    "env": "environment setting",
    "bad": "cannot parse it: {reason}",
}


def unwrap_crontab(crontab: Crontab) -> Rewrite:
    out: list[bytes] = []
    result = Rewrite(old=crontab.to_bytes(), new=b"")
    for line in crontab.lines:
        new_raw = line.raw
        if line.kind == "job" and wrapper_words(line) is not None:
            try:
                original = unwrap_command(line)
                new_raw = (line.lead + original.command).encode() + line.ending
            except Refused as error:
                result.notes.append(f"line {line.number}: left alone: {error}")
        elif line.kind == "job":
            result.notes.append(f"line {line.number}: left alone: not wrapped")
        elif line.kind == "bad":
            result.notes.append(f"line {line.number}: left alone: cannot parse it: {line.reason}")
        if new_raw != line.raw:
            result.changed.append(line.number)
        out.append(new_raw)
    result.new = b"".join(out)
    return result


def unified_diff(label: str, old: bytes, new: bytes) -> str:
    """A unified diff a person can read (and `patch` can apply)."""
    return "".join(
        difflib.unified_diff(
            _diff_lines(old), _diff_lines(new), fromfile=f"{label} (now)", tofile=f"{label} (new)"
        )
    )


def _diff_lines(data: bytes) -> list[str]:
    # Split at "\n" only, as cron does; mark a missing last newline the way diff does.
    lines = [line.decode() for line in split_lines(data)]
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines
