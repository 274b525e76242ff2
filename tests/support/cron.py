"""Playing cron's part in tests: the `%` rule, then `$SHELL -c` with cron's stdin.

cron is not installed on the test hosts, and a test must not touch a real crontab,
so these helpers do what cron's child_process() does with one job line: split it
by the `%` rule, start `$SHELL -c COMMAND` in the job's environment, write the
stdin part to it, and collect what it leaves behind.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from smartcron.agent.cronpercent import split_cron_command, translate_stdin
from smartcron.agent.crontab import Line, effective_shell


@dataclass(frozen=True)
class Outcome:
    status: int
    stdout: bytes
    stderr: bytes
    files: dict[str, bytes]  # what the job left in its working directory


def cronie_split(text: str) -> tuple[str, str]:
    """cronie's variant of the rule, for checking that a wrapped line means the same
    to both crons: in the command part only `\\%` loses its backslash (`\\\\` stays)."""
    out: list[str] = []
    escaped = False
    for index, ch in enumerate(text):
        if escaped:
            if ch == "%":
                out[-1] = "%"
            else:
                out.append(ch)
            escaped = False
            continue
        if ch == "%":
            rest = text[index + 1 :]
            return "".join(out), translate_stdin(rest) if rest else ""
        out.append(ch)
        escaped = ch == "\\"
    return "".join(out), ""


def play_cron(line: Line, workdir: Path, home: Path, extra_env: dict[str, str]) -> Outcome:
    """Run one job line as cron would, in `workdir`."""
    shell_text, stdin = split_cron_command(line.command)
    shell = effective_shell(line.env)
    env = {
        "PATH": "/usr/bin:/bin",  # cron's default
        "HOME": str(home),
        "LOGNAME": "cronuser",
        "SHELL": shell,
        "LANG": "C.UTF-8",
        **line.env,
        **extra_env,
    }
    workdir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [shell, "-c", shell_text],
        input=stdin.encode(),
        capture_output=True,
        cwd=workdir,
        env=env,
        timeout=60,
        check=False,
    )
    return Outcome(result.returncode, result.stdout, result.stderr, _files(workdir))


def _files(root: Path) -> dict[str, bytes]:
    found = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = path.read_bytes()
    return found
