"""smartcron-wrap's entry point: parse, then hand a resolved plan to run().

Exit 2 with one line naming the problem for any bad input; the job does not run.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING

from .options import help_text, parse_argv
from .validate import SettingError

if TYPE_CHECKING:
    from .settings import Settings

EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        parsed = parse_argv(args)
        if parsed.help:
            from .console import show

            show(help_text())
            return 0
        if parsed.version:
            from . import __version__
            from .console import show

            show(f"smartcron-wrap {__version__}")
            return 0
        from .settings import resolve

        settings = resolve(parsed, os.environ)
    except SettingError as error:
        from .console import complain  # only now: a run does not pay for it

        complain(str(error))
        return EXIT_USAGE

    if settings.reset_breaker:
        from .admin import reset_breaker

        return reset_breaker(settings)
    if settings.dry_run:
        from .dryrun import print_plan

        return print_plan(settings)

    from .console import is_terminal

    if settings.sources["grace"] != "default" and is_terminal(2):
        _warn_of_long_grace(settings)
    from .run import run

    result = run(settings)
    if result.reraise is not None:
        _die_of(result.reraise)
    return result.exit_code  # also when the re-raised signal did not end us


def _die_of(sig: int) -> None:
    """End the way the job ended, so cron and shells see the same signal death."""
    sys.stdout.flush()
    sys.stderr.flush()
    if sig not in (signal.SIGKILL, signal.SIGSTOP):  # those two have no handler to reset
        signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


def _warn_of_long_grace(settings: Settings) -> None:
    """Once, at a start from a terminal (a person trying the line): under cron only the
    job's mail reads stderr, and the check would cost every run croniter's walk."""
    import datetime

    from .grace_check import long_grace_warning

    now = datetime.datetime.now(datetime.timezone.utc)
    found = long_grace_warning(settings.schedule, settings.timezone, settings.grace, now)
    if found:
        from .passthrough import write_without_waiting

        # Never sys.stderr: a terminal's stopped output must not hold the run.
        write_without_waiting(2, f"smartcron-wrap: warning: {found}\n".encode())
