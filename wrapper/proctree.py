"""The job's process tree: measure it, signal all of it.

The wrapper is a child subreaper (see spawn.py), so every process the job
started, even one that double-forked or called setsid(), is a descendant of the
wrapper. The tree is found from /proc/PID/stat (parent and state of every
process, the same reads psutil would make) without importing psutil, so a long
job's supervision stays well below 1% of a core and the wrapper stays small.
"""

from __future__ import annotations

import errno
import os
import signal

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None  # the process is gone


def _processes() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, state letter) for every process on the host."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read(f"/proc/{entry}/stat")
        if not stat:
            continue
        # The command name (field 2) may hold spaces and ')': parse after the last ')'.
        fields = stat[stat.rindex(b")") + 2 :].split(maxsplit=3)
        table[int(entry)] = (int(fields[1]), fields[0])
    return table


_excluded: set[int] = set()  # the wrapper's own helpers (the guardian): not the job's


def exclude(pid: int) -> None:
    _excluded.add(pid)


def _descendants(live_only: bool) -> list[int]:
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, state) in table.items():
        if pid in _excluded:
            continue
        if not live_only or state not in (b"Z", b"X"):
            children.setdefault(parent, []).append(pid)
    found, pending = [], [os.getpid()]
    while pending:
        below = children.get(pending.pop(), [])
        found.extend(below)
        pending.extend(below)
    return found


def descendant_pids() -> list[int]:
    """Every process below the wrapper, zombies included."""
    return _descendants(live_only=False)


def live_descendants() -> list[int]:
    """Descendants still running (zombies wait only for our reaping)."""
    return _descendants(live_only=True)


def tree_rss() -> int:
    """Resident memory of the whole tree, in bytes."""
    total = 0
    for pid in descendant_pids():
        statm = _read(f"/proc/{pid}/statm")
        if statm:
            total += int(statm.split()[1]) * _PAGE_SIZE
    return total


def _signal(pid: int, sig: int, *, group: bool = False) -> bool:
    """False when the kernel refuses (EPERM): a setuid program such as sudo runs
    as another user, and a non-root wrapper cannot signal it. That is a fact to
    record, not a failure of supervision. ESRCH means "already gone"; any other
    error is real."""
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except OSError as error:
        if error.errno == errno.EPERM:
            return False
        if error.errno != errno.ESRCH:
            raise
    return True


def signal_group(pgid: int, sig: int) -> bool:
    """The job's process group alone (no /proc needed). False if the kernel refused."""
    return _signal(pgid, sig, group=True)


def signal_tree(pgid: int, sig: int) -> bool:
    """The group first (one syscall reaches most of the tree), then each
    descendant that left the group. False if the kernel refused any of them."""
    delivered = _signal(pgid, sig, group=True)
    for pid in descendant_pids():
        delivered = _signal(pid, sig) and delivered
    return delivered


def kill_pids(pids: list[int]) -> None:
    """SIGKILL each of `pids` (a lost run's leftovers, proven to be the run's)."""
    for pid in pids:
        # Gone already, or not ours to kill (EPERM: then it was never ours to begin with).
        _signal(pid, signal.SIGKILL)


def kill_session_leftovers(sid: int) -> int:
    """SIGKILL every process still in session `sid` (a lost run's leftovers). Count them."""
    killed = 0
    for pid in _processes():
        try:
            if os.getsid(pid) != sid:
                continue
        except OSError:
            continue  # gone since the scan
        if _signal(pid, signal.SIGKILL):
            killed += 1
    return killed
