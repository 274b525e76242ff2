"""The job's process tree: measure it, signal all of it.

The wrapper is a child subreaper (see spawn.py), so every process the job
started, even one that double-forked or called setsid(), is a descendant of the
wrapper. psutil is imported on first use: a job that ends within its first
sampling interval never pays for it.
"""

from __future__ import annotations

import errno
import os
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

# psutil is imported inside each function: the first call pays, later ones find it cached.


def descendants() -> list[psutil.Process]:
    import psutil as ps

    try:
        return list(ps.Process(os.getpid()).children(recursive=True))
    except ps.Error:
        return []


def live_descendants() -> list[psutil.Process]:
    """Descendants that are still running (zombies wait only for our reaping)."""
    import psutil as ps

    alive = []
    for process in descendants():
        try:
            if process.status() != ps.STATUS_ZOMBIE:
                alive.append(process)
        except ps.Error:
            continue
    return alive


def tree_rss() -> int:
    """Resident memory of the whole tree, in bytes."""
    import psutil as ps

    total = 0
    for process in descendants():
        try:
            total += process.memory_info().rss
        except ps.Error:
            continue  # gone between listing and reading: it uses nothing now
    return total


def kill_group(pgid: int, sig: int) -> None:
    """Signal the job's process group; ESRCH means it is already gone."""
    try:
        os.killpg(pgid, sig)
    except OSError as error:
        if error.errno != errno.ESRCH:
            raise


def signal_tree(pgid: int, sig: int) -> None:
    """The group first (one syscall reaches most of the tree), then each
    descendant that left the group."""
    kill_group(pgid, sig)
    import psutil as ps

    for process in descendants():
        try:
            process.send_signal(sig)
        except ps.Error:
            continue


def kill_session_leftovers(sid: int) -> int:
    """SIGKILL every process still in session `sid` (a lost run's leftovers). Count them."""
    import psutil as ps

    killed = 0
    for process in ps.process_iter():
        try:
            if os.getsid(process.pid) == sid:
                process.send_signal(signal.SIGKILL)
                killed += 1
        except (OSError, ps.Error):
            continue
    return killed
