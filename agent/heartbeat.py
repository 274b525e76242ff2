"""The heartbeat: what the collector's hosts page shows about this host.

Host health (boot id, uptime, time zone, clock, load, memory, free space of the
state directory's and the logs' filesystems), the spool (depth, rejects), the
runs in flight, and the jobs found in the host's crontabs, which are sent only
when they changed since the last heartbeat the collector took (the `jobs` key
is left out otherwise, and the collector keeps what it has).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

from smartcron.wrapper import __version__
from smartcron.wrapper.clock import iso
from smartcron.wrapper.running import boot_id
from smartcron.wrapper.spool import count_rejected, spool_depth
from smartcron.wrapper.state import StateDir

from .client import Collector
from .lost import runs_in_flight

HEARTBEAT = "/api/v1/heartbeat"
# The host's row keeps the health in a TEXT column (64 KiB on MySQL): a bounded list.
MAX_RUNNING_SENT = 100


def build_heartbeat(
    state: StateDir, host: str, jobs: list[dict[str, Any]] | None
) -> dict[str, Any]:
    depth, oldest = spool_depth(state)
    running = runs_in_flight(state)
    body: dict[str, Any] = {
        "host": host,
        "agent_version": __version__,
        "boot_id": boot_id(),
        "uptime_s": _uptime(),
        "timezone": _timezone(),
        "clock": iso(time.time()),
        "load": list(os.getloadavg()),
        "memory": _memory(),
        "disk_free": {
            "state_dir": _free_bytes(state.root),
            "logs": _free_bytes(state.path("logs")),
        },
        # What the collector's host_disk_low alert reads (under 10 %): bytes alone
        # cannot say how full a filesystem is.
        "disk_free_pct": {
            "state_dir": _free_pct(state.root),
            "logs": _free_pct(state.path("logs")),
        },
        "spool": {
            "depth": depth,
            "oldest_at": iso(oldest) if oldest is not None else None,
            "rejected": count_rejected(state),
        },
        "running": running[:MAX_RUNNING_SENT],
        "running_total": len(running),
    }
    if jobs is not None:
        body["jobs"] = jobs
    return body


def jobs_digest(jobs: list[dict[str, Any]] | None) -> str | None:
    if jobs is None:
        return None
    text = json.dumps(jobs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def send_heartbeat(collector: Collector, body: dict[str, Any]) -> None:
    answer = collector.post(HEARTBEAT, json.dumps(body, separators=(",", ":")).encode())
    if answer.status != 200:
        # Not "not now" (the client raises that for 5xx and 429): a heartbeat the
        # collector refuses must not hold back the spool; it is one warning.
        raise ValueError(f"collector answered {answer.status}: {answer.error_text()}")


def _uptime() -> float | None:
    try:
        with open("/proc/uptime", encoding="ascii") as handle:
            return float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _timezone() -> str:
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            return link.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return os.environ.get("TZ") or time.strftime("%Z")


def _memory() -> dict[str, int | None]:
    fields: dict[str, int] = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    fields[name] = int(parts[0]) * 1024
    except OSError:
        pass
    return {"total_bytes": fields.get("MemTotal"), "available_bytes": fields.get("MemAvailable")}


def _free_bytes(path: str) -> int | None:
    info = _statvfs(path)
    return None if info is None else info.f_bavail * info.f_frsize


def _free_pct(path: str) -> float | None:
    """Free space an unprivileged job can use, as a percentage of the filesystem."""
    info = _statvfs(path)
    if info is None or not info.f_blocks:
        return None
    return round(100.0 * info.f_bavail / info.f_blocks, 1)


def _statvfs(path: str) -> os.statvfs_result | None:
    # The logs directory may not exist yet: its filesystem is its nearest parent's.
    while path and not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    try:
        return os.statvfs(path)
    except OSError:
        return None
