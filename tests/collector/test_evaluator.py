"""The evaluation loop of `serve`: what runs after each pass (alert delivery) is given the
pass's moment, and a pass that fails with a bug does not end the passes after it."""

from __future__ import annotations

import datetime as dt
import logging
import threading

import pytest
from smartcron.collector.evaluator import EvaluationLoop
from sqlalchemy import Engine

WAIT_S = 30.0  # a deadline for the thread, never a figure


def test_after_runs_each_pass_and_a_bug_does_not_stop_the_loop(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[dt.datetime] = []
    enough = threading.Event()

    def after(engine: Engine, now: dt.datetime) -> None:
        assert engine is sqlite_engine
        seen.append(now)
        if len(seen) == 1:
            raise KeyError("a bug in delivery")
        if len(seen) >= 3:
            enough.set()

    loop = EvaluationLoop(sqlite_engine, 0.01, after=after)
    with caplog.at_level(logging.ERROR, logger="smartcron.collector"):
        loop.start()
        try:
            assert enough.wait(WAIT_S), "the loop stopped after the failing pass"
        finally:
            loop.stop()
    assert seen == sorted(seen)
    assert [r.getMessage() for r in caplog.records] == ["evaluation pass failed"]
    assert caplog.records[0].exc_info is not None
