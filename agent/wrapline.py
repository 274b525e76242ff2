"""Put one crontab job line behind smartcron-wrap, and take it back out exactly.

A job line `LEAD COMMAND%STDIN` (LEAD: the schedule, the user field of a system
crontab and the blanks before the command, byte for byte) becomes

    LEAD WRAP --name N [--schedule 'S'] [--timezone Z] -- SHELL -c 'COMMAND'%STDIN

COMMAND is the line's own text up to its first unescaped `%`, untouched except
that each `'` becomes `'\\''`; %STDIN is the line's own text from there on,
untouched. Why that is exact:
- cron's `%` rule (cronpercent.py) reads COMMAND inside the quotes exactly as it
  read it on the plain line: the rule only looks at a backslash and the character
  after it, and a `'` is never one of the characters it changes, so `'\\''` and
  the quotes around COMMAND come through as they are. Whatever this cron does with
  `\\%` or `\\\\` in COMMAND it does in both lines alike (cronie and Debian differ
  there, and need not agree with us).
- the shell then reads '...' as one word whose value is that same text, and the
  wrapper runs `SHELL -c TEXT`, which is what cron itself would have run;
- the stdin part is the same bytes after the same kind of `%`, so cron writes the
  same stdin; the wrapper passes its stdin on to the job.
Everything this module adds (path, name, schedule, zone, shell) is checked to hold
no `%` and no backslash, so nothing it adds is touched by the `%` rule.

The wrapping is a pure function of (line, its environment, name, wrapper path), so
unwrapping is its inverse: parse the wrapped form, rebuild it from the original it
holds, and only if that gives back the line byte for byte (nobody edited it, and
SHELL and CRON_TZ above it are as they were) return the original.
"""

from __future__ import annotations

import re
import shlex
from typing import NamedTuple

from .cronpercent import find_unescaped_percent, split_cron_command
from .crontab import Line, effective_shell

# Debian's cron reads at most 999 bytes of command (MAX_COMMAND 1000 in cron.h;
# since 3.0pl1-125 a longer one is an error, before that it was cut off): a wrapped
# line must fit, or the job would stop running. (cronie allows far more.)
MAX_CRON_COMMAND = 999
WRAP_NAME = "smartcron-wrap"
# Shells that read '...' and '\'' the POSIX way; any other SHELL is left alone.
POSIX_SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "ksh93", "mksh", "zsh", "posh"})

_WRAPPED = re.compile(
    r"(?P<wrap>\S+) --name (?P<name>\S+)"
    r"(?: --schedule (?P<schedule>'[^']*'|@[a-z]+))?"
    r"(?: --timezone (?P<timezone>\S+))?"
    r" -- (?P<shell>\S+) -c '(?P<body>.*)",
    re.DOTALL,
)


class Refused(ValueError):
    """This line is left as it is; the message says why."""


class Unwrapped(NamedTuple):
    command: str  # the original command text
    name: str


def wrap_command(line: Line, name: str, wrap_path: str) -> str:
    """The new command text of a job line (what follows its LEAD)."""
    shell = effective_shell(line.env)
    if _basename(shell) not in POSIX_SHELLS:
        raise Refused(f"SHELL={shell} is not a POSIX shell; wrap this line by hand")
    timezone = line.env.get("CRON_TZ") or None
    cut = find_unescaped_percent(line.command)
    body, rest = line.command[:cut], line.command[cut:]
    words = [shlex.quote(wrap_path), "--name", name]
    if line.schedule != "@reboot":
        words += ["--schedule", shlex.quote(line.schedule)]
    if timezone:
        words += ["--timezone", shlex.quote(timezone)]
    words += ["--", shlex.quote(shell), "-c"]
    prefix = " ".join(words)
    for label, value in (
        ("the wrapper's path", wrap_path),
        ("SHELL", shell),
        ("CRON_TZ", timezone or ""),
    ):
        if "%" in value or "\\" in value:
            raise Refused(f"{label} {value!r} holds '%' or a backslash, which cron would change")
    text = f"{prefix} '{body.replace(chr(39), _QUOTE_IN_QUOTES)}'{rest}"
    size = len(text.encode())
    if size > MAX_CRON_COMMAND:
        raise Refused(
            f"the wrapped command would be {size} bytes, and cron runs at most "
            f"{MAX_CRON_COMMAND}; shorten the line (a script) or wrap it by hand"
        )
    return text


_QUOTE_IN_QUOTES = "'\\''"


def unwrap_command(line: Line) -> Unwrapped:
    """The original command text of a line wrap_command wrote. Refused if the line
    is not in that form, or was edited since (rebuilding it would differ)."""
    match = _WRAPPED.fullmatch(line.command)
    if match is None:
        raise Refused("not in the form wrap-crontab writes; edit it by hand")
    body, rest = _split_quoted(match["body"])
    if rest is None or (rest and not rest.startswith("%")):
        raise Refused("the quoted command was edited after wrapping; edit it by hand")
    try:
        wrap_path = shlex.split(match["wrap"])[0]
    except (ValueError, IndexError):
        raise Refused("not in the form wrap-crontab writes; edit it by hand") from None
    original = body + rest
    if not original or original[0] in " \t":
        # wrap_command never quotes a command that starts with a blank (cron's parser
        # keeps blanks in the lead), so this quoting was edited.
        raise Refused("the quoted command was edited after wrapping; edit it by hand")
    plain = Line(
        line.number,
        line.raw,
        line.text,
        "job",
        lead=line.lead,
        schedule=line.schedule,
        user=line.user,
        command=original,
        env=line.env,
    )
    # Rebuilt in this crontab as it is now: a schedule, SHELL or zone that no longer
    # matches the line and the env lines above it is an edit the original would lose.
    # Only the name and the wrapper's path are the wrapper's own and may differ.
    try:
        again = wrap_command(plain, match["name"], wrap_path)
    except Refused as error:
        raise Refused(f"cannot be rebuilt from what it says ({error}); edit it by hand") from None
    if again != line.command:
        raise Refused(
            "edited after wrapping (its --schedule, --timezone or shell no longer match "
            "the line and the crontab's env lines); edit it by hand"
        )
    return Unwrapped(original, match["name"])


def _split_quoted(text: str) -> tuple[str, str | None]:
    """Undo `'` -> `'\\''` up to the closing quote: (the text, what follows the quote)."""
    out: list[str] = []
    index = 0
    while True:
        quote = text.find("'", index)
        if quote < 0:
            return "".join(out), None
        out.append(text[index:quote])
        if text.startswith(_QUOTE_IN_QUOTES, quote):
            out.append("'")
            index = quote + len(_QUOTE_IN_QUOTES)
            continue
        return "".join(out), text[quote + 1 :]


def wrapper_words(line: Line) -> list[str] | None:
    """The words the shell would see for a line already behind smartcron-wrap, from
    the wrapper's own word on; None when the line does not run smartcron-wrap."""
    shell_text = split_cron_command(line.command).shell_text
    try:
        words = shlex.split(shell_text, comments=True)
    except ValueError:
        words = shell_text.split()
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0], re.DOTALL):
        words.pop(0)  # VAR=value before the command
    if words and _basename(words[0]) == WRAP_NAME:
        return words
    return None


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]
