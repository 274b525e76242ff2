"""--dry-run's advice on the shell trap: COMMAND is executed directly, not by a shell.

Cron runs a crontab line through /bin/sh, so `smartcron-wrap -- cd /srv && php x.php`
hands the wrapper only `cd /srv`: the shell kept `&& php x.php` for itself. The fix
is always the same line, `-- /bin/sh -c 'TEXT'`, and this module says so, checks
the TEXT of `sh -c TEXT` with `sh -n`, and points at pipelines that hide a failure.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash"})
# Shells whose `set -o pipefail` is certain; plain sh is dash on Debian, which may lack it.
_PIPEFAIL_SHELLS = frozenset({"bash", "zsh", "ksh", "mksh"})
# Words that only a shell understands: no program of that name is on PATH.
BUILTINS = frozenset(
    {
        "cd", "export", "source", ".", "set", "unset", "ulimit", "umask", "alias", "eval",
        "exec", "if", "for", "while", "until", "case", "function", "[[", "{", "(", "!",
        "declare", "local", "typeset", "readonly", "shopt", "trap", "pushd", "popd",
    }
)  # fmt: skip
# Words a shell would have taken as operators, had the line gone through one.
_OPERATOR = re.compile(r"&&|\|\||\||\|&|;|;;|&|[0-9]*>>?|[0-9]*>&[0-9-]*|<|<<<?|[0-9]*<&[0-9-]*")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*", re.DOTALL)
SYNTAX_CHECK_TIMEOUT = 5.0


def shell_problems(command: list[str], found: bool) -> list[str]:
    """Why the command cannot work as written, with the line to write instead."""
    first = command[0]
    script = _as_script(command)
    if _ASSIGNMENT.fullmatch(first):
        return [
            f"{first!r} is a shell variable assignment, and COMMAND is not run through a "
            f"shell; write -- env {shlex.join(command)}"
        ]
    if not found and (first in BUILTINS or _operators(command)):
        what = "a shell builtin, not a program" if first in BUILTINS else "not a program on PATH"
        if _operators(command):
            return [
                f"{first!r} is {what}, and COMMAND is not run through a shell; "
                f"write -- /bin/sh -c {shlex.quote(script)}"
            ]
        return [
            f"{first!r} is {what}: COMMAND is not run through a shell, and the shell that "
            "read this line kept any &&, |, ; or > for itself; write the whole line as "
            f"-- /bin/sh -c {shlex.quote(script + ' && …')}"
        ]
    return []


def operator_notes(command: list[str]) -> list[str]:
    """Shell operators that reach a program as plain arguments (they were quoted)."""
    operators = _operators(command)
    if not operators:
        return []
    return [
        f"{operators[0]!r} reaches {command[0]!r} as an argument, not as a shell operator: "
        "COMMAND is not run through a shell; if the shell's was meant, write "
        f"-- /bin/sh -c {shlex.quote(_as_script(command))}"
    ]


def _operators(command: list[str]) -> list[str]:
    found, previous = [], ""
    for word in command[1:]:
        # find's `-exec rm {} ;` and `cut -d ';'` mean the word itself.
        if _OPERATOR.fullmatch(word) and not previous.startswith("-") and previous != "{}":
            found.append(word)
        previous = word
    return found


def script_of(command: list[str]) -> tuple[str, str, bool] | None:
    """(shell, TEXT, pipefail given as an option) for `sh -c TEXT`, else None."""
    shell = os.path.basename(command[0])
    if shell not in SHELLS:
        return None
    pipefail = False
    args = iter(command[1:])
    for arg in args:
        if arg == "-o":
            pipefail = pipefail or next(args, "") == "pipefail"
        elif arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]:
            text = next(args, None)
            return (shell, text, pipefail) if text is not None else None
        elif not arg.startswith(("-", "+")):
            return None  # a script file, not -c TEXT
    return None


def script_problems(executable: str, shell: str, text: str) -> list[str]:
    """The shell's own syntax check of TEXT (`sh -n`), as one line."""
    try:
        checked = subprocess.run(
            [executable, "-n", "-c", text],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=SYNTAX_CHECK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return [f"cannot check the script's syntax with {shell} -n ({error})"]
    if checked.returncode == 0:
        return []
    said = " ".join(checked.stderr.split()) or f"exit status {checked.returncode}"
    return [f"the {shell} -c script does not parse ({said}); fix its syntax"]


def pipeline_notes(shell: str, text: str, pipefail: bool) -> list[str]:
    """A pipeline's status is its last command's: `false | gzip` succeeds."""
    if pipefail or "pipefail" in text or not _has_pipe(text):
        return []
    script = shlex.quote("set -o pipefail; " + text)
    if shell in _PIPEFAIL_SHELLS:
        fix = f"write -- {shell} -c {script}"
    else:
        fix = f"run it under bash: -- /bin/bash -c {script}"
    return [
        "the script has a pipeline, whose status is its last command's: a failure "
        f"before '|' goes unseen (false | gzip succeeds); {fix}"
    ]


def _has_pipe(text: str) -> bool:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return any(token in ("|", "|&") for token in lexer)
    except ValueError:  # an unclosed quote: sh -n has said so already
        return False


def _as_script(command: list[str]) -> str:
    """The command as shell text: operators bare, every other word quoted."""
    return " ".join(word if _OPERATOR.fullmatch(word) else shlex.quote(word) for word in command)
