"""One pass of the agent: lost runs, ship the spool, heartbeat, pull control.

Each step stands alone: a collector that is down stops shipping (and sets the
backoff) but never the lost-run scan, and a failing step is one line on stderr,
never a traceback. The whole pass holds agent/pass.lock, so a `once` line and
the daemon on one host take turns instead of sending the same files twice.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from smartcron.wrapper.state import StateDir, open_state_file
from smartcron.wrapper.trust import prepare_state_dir

from .client import Collector, NotNow
from .heartbeat import build_heartbeat, jobs_digest, send_heartbeat
from .journal import Journal, pass_lock_path, read_journal, write_journal
from .lost import report_lost_runs
from .settings import AgentSettings
from .ship import Shipment, backoff_delay, ship_spool


class UnsafeStateDir(Exception):
    pass


def open_state(settings: AgentSettings) -> StateDir:
    """The state directory, once trusted the way the wrapper trusts it (the agent
    runs as root too). UnsafeStateDir names the problem."""
    from smartcron.wrapper.trust import TRUST_FIX

    try:
        problem = prepare_state_dir(settings.state_dir)
    except OSError as error:
        problem = f"cannot create {settings.state_dir} ({error.strerror})"
    if problem:
        raise UnsafeStateDir(f"state directory {settings.state_dir}: {problem}. {TRUST_FIX}")
    return StateDir(settings.state_dir)


def find_crontab_jobs(settings: AgentSettings) -> list[dict[str, Any]]:
    """The jobs found in this host's crontabs (the crontab commands' own scan). A
    crontab it cannot read is left out, as `discover` does; `discover` says why."""
    from .discover import Places, discover_jobs

    places = Places(system_crontab=settings.system_crontab, cron_d=settings.cron_dir)
    if settings.spool_dir:
        places = Places(places.system_crontab, places.cron_d, (settings.spool_dir,))
    jobs, _notes = discover_jobs(places)
    return [job.model_dump() for job in jobs]


def run_pass(
    settings: AgentSettings,
    should_stop: Callable[[], bool] = lambda: False,
    rng: random.Random | None = None,
) -> bool:
    """One pass; False when another agent holds the pass (this one did nothing)."""
    state = open_state(settings)
    lock_fd = open_state_file(pass_lock_path(state), os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        journal = read_journal(state)
        _step("lost runs", lambda: _lost(state, settings, journal))
        if settings.collector is None:
            write_journal(state, journal)
            return True
        collector = Collector(
            settings.collector, settings.token, settings.connect_timeout, settings.read_timeout
        )
        try:
            _talk(state, settings, journal, collector, should_stop, rng or random.Random())
        finally:
            collector.close()
            write_journal(state, journal)
        return True
    finally:
        os.close(lock_fd)


def _lost(state: StateDir, settings: AgentSettings, journal: Journal) -> None:
    journal.lost_reported += report_lost_runs(state, settings.host)


def _talk(
    state: StateDir,
    settings: AgentSettings,
    journal: Journal,
    collector: Collector,
    should_stop: Callable[[], bool],
    rng: random.Random,
) -> None:
    now = time.time()
    if now < journal.next_attempt_at:
        return  # backing off: the collector was down or asked us to wait
    shipment = Shipment()
    try:
        try:
            ship_spool(state, collector, settings.batch_size, should_stop, shipment)
        finally:  # a pass cut short by "not now" shipped what it shipped
            _count(journal, shipment)
        _step("heartbeat", lambda: _heartbeat(state, settings, journal, collector))
        _step("control", lambda: _control(state, settings, journal, collector))
    except NotNow as trouble:
        journal.failures += 1
        journal.reachable = False
        journal.last_answer = trouble.reason[:500]
        journal.last_answer_at = time.time()
        delay = backoff_delay(
            journal.failures, settings.backoff_min, settings.backoff_max, trouble.retry_after, rng
        )
        journal.next_attempt_at = time.time() + delay
        _warn(f"{trouble.reason}; next attempt in {delay:.0f}s")
        return
    journal.failures = 0
    journal.reachable = True
    journal.next_attempt_at = 0.0


def _count(journal: Journal, shipment: Shipment) -> None:
    journal.shipped += shipment.shipped
    journal.rejected += shipment.rejected
    if shipment.answers:
        journal.last_delivery_at = time.time()
        journal.last_answer = shipment.answers[-1]
        journal.last_answer_at = journal.last_delivery_at


def _heartbeat(
    state: StateDir, settings: AgentSettings, journal: Journal, collector: Collector
) -> None:
    try:
        jobs: list[dict[str, Any]] | None = find_crontab_jobs(settings)
    except Exception as error:  # noqa: BLE001 - a crontab scan must not stop the pass
        _warn(f"cannot read the crontabs ({error})")
        jobs = None
    digest = jobs_digest(jobs)
    changed = digest != journal.jobs_digest
    send_heartbeat(collector, build_heartbeat(state, settings.host, jobs if changed else None))
    journal.jobs_digest = digest
    journal.last_heartbeat_at = time.time()


def _control(
    state: StateDir, settings: AgentSettings, journal: Journal, collector: Collector
) -> None:
    from .control import sync_control

    sync_control(state, collector, settings.host)
    journal.last_control_at = time.time()


def _step(what: str, action: Callable[[], None]) -> None:
    """Run one step; its failure is one line, and the pass goes on."""
    try:
        action()
    except NotNow:
        raise
    except (OSError, ValueError) as error:
        _warn(f"{what}: {error}")


def _warn(message: str) -> None:
    print(f"smartcron-agent: warning: {message}", file=sys.stderr, flush=True)
