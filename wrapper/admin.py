"""Hand operations on a job's state: `smartcron-wrap --reset-breaker --name NAME`."""

from __future__ import annotations

import sys

from . import breaker as brk
from .settings import Settings
from .state import StateDir


def reset_breaker(settings: Settings) -> int:
    from .trust import TRUST_FIX, untrusted_reason

    state = StateDir(settings.state_dir)
    problem = untrusted_reason(state.root)
    if problem is not None:
        sys.stderr.write(
            f"smartcron-wrap: error: state directory {state.root} is not safe to use "
            f"({problem}); the breaker of {settings.name!r} is left as it is. {TRUST_FIX}\n"
        )
        return 1
    try:
        state.ensure("jobs")
        store = brk.BreakerStore(state.job_path(settings.name))
        with store.update() as box:
            before = box[0]["state"]
            box[0] = brk.reset(box[0])
    except OSError as error:
        sys.stderr.write(
            f"smartcron-wrap: error: cannot reset the breaker of {settings.name!r} ({error}); "
            "run as the job's user or pass its --state-dir\n"
        )
        return 1
    print(f"breaker of {settings.name!r}: {before} -> closed")
    return 0
