"""The collector's one periodic loop (collector/periodic.py): ticks go on after a tick
that fails with a bug or a database error, and stop() ends them and runs on_stop."""

from __future__ import annotations

import logging
import threading

import pytest
from smartcron.collector.periodic import PeriodicLoop
from sqlalchemy.exc import OperationalError

WAIT_S = 30.0  # a deadline for the thread, never a figure


def test_a_failing_tick_does_not_end_the_ticks_and_stop_runs_on_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks: list[int] = []
    stopped: list[bool] = []
    enough = threading.Event()

    def tick() -> None:
        ticks.append(len(ticks))
        if len(ticks) == 1:
            raise KeyError("a bug in a step")
        if len(ticks) == 2:
            raise OperationalError("SELECT 1", {}, Exception("server has gone away\nmore"))
        if len(ticks) >= 3:
            enough.set()

    loop = PeriodicLoop("collector tick", 0.01, tick, on_stop=lambda: stopped.append(True))
    with caplog.at_level(logging.WARNING, logger="smartcron.collector"):
        loop.start()
        try:
            assert enough.wait(WAIT_S), "the loop stopped after a failing tick"
        finally:
            loop.stop()
    assert stopped == [True]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "collector tick failed"
    assert caplog.records[0].exc_info is not None, "a bug keeps its traceback"
    assert messages[1].startswith("collector tick failed: (builtins.Exception) server has gone")
    assert "\n" not in messages[1], "a database error is one line"
    count = len(ticks)
    assert not loop._thread.is_alive() and len(ticks) == count, "no tick after stop()"


def test_an_interval_of_zero_never_starts() -> None:
    loop = PeriodicLoop("collector tick", 0, lambda: pytest.fail("ticked"))
    loop.start()
    loop.stop()
    assert not loop._thread.is_alive()
