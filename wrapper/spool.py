"""The local spool: run reports not yet accepted by a collector.

A report is written here first, durably (fsync, rename, fsync of the directory),
before anything is sent anywhere: a crash or a dead collector loses nothing.
The agent ships what is left, oldest first, and deletes each on acceptance.
"""

from __future__ import annotations

import json
import os

from .state import StateDir, remove_file, write_json_atomic


def spool_report(state: StateDir, report: dict[str, object]) -> str:
    state.ensure("spool")
    path = state.spool_path(str(report["run_id"]))
    write_json_atomic(path, report)
    return path


def pending_reports(state: StateDir) -> list[str]:
    """Paths of spooled reports, oldest first (temporary files excluded)."""
    directory = state.path("spool")
    try:
        entries = [e for e in os.scandir(directory) if e.name.endswith(".json") and e.is_file()]
    except FileNotFoundError:
        return []
    entries.sort(key=lambda entry: (entry.stat().st_mtime_ns, entry.name))
    return [entry.path for entry in entries]


def read_report(path: str) -> dict[str, object]:
    with open(path, "rb") as handle:
        document = json.load(handle)
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a run report must be a JSON object")
    return document


def remove_report(path: str) -> None:
    """Forget a report the collector accepted. Already gone is fine (at least once)."""
    remove_file(path)
