"""The local spool: run reports not yet accepted by a collector.

A report is written here first, durably (fsync, rename, fsync of the directory),
before anything is sent anywhere: a crash or a dead collector loses nothing.
The agent ships what is left, oldest first, and deletes each on acceptance.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from .state import StateDir, parse_json_file, remove_file, write_json_atomic

# The largest report the wrapper writes is over a megabyte: two 64 KiB tails and a
# 64 Ki-character command, each character up to six bytes once escaped (\ufffd).
MAX_REPORT_BYTES = 4 * 1024 * 1024


def spool_report(state: StateDir, report: dict[str, object]) -> str:
    state.ensure("spool")
    path = state.spool_path(str(report["run_id"]))
    write_json_atomic(path, report)
    return path


# The agent takes the spool this many reports at a time: a list of every path held
# 145 MiB for 100,000 reports (a DirEntry, its stat and its path each), and a spool
# grows without bound while the collector is away. A window of 10,000 peaks at 2.7 MiB
# in its scan (20,000: 5.5 MiB, which left the agent at 55 MiB of its 60 draining
# 100,000); 100,000 take ten scans, a stat per file each, about 1 s per 100,000 files
# on a busy machine, against two minutes of shipping.
SPOOL_WINDOW = 10_000


def oldest_reports(state: StateDir, window: int = SPOOL_WINDOW) -> Iterator[str]:
    """Paths of the spooled reports, oldest first (by mtime, then name), never holding
    more than `window` of them: each scan of the directory keeps the oldest `window`
    after the last one given (a bounded heap), and the next scan starts after those.
    A report that turns up meanwhile older than the last one given waits for the next
    call; none is given twice by one call, and a call ends."""
    import heapq

    directory = state.path("spool")
    after: tuple[int, str] | None = None
    while True:
        found = _spooled(directory)
        if after is not None:
            found = (key for key in found if key > after)
        keys = heapq.nsmallest(window, found)
        for _mtime_ns, name in keys:
            yield os.path.join(directory, name)
        if len(keys) < window:
            return
        after = keys[-1]


def pending_reports(state: StateDir) -> list[str]:
    """Paths of every spooled report, oldest first: for a small spool (tests, tools);
    the agent streams them with oldest_reports."""
    return list(oldest_reports(state))


def spool_depth(state: StateDir) -> tuple[int, float | None]:
    """How many reports wait in the spool, and the mtime of the oldest, in one scan
    that holds none of them."""
    count, oldest = 0, None
    for mtime_ns, _name in _spooled(state.path("spool")):
        count += 1
        oldest = mtime_ns if oldest is None else min(oldest, mtime_ns)
    return count, None if oldest is None else oldest / 1e9


def _spooled(directory: str) -> Iterator[tuple[int, str]]:
    """(mtime_ns, name) of each spooled report, in directory order (temporary files,
    links, FIFOs excluded: what the wrapper writes there is always a regular file)."""
    try:
        scan = os.scandir(directory)
    except FileNotFoundError:
        return
    with scan:
        for entry in scan:
            if not _is_report(entry):
                continue
            try:
                yield entry.stat(follow_symlinks=False).st_mtime_ns, entry.name
            except FileNotFoundError:
                continue  # shipped or set aside since the directory was read


def read_report(path: str) -> dict[str, object]:
    """A spooled report, read the way state files are (never through a link, never a
    FIFO or a file not ours, never more than MAX_REPORT_BYTES): OSError or ValueError
    otherwise, for the caller to set the file aside."""
    document = parse_json_file(path, MAX_REPORT_BYTES)
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a run report must be a JSON object")
    return document


def remove_report(path: str) -> None:
    """Forget a report the collector accepted. Already gone is fine (at least once)."""
    remove_file(path)


# spool/rejected/: reports a collector refused as invalid. Sending one again as it is
# would be refused again, so it leaves the queue; it is kept (never deleted) with
# the reason beside it, RUN_ID.json and RUN_ID.reason, for a person to look at.
REJECTED = os.path.join("spool", "rejected")
REASON_SUFFIX = ".reason"


def reject_report(state: StateDir, path: str, reason: str) -> str:
    """Move a spooled report to spool/rejected/ with its reason; its new path.

    The reason is written first, so a crash between the two steps leaves the
    report still queued (sent and refused again), never a report without a reason.
    """
    import time

    from .clock import iso

    directory = state.ensure(REJECTED)
    name = os.path.basename(path)
    stem = name[: -len(".json")] if name.endswith(".json") else name
    write_json_atomic(
        os.path.join(directory, stem + REASON_SUFFIX),
        {"reason": reason, "rejected_at": iso(time.time())},
    )
    target = os.path.join(directory, name)
    os.rename(path, target)
    _sync_directory(directory)
    _sync_directory(os.path.dirname(path))
    return target


def rejected_reports(state: StateDir) -> list[tuple[str, str]]:
    """(path, reason) of every rejected report, oldest rejection first."""
    entries = _rejected_entries(state)
    entries.sort(key=lambda entry: (entry.stat().st_mtime_ns, entry.name))
    return [(entry.path, rejection_reason(entry.path)) for entry in entries]


def count_rejected(state: StateDir) -> int:
    """How many reports wait in spool/rejected/ (for the agent's heartbeat), counted
    without holding them: a poisoned run of reports can leave many there."""
    try:
        with os.scandir(state.path(REJECTED)) as scan:
            return sum(_is_report(entry) for entry in scan)
    except FileNotFoundError:
        return 0


def _rejected_entries(state: StateDir) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(state.path(REJECTED)) as scan:
            return [entry for entry in scan if _is_report(entry)]
    except FileNotFoundError:
        return []


def _is_report(entry: os.DirEntry[str]) -> bool:
    return entry.name.endswith(".json") and entry.is_file(follow_symlinks=False)


def rejection_reason(path: str) -> str:
    """The reason kept beside a rejected report; a missing or unreadable one says so."""
    reason_path = path[: -len(".json")] + REASON_SUFFIX
    try:
        document = parse_json_file(reason_path)
    except (OSError, ValueError):
        return "reason unknown (no readable .reason file beside it)"
    reason = document.get("reason") if isinstance(document, dict) else None
    return reason if isinstance(reason, str) else "reason unknown (malformed .reason file)"


def _sync_directory(directory: str) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
