"""Two agents racing for the same lost markers (a `once` line and the daemon, started
together): each marker becomes exactly one `lost` report, shipped once, its leftover
process killed, and nothing is set aside. Repeated, with several markers a round."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import psutil
import pytest

from tests.agent.conftest import Agent, spool_names, stored_runs
from tests.conftest import StateDir, Wrap
from tests.support.service import Service

ROUNDS = 4
MARKERS = 3  # lost markers left for each round's race


def _wait(condition: Any, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _leave_lost_markers(wrap: Wrap, state: StateDir, tag: str) -> list[dict[str, Any]]:
    """MARKERS wrappers SIGKILLed mid-run: their markers stay, their jobs still run."""
    procs = [wrap.popen("--name", f"{tag}-{n}", "--", "sleep", "300") for n in range(MARKERS)]
    _wait(lambda: sum(1 for m in state.running() if m.get("child_pid")) == MARKERS,
          what="the runs to start")  # fmt: skip
    markers = state.running()
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    return markers


def _journal(state: StateDir) -> dict[str, Any]:
    return dict(json.loads((state.path / "agent" / "agent.json").read_text()))


def _journal_so_far(state: StateDir) -> dict[str, Any]:
    """The journal, or {} before the first pass that ends writes it: the `once` line that
    loses agent/pass.lock to the daemon writes none, and the daemon writes its own only
    when its pass ends, after the markers are shipped."""
    try:
        return _journal(state)
    except FileNotFoundError:
        return {}


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.timeout(900)  # real wrappers and agents, rounds of them, on a loaded machine
def test_a_once_line_and_the_daemon_report_each_lost_run_exactly_once(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    agent.collector = sqlite_collector
    expected: set[str] = set()
    for round_number in range(ROUNDS):
        markers = _leave_lost_markers(wrap, state, f"race{round_number}")
        children = [psutil.Process(m["child_pid"]) for m in markers]
        # Both at once: the daemon's first pass and the `once` line's only one, started
        # in turn first so that either may win the pass.
        if round_number % 2:
            once = agent.popen("once")
            daemon = agent.popen("run", "--interval", "0.1s")
        else:
            daemon = agent.popen("run", "--interval", "0.1s")
            once = agent.popen("once")
        try:
            _, err = once.communicate(timeout=120)
            assert once.returncode == 0, err
            _wait(lambda: state.running() == [] and spool_names(state) == set(),
                  what="the markers reported and shipped")  # fmt: skip
            # The daemon sets its SIGTERM handler before its first pass: a SIGTERM sent
            # while it still imports (the `once` line may win every marker first on a
            # loaded machine) ends it as -15, which says nothing of the race. A pass of its
            # own after the `once` line's proves the handler is there.
            once_done = time.time()
            _wait(
                lambda after=once_done: (
                    (_journal_so_far(state).get("last_heartbeat_at") or 0) > after
                ),
                what="a pass of the daemon's own",
            )
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, daemon_err = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, daemon_err
        assert "Traceback" not in err + daemon_err, err + daemon_err
        for child in children:
            _wait(lambda child=child: _gone(child), what="the leftover job killed")
        expected |= {m["run_id"] for m in markers}
        # The journal both agents keep (each pass under agent/pass.lock): one report made
        # and one shipped per marker so far, never two.
        journal = _journal(state)
        assert (journal["lost_reported"], journal["shipped"]) == (len(expected), len(expected))

    runs = stored_runs(sqlite_collector)
    assert sorted((r["run_id"], r["status"]) for r in runs) == sorted(
        (run_id, "lost") for run_id in expected
    )
    assert not list(state.path.rglob("*.corrupt")), "a marker was set aside"
    assert not (state.path / "spool" / "rejected").exists() or not list(
        (state.path / "spool" / "rejected").iterdir()
    )
