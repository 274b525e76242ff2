"""Hand operations on a job's state: `smartcron-wrap --reset-breaker --name NAME`."""

from __future__ import annotations

import os

from . import breaker as brk
from .console import complain, show
from .settings import Settings
from .state import StateDir

EXIT_USAGE = 2


def reset_breaker(settings: Settings) -> int:
    from .trust import TRUST_FIX, untrusted_reason

    state = StateDir(settings.state_dir)
    problem = untrusted_reason(state.root)
    if problem is not None:
        complain(
            f"state directory {state.root} is not safe to use "
            f"({problem}); the breaker of {settings.name!r} is left as it is. {TRUST_FIX}"
        )
        return 1
    if not _job_is_known(state, settings.name):
        # A mistyped name or the wrong user's state directory: "closed -> closed"
        # would read as success while the real job's breaker stays open.
        complain(
            f"no job {settings.name!r} in {settings.state_dir} (it has never run there); "
            "check --name, and run as the job's user or pass its --state-dir"
        )
        return EXIT_USAGE
    try:
        state.ensure("jobs")  # a job run with --no-breaker has a log but no jobs/ yet
        store = brk.BreakerStore(state.job_path(settings.name))
        with store.update() as box:
            before = box[0]["state"]
            box[0] = brk.reset(box[0])
    except OSError as error:
        complain(
            f"cannot reset the breaker of {settings.name!r} ({error}); "
            "run as the job's user or pass its --state-dir"
        )
        return 1
    show(f"breaker of {settings.name!r}: {before} -> closed")
    return 0


def _job_is_known(state: StateDir, job: str) -> bool:
    """A job has run here if it left its breaker state or its run log."""
    return any(os.path.lexists(path) for path in (state.job_path(job), state.log_path(job)))
