"""Property tests of every state-file reader: jobs/NAME.json, running/RUN_ID.json, control.json.

Whatever bytes are in the file, a reader returns a checked document or hands the file
to its `on_bad` (which sets it aside) and reads as new: it never raises. A document
the wrapper wrote reads back as the same document.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smartcron.wrapper import breaker as brk
from smartcron.wrapper.clock import iso
from smartcron.wrapper.control import read_control
from smartcron.wrapper.running import find_lost_runs
from smartcron.wrapper.state import StateDir, set_aside, write_json_atomic
from smartcron.wrapper.statefiles import parse_control, parse_job_state, parse_marker

NOW = time.time()
PROPERTY = settings(
    max_examples=150, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
times = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime.fromtimestamp(NOW) - timedelta(days=1),
    timezones=st.just(timezone.utc),
).map(lambda moment: iso(moment.timestamp()))  # fmt: skip
# Valid job names (limits.py): not only dots, which the readers refuse.
names = st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True).filter(lambda n: n.strip("."))
job_states = st.fixed_dictionaries({
    "state": st.sampled_from([brk.CLOSED, brk.OPEN, brk.HALF_OPEN]),
    "failures": st.lists(times, max_size=5),
    "opened_at": st.none() | times,
    "trial_started_at": st.none() | times,
    "last_success_at": st.none() | times,
    "last_status": st.none() | st.sampled_from(["success", "failed", "timeout", "lost"]),
    "reset_applied_at": st.none() | times,
})  # fmt: skip
controls = st.fixed_dictionaries({
    "paused": st.lists(names, max_size=4),
    "breaker_resets": st.dictionaries(names, times, max_size=4),
})  # fmt: skip
markers = st.fixed_dictionaries({
    "run_id": st.uuids(version=4).map(str),
    "job": names,
    "command": st.lists(st.text(max_size=20), min_size=1, max_size=5),
    "schedule": st.none() | st.just("*/5 * * * *"),
    "timezone": st.none() | st.sampled_from(["UTC", "Europe/Berlin", "America/Argentina/Salta"]),
    "priority": st.integers(1, 10),
    "tags": st.lists(names, max_size=3),
    "pid": st.integers(1, 2**22),
    "pid_start_ticks": st.none() | st.integers(0, 2**40),
    "child_pid": st.none() | st.integers(1, 2**22),
    "child_start_ticks": st.none() | st.integers(0, 2**40),
    "pgid": st.none() | st.integers(1, 2**22),
    "started_at": times,
    "boot_id": st.just("not-this-boot"),
    "timeout_s": st.none() | st.floats(0, 1e9),
})  # fmt: skip


def broken(valid: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid document with one field's value replaced by any JSON value."""
    return valid.flatmap(
        lambda doc: st.tuples(st.sampled_from(sorted(doc)), json_values).map(
            lambda change: {**doc, change[0]: change[1]}
        )
    )


def file_contents(valid: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    """Anything a file might hold: bytes, any JSON, a valid document with a bad field."""
    as_json = (json_values | broken(valid) | valid).map(lambda doc: json.dumps(doc).encode())
    return st.binary(max_size=200) | as_json


@contextmanager
def scratch() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="smartcron-readers-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


class Aside:
    """An on_bad that does what the wrapper's does: set the file aside, remember why."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def __call__(self, path: str, problem: str) -> None:
        assert problem and "\n" not in problem, "one line naming the problem"
        self.problems.append(problem)
        set_aside(path)


def check_outcome(path: Path, aside: Aside, parsed_ok: bool) -> None:
    if parsed_ok:
        assert aside.problems == [] and path.exists()
    else:
        assert len(aside.problems) == 1, aside.problems
        assert not path.exists() and Path(f"{path}.corrupt").exists()


def parses(parse: Any, raw: bytes, *args: Any) -> bool:
    try:
        parse(json.loads(raw), *args)
    except (ValueError, RecursionError):
        return False
    return True


@PROPERTY
@given(file_contents(job_states))
def test_the_breaker_file_reader_never_raises(raw: bytes):
    with scratch() as directory:
        path = directory / "j.json"
        path.write_bytes(raw)
        aside = Aside()
        state = brk.BreakerStore(str(path), aside, clock=lambda: NOW).load()
        check_outcome(path, aside, parses(parse_job_state, raw, NOW))
        if aside.problems:
            assert state == brk.new_state()
        assert brk.decide(state, NOW, 60.0) in (brk.RUN, brk.TRIAL, brk.SKIP)


@PROPERTY
@given(job_states)
def test_a_breaker_file_round_trips(document: dict[str, Any]):
    with scratch() as directory:
        store = brk.BreakerStore(str(directory / "j.json"), Aside(), clock=lambda: NOW)
        write_json_atomic(store.path, document)
        assert store.load() == document
        assert parse_job_state(json.loads((directory / "j.json").read_text()), NOW) == document


@PROPERTY
@given(file_contents(controls))
def test_the_control_file_reader_never_raises(raw: bytes):
    with scratch() as directory:
        path = directory / "control.json"
        path.write_bytes(raw)
        aside = Aside()
        control = read_control(str(path), aside)
        check_outcome(path, aside, parses(parse_control, raw, time.time()))
        if aside.problems:
            assert control.paused == frozenset() and control.breaker_resets == {}


@PROPERTY
@given(controls)
def test_a_control_file_round_trips(document: dict[str, Any]):
    with scratch() as directory:
        write_json_atomic(str(directory / "control.json"), document)
        control = read_control(str(directory / "control.json"), Aside())
        assert control.paused == frozenset(document["paused"])
        assert control.breaker_resets == document["breaker_resets"]


@PROPERTY
@given(file_contents(markers), st.booleans())
def test_the_marker_reader_never_raises(raw: bytes, named_by_run_id: bool):
    with scratch() as directory:
        (directory / "running").mkdir()
        try:
            run_id = json.loads(raw)["run_id"]
        except (ValueError, TypeError, KeyError, RecursionError):
            run_id = str(uuid.uuid4())
        name = run_id if named_by_run_id and isinstance(run_id, str) else str(uuid.uuid4())
        if "/" in name or name in ("", ".", ".."):
            name = str(uuid.uuid4())
        path = directory / "running" / f"{name}.json"
        path.write_bytes(raw)
        aside = Aside()
        lost = find_lost_runs(StateDir(str(directory)), None, aside)
        valid = parses(parse_marker, raw, time.time(), name)
        check_outcome(path, aside, valid)
        assert [p for p, _ in lost] == ([str(path)] if valid else [])


@PROPERTY
@given(markers)
def test_a_marker_round_trips(document: dict[str, Any]):
    with scratch() as directory:
        state = StateDir(str(directory))
        state.ensure("running")
        write_json_atomic(state.running_path(document["run_id"]), document)
        ((path, read),) = find_lost_runs(state, None, Aside())
        assert read == document and os.path.basename(path) == f"{document['run_id']}.json"


@PROPERTY
@given(st.text(max_size=40) | st.uuids().map(str))
def test_only_a_canonical_uuid_passes_for_a_run_id(text: str):
    from smartcron.wrapper.state import is_run_id

    try:
        canonical = str(uuid.UUID(text)) == text
    except ValueError:
        canonical = False
    assert is_run_id(text) == canonical
    if not canonical:
        with pytest.raises(ValueError):
            StateDir("/nonexistent").spool_path(text)
