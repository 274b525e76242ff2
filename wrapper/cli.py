"""smartcron-wrap's entry point: parse, then hand a resolved plan to run().

Exit 2 with one line naming the problem for any bad input; the job does not run.
"""

from __future__ import annotations

import os
import signal
import sys

from .options import help_text, parse_argv
from .validate import SettingError

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
