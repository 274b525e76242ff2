"""Cron's `%` rule: what cron hands to the shell, and what it writes to the job's stdin.

The text after a line's schedule (and user field) is not given to the shell as it
is. Cron first scans it for an unescaped `%`: what comes before is the command,
what follows is the job's standard input. This is the loop in do_command.c's
child_process(); cronie (src/do_command.c) and Debian's cron (Vixie cron 3.0pl1
with debian/patches/fixes/handle-escapes-in-commands, read in 3.0pl1-129; bookworm
ships -162) differ in one point:

command part
  - `\\%` gives `%` (the backslash is removed) in both;
  - `\\\\` gives one backslash in Debian (the patch removes the escape before a
    backslash too), two in cronie; we follow Debian, as the project's platform;
  - a backslash before anything else is kept, and so is a trailing backslash;
  - the first unescaped `%` ends the command.

stdin part (identical in both)
  - `\\%` gives `%`, any other `%` gives a newline, a backslash before anything
    else is kept (so `\\\\%` gives `\\%`), a trailing backslash is kept;
  - a newline is added at the end unless the last character written (not counting
    the trailing backslash) was a newline;
  - when the part is empty (the line ends in `%`) nothing is written: the job's
    stdin is an empty pipe, as it is for a line with no `%` at all.

wrapline.py never emits a backslash before a backslash or a `%` of its own, so the
text it generates means the same to both crons.
"""

from __future__ import annotations

from typing import NamedTuple


class CronCommand(NamedTuple):
    shell_text: str  # what cron passes to `$SHELL -c`
    stdin: str  # what cron writes to the job's stdin ("" when nothing)


def split_cron_command(text: str) -> CronCommand:
    """Apply cron's `%` rule to the text after the schedule (Debian's cron)."""
    command, rest = split_at_percent(text)
    if rest is None:
        return CronCommand(command, "")
    return CronCommand(command, translate_stdin(rest))


def split_at_percent(text: str) -> tuple[str, str | None]:
    """The command part with its escapes removed, and the raw text after the first
    unescaped `%` (None when there is none)."""
    out: list[str] = []
    escaped = False
    for index, ch in enumerate(text):
        if escaped:
            if ch in "%\\":
                out[-1] = ch  # the escape itself is dropped
            else:
                out.append(ch)
            escaped = False
            continue
        if ch == "%":
            return "".join(out), text[index + 1 :]
        out.append(ch)
        escaped = ch == "\\"
    return "".join(out), None


def find_unescaped_percent(text: str) -> int:
    """Where the command part of `text` ends (the index of the first unescaped `%`),
    or len(text) when all of it is command."""
    escaped = False
    for index, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            return index
    return len(text)


def translate_stdin(rest: str) -> str:
    """The stdin cron writes for the raw text after the first unescaped `%`."""
    out: list[str] = []
    need_newline = False
    escaped = False
    for raw in rest:
        ch = raw
        if escaped:
            if ch != "%":
                out.append("\\")
        elif ch == "%":
            ch = "\n"
        escaped = ch == "\\"
        if not escaped:
            out.append(ch)
            need_newline = ch != "\n"
    if escaped:
        out.append("\\")
    if need_newline:
        out.append("\n")
    return "".join(out)
