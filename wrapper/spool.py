"""The local spool: run reports not yet accepted by a collector.

A report is written here first, durably (fsync, rename, fsync of the directory),
before anything is sent anywhere: a crash or a dead collector loses nothing.
The agent ships what is left, oldest first, and deletes each on acceptance.
"""

from __future__ import annotations

import os

from .state import StateDir, parse_json_file, remove_file, write_json_atomic

# The largest report the wrapper writes is over a megabyte: two 64 KiB tails and a
# 64 Ki-character command, each character up to six bytes once escaped (\ufffd).
MAX_REPORT_BYTES = 4 * 1024 * 1024


def spool_report(state: StateDir, report: dict[str, object]) -> str:
    state.ensure("spool")
    path = state.spool_path(str(report["run_id"]))
    write_json_atomic(path, report)
    return path


def pending_reports(state: StateDir) -> list[str]:
    """Paths of spooled reports, oldest first (temporary files, links, FIFOs excluded:
    what the wrapper writes there is always a regular file)."""
    directory = state.path("spool")
    try:
        entries = [
            e
            for e in os.scandir(directory)
            if e.name.endswith(".json") and e.is_file(follow_symlinks=False)
        ]
    except FileNotFoundError:
        return []
    entries.sort(key=lambda entry: (entry.stat().st_mtime_ns, entry.name))
    return [entry.path for entry in entries]


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
    """How many reports wait in spool/rejected/ (for the agent's heartbeat)."""
    return len(_rejected_entries(state))


def _rejected_entries(state: StateDir) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(state.path(REJECTED)) as scan:
            return [
                e for e in scan if e.name.endswith(".json") and e.is_file(follow_symlinks=False)
            ]
    except FileNotFoundError:
        return []


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
