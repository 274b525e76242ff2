"""limits.py: whatever the wrapper takes at its command line, the report model (and so
the collector) takes too; what the collector would refuse is refused up front."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from smartcron.wrapper import limits
from smartcron.wrapper import validate as v
from smartcron.wrapper.options import parse_argv
from smartcron.wrapper.report import CUT, build_report, new_run_id
from smartcron.wrapper.schema import RunReport
from smartcron.wrapper.settings import resolve
from smartcron.wrapper.validate import SettingError

if TYPE_CHECKING:
    from tests.conftest import StateDir, Wrap

NAME_CHARS = "abcXYZ019_.-"
names = st.text(alphabet=NAME_CHARS, min_size=0, max_size=limits.NAME_MAX + 2)
tag_lists = st.lists(
    st.text(alphabet=NAME_CHARS + ",", min_size=0, max_size=limits.TAG_MAX + 2),
    max_size=limits.TAGS_MAX + 2,
)
schedules = st.one_of(
    st.sampled_from(["@hourly", "@daily", "*/5 * * * *", "0 3 * * 1-5", "@reboot", "61 * * * *"]),
    st.lists(
        st.sampled_from(["*", "*/5", "0", "1-5", "mon", "jan,feb"]), min_size=1, max_size=6
    ).map(" ".join),
    st.text(min_size=0, max_size=300),
    st.just("0 " * 200 + "* * * *"),
    st.integers(1, 2000).map(lambda n: "0," * n + "0 * * * *"),
)
flags = st.fixed_dictionaries(
    {
        "--name": names,
        "--tags": tag_lists.map(",".join),
        "--priority": st.one_of(st.integers(-2, 13).map(str), st.text(max_size=3)),
        "--schedule": schedules,
    }
)
commands = st.lists(st.text(min_size=1, max_size=200), min_size=1, max_size=5)


def report_for(argv: list[str]) -> dict[str, object] | None:
    """The report a run of this command line would carry, or None when it is refused."""
    try:
        s = resolve(parse_argv(argv), {})
    except SettingError:
        return None
    now = time.time()
    return build_report(
        run_id=new_run_id(), job=s.name, command=s.command, schedule=s.schedule,
        priority=s.priority, tags=s.tags, status="success", started_at=now,
        finished_at=now + 1, exit_code=0, stdout_tail="ok\n",
    )  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=flags, command=commands)
@example(values={"--name": "..", "--tags": "", "--priority": "5", "--schedule": "@daily"},
         command=["true"])  # fmt: skip
@example(values={"--name": "x", "--tags": ",".join(["t" * 64] * 16), "--priority": "5",
                 "--schedule": "@daily"}, command=["true"])  # fmt: skip
@example(values={"--name": "x", "--tags": "", "--priority": "5",
                 "--schedule": "0," * 1999 + "0 * * * *"}, command=["true"])  # fmt: skip
def test_whatever_the_command_line_takes_the_report_model_takes(values, command):
    argv = [part for flag, value in values.items() for part in (f"{flag}={value}",)]
    report = report_for([*argv, "--", *command])
    if report is not None:
        RunReport.model_validate(report)  # raises if the collector would refuse it


@given(command=commands)
@settings(max_examples=200, deadline=None)
def test_a_derived_name_is_always_a_valid_name(command):
    report = report_for(["--", *command])
    assert report is not None
    assert v.is_job_name(str(report["job"]))
    RunReport.model_validate(report)


@pytest.mark.parametrize("name", [".", "..", "...", "." * 100])
def test_names_made_only_of_dots_are_refused(name):
    with pytest.raises(SettingError, match="not only dots"):
        v.parse_name(name)
    assert not v.is_job_name(name)


@pytest.mark.parametrize("name", [".hidden", "a.", "..a", "a..b", "_", "-"])
def test_names_with_dots_and_something_else_are_fine(name):
    assert v.parse_name(name) == name


def test_the_joined_tags_must_fit_the_collectors_column():
    assert limits.joined_tags_length(["a", "bb"]) == 4
    assert limits.joined_tags_length([]) == 0
    fits = tuple(["t" * 64] * 15 + ["z" * 49])
    assert v.parse_tags(",".join(fits)) == fits
    with pytest.raises(SettingError, match="1039 characters joined by commas"):
        v.parse_tags(",".join(["t" * 64] * 16))


@given(lock_error=st.text(max_size=3 * limits.REASON_MAX) | st.just("\udcff" * 5000))
@settings(max_examples=200, deadline=None)
def test_whatever_lock_error_the_wrapper_writes_the_report_model_takes(lock_error):
    # An OS error and a path: the path may be 4 KiB and any bytes (lone surrogates).
    now = time.time()
    report = build_report(
        run_id=new_run_id(), job="j", command=["true"], schedule=None, priority=5, tags=(),
        status="success", started_at=now, finished_at=now + 1, exit_code=0,
        lock_error=lock_error,
    )  # fmt: skip
    taken = RunReport.model_validate(report).lock_error
    assert taken is not None and 1 <= len(taken) <= limits.REASON_MAX
    if lock_error and lock_error.encode("utf-8", "surrogatepass") == lock_error.encode(
        "utf-8", "ignore"
    ):  # valid text: kept as it is, or its start with a note that it is cut
        kept = lock_error if len(lock_error) <= limits.REASON_MAX else (
            lock_error[: limits.REASON_MAX - len(CUT)] + CUT)  # fmt: skip
        assert taken == kept
    assert "lock_error" not in build_report(
        run_id=new_run_id(), job="j", command=["true"], schedule=None, priority=5, tags=(),
        status="success", started_at=now, finished_at=now + 1, exit_code=0,
    ), "present only when the run went without its lock"  # fmt: skip


@pytest.mark.parametrize(
    ("value", "words"),
    [("x" * (limits.REASON_MAX + 1), "at most 1024"), ("", "at least 1"),
     (13, "valid string")],
)  # fmt: skip
def test_the_report_model_refuses_a_lock_error_it_cannot_store(value, words):
    now = time.time()
    report = build_report(
        run_id=new_run_id(), job="j", command=["true"], schedule=None, priority=5, tags=(),
        status="success", started_at=now, finished_at=now + 1, exit_code=0,
    )  # fmt: skip
    with pytest.raises(ValidationError, match=rf"lock_error\n.*{words}"):
        RunReport.model_validate({**report, "lock_error": value})


def test_the_wrapper_run_path_does_not_import_pydantic():
    # limits.py is plain constants: importing it must not drag the model in.
    probe = (
        "import sys; import smartcron.wrapper.cli, smartcron.wrapper.run, "
        "smartcron.wrapper.limits; print('pydantic' in sys.modules)"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- the installed wrapper

ONE_LINE = re.compile(r"smartcron-wrap: error: [^\n]+\n")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(("--schedule", "0," * 1999 + "0 * * * *"), ("--schedule", "at most 255"),
                     id="schedule-4007"),
        pytest.param(("--tags", ",".join(["t" * 64] * 16)), ("--tags", "1024"), id="tags-16x64"),
        pytest.param(("--tags", ",".join(["t"] * 17)), ("--tags", "at most 16"), id="tags-17"),
        pytest.param(("--name", ".."), ("--name", "not only dots"), id="dotdot"),
        pytest.param(("--name", "."), ("--name", "not only dots"), id="dot"),
    ],
)  # fmt: skip
def test_values_the_collector_would_refuse_are_refused_up_front(
    wrap: Wrap, state: StateDir, tmp_path, args, words
):
    ran = tmp_path / "ran"
    result = wrap(*args, "--", "touch", ran)
    assert result.returncode == 2
    assert ONE_LINE.fullmatch(result.stderr), result.stderr
    for word in words:
        assert word in result.stderr
    assert len(result.stderr) < 400, "the bad value is shown, not echoed whole"
    assert not ran.exists() and state.spool_files() == []


def test_a_schedule_of_255_characters_runs(wrap: Wrap, state: StateDir):
    schedule = "0,1,2,3,4,5,6,7,8,9," * 12 + "10,11,12,13,14,15,16,17,18,19,20,21"
    schedule = schedule[: limits.SCHEDULE_MAX - len(" * * * *")].rstrip(",") + " * * * *"
    assert len(schedule) <= limits.SCHEDULE_MAX
    result = wrap("--name", "long-schedule", "--schedule", schedule, "--", "true")
    assert result.returncode == 0, result.stderr
    assert state.report()["schedule"] == schedule
