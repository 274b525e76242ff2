"""Stable, readable, unique job names for the lines of a crontab.

A name keys the job's lock, breaker, log and alerts, so it must not change from
one run of wrap-crontab to the next and two lines must never share one:
- a `# name: NAME` comment just above the line wins;
- otherwise the name comes from the first command that does the work: in
  `cd /srv && mysqldump shop | gzip > x.gz` that is mysqldump (cd only moves, and
  gzip only packs what mysqldump made), named as smartcron-wrap would name it;
- lines that would share a name take their first arguments into it, one at a
  time, until they differ (`find-var-log`, `find-tmp`), and if they never do, a
  number in line order (`backup-2`).
Names depend only on the crontab's text, so the same crontab gives the same names.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter

from smartcron.wrapper.settings import derive_name

_OPERATORS = frozenset({";", "&&", "||", "|", "&", "(", ")", ";;", "|&", "{", "}"})
_SKIPPED = frozenset({"cd", "set", "export", "umask", "test", "[", "true", ":", "sleep"})
_MAX_ARGS = 3
_NAME_LIMIT = 100


def job_words(shell_text: str) -> list[str]:
    """The words of the first simple command that does the work."""
    commands = _simple_commands(shell_text)
    for words in commands:
        if words and words[0] not in _SKIPPED:
            return words
    return commands[0] if commands else []


def candidates(shell_text: str) -> list[str]:
    """Names for a line, from the plainest to the most specific."""
    words = job_words(shell_text)
    base = derive_name(words) if words else "job"
    names = [base]
    args = [slug for word in words[1:] if not word.startswith("-") if (slug := _slug(word))]
    for count in range(1, min(_MAX_ARGS, len(args)) + 1):
        names.append(_fit("-".join([base, *args[:count]])))
    return names


def assign_names(shell_texts: list[str], reserved: set[str]) -> list[str]:
    """One unique name per line (in order), none of them in `reserved`."""
    options = [candidates(text) for text in shell_texts]
    level = [0] * len(options)
    while True:
        current = [opts[min(lvl, len(opts) - 1)] for opts, lvl in zip(options, level, strict=False)]
        counts = Counter(current)
        clashing = [
            i
            for i, name in enumerate(current)
            if (counts[name] > 1 or name in reserved) and level[i] < len(options[i]) - 1
        ]
        if not clashing:
            break
        for i in clashing:
            level[i] += 1
    taken = set(reserved)
    names: list[str] = []
    for name in current:
        final, number = name, 1
        while final in taken:
            number += 1
            final = _fit(name, suffix=f"-{number}")
        taken.add(final)
        names.append(final)
    return names


def _simple_commands(shell_text: str) -> list[list[str]]:
    lexer = shlex.shlex(shell_text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    skip_next = False
    try:
        for token in lexer:
            if skip_next:
                skip_next = False
                continue
            if token in _OPERATORS or (token and set(token) <= set(";&|()")):
                commands.append([])
            elif token and set(token) <= set("<>&|"):
                skip_next = True  # a redirection: the next word is its target
                if commands[-1] and commands[-1][-1].isdigit():
                    commands[-1].pop()  # the fd number in 2>
            elif not commands[-1] and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", token):
                continue  # VAR=value before the command
            else:
                commands[-1].append(token)
    except ValueError:
        commands = [shell_text.split()]
    return [words for words in commands if words]


def _slug(word: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", word).strip("-")[:30]


def _fit(name: str, suffix: str = "") -> str:
    return name[: _NAME_LIMIT - len(suffix)].rstrip("-.") + suffix
