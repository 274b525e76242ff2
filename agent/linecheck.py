"""Ask the installed smartcron-wrap whether it accepts a wrapped line, before installing it.

A wrapped line the wrapper refuses (an option this wrapper version does not know,
a schedule it reads differently, a broken config file) exits 2 at every run: the
job would never run again. So each new line is first given to the very wrapper it
names, with --dry-run added, in the line's own environment (its PATH, SHELL,
CRON_TZ). Nothing runs; exit 2 means the wrapper would refuse the line.
"""

from __future__ import annotations

import os
import shlex
import subprocess

from .cronpercent import split_cron_command
from .crontab import Line

_CHECK_TIMEOUT_S = 30


def check_with_wrapper(line: Line, command: str) -> str | None:
    """None when the wrapper accepts `command`, else what it said (one line)."""
    argv = shlex.split(split_cron_command(command).shell_text)
    argv.insert(1, "--dry-run")
    env = {**os.environ, "PATH": "/usr/bin:/bin", **line.env}
    try:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            timeout=_CHECK_TIMEOUT_S,
            check=False,
        )
    except OSError as error:
        return f"cannot run {argv[0]} ({error.strerror})"
    except subprocess.TimeoutExpired:
        return f"{argv[0]} --dry-run did not answer in {_CHECK_TIMEOUT_S}s"
    if result.returncode == 0:
        return None
    said = [
        text.strip()
        for text in result.stdout.splitlines() + result.stderr.splitlines()
        if text.startswith(("PROBLEM:", "smartcron-wrap:"))
    ]
    return "; ".join(said) or f"{argv[0]} --dry-run exited {result.returncode}"
