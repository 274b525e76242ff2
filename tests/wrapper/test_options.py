"""options.py: the command line, `[OPTIONS] -- COMMAND [ARG...]`, parsed by hand."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from smartcron.wrapper import __version__
from smartcron.wrapper.options import OPTIONS, help_text, parse_argv
from smartcron.wrapper.validate import SettingError

if TYPE_CHECKING:
    from tests.conftest import StateDir, Wrap

pytestmark = pytest.mark.timeout(60)

TOUCH = 'touch "$1"'


def test_double_dash_starts_the_command_and_protects_its_options():
    parsed = parse_argv(["--name", "x", "--retries", "2", "--", "cmd", "--name", "y", "--"])
    assert parsed.values == {"name": "x", "retries": "2"}
    assert parsed.command == ["cmd", "--name", "y", "--"]


def test_option_equals_value():
    parsed = parse_argv(["--timeout=5m", "--kill-after=1s", "--tags=a,b=c", "--", "true"])
    assert parsed.values == {"timeout": "5m", "kill_after": "1s", "tags": "a,b=c"}
    assert parsed.command == ["true"]


def test_empty_value_after_equals_is_kept_for_the_validator():
    assert parse_argv(["--name=", "--", "true"]).values == {"name": ""}


def test_the_command_may_start_at_the_first_word_that_is_not_an_option():
    parsed = parse_argv(["--retries", "1", "echo", "--help", "-x"])
    assert parsed.command == ["echo", "--help", "-x"]
    assert parsed.values == {"retries": "1"}
    assert not parsed.help, "--help belongs to the command"


def test_a_value_may_look_like_an_option():
    # `--name -x`: the value is taken as written; the name validator refuses it later.
    assert parse_argv(["--name", "-x", "--", "true"]).values == {"name": "-x"}


def test_missing_value():
    with pytest.raises(SettingError) as error:
        parse_argv(["--timeout"])
    assert str(error.value) == "--timeout needs a value, e.g. --timeout DUR"


def test_unknown_option_suggests_the_closest():
    with pytest.raises(SettingError) as error:
        parse_argv(["--timout", "5", "--", "true"])
    assert str(error.value) == "no such option --timout (did you mean --timeout?)"


def test_unknown_option_with_equals_names_the_flag_only():
    with pytest.raises(SettingError) as error:
        parse_argv(["--retry-dealy=5s", "--", "true"])
    message = str(error.value)
    assert "--retry-dealy" in message and "5s" not in message
    assert "did you mean --retry-delay?" in message


def test_unknown_option_far_from_any_points_to_help():
    with pytest.raises(SettingError) as error:
        parse_argv(["--zzzzzzzzzz", "--", "true"])
    assert "see smartcron-wrap --help" in str(error.value)


def test_short_unknown_option():
    with pytest.raises(SettingError, match="no such option -v"):
        parse_argv(["-v", "--", "true"])


@pytest.mark.parametrize(
    ("argv", "values"),
    [
        (["--no-lock"], {"lock": False}),
        (["--lock"], {"lock": True}),
        (["--no-breaker"], {"breaker": False}),
        (["--no-lock", "--lock"], {"lock": True}),
        (["--quiet", "--dry-run", "--retry-timeouts"], {
            "quiet": True, "dry_run": True, "retry_timeouts": True,
        }),
    ],
)  # fmt: skip
def test_flags_and_toggles(argv, values):
    parsed = parse_argv([*argv, "--", "true"])
    assert parsed.values == values


def test_the_last_value_wins():
    assert parse_argv(["--retries", "1", "--retries=3", "--", "true"]).values == {"retries": "3"}


def test_a_flag_takes_no_value():
    with pytest.raises(SettingError) as error:
        parse_argv(["--no-lock=yes", "--", "true"])
    assert str(error.value) == "--no-lock takes no value; write --no-lock alone"


def test_help_and_version():
    assert parse_argv(["-h"]).help
    assert parse_argv(["--help"]).help
    assert parse_argv(["--version"]).version


def test_help_lists_every_option_and_env_name():
    text = help_text()
    for option in OPTIONS:
        assert option.flag in text, option.flag
        if option.env:
            assert option.env in text
    assert "--no-lock" in text and "--no-breaker" in text


def test_design_table_options_all_exist():
    flags = {option.flag for option in OPTIONS}
    design = {
        "--name", "--timeout", "--kill-after", "--retries", "--retry-delay", "--retry-max-delay",
        "--retry-timeouts", "--lock", "--lock-wait", "--max-memory", "--breaker-threshold",
        "--breaker-window", "--breaker-cooldown", "--breaker", "--schedule", "--priority",
        "--jitter", "--quiet", "--collector", "--token", "--state-dir", "--config", "--dry-run",
        "--reset-breaker",
    }  # fmt: skip
    assert design <= flags, design - flags


# ---------------------------------------------------------------- the installed executable


def test_cli_unknown_option_is_one_line_and_nothing_runs(wrap: Wrap, state: StateDir, tmp_path):
    ran = tmp_path / "ran"
    result = wrap("--name", "t", "--timout", "5", "--", "sh", "-c", TOUCH, "sh", ran)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "smartcron-wrap: error: no such option --timout (did you mean --timeout?)\n"
    )
    assert not ran.exists()
    assert state.spool_files() == []


def test_cli_missing_value(wrap: Wrap, state: StateDir):
    result = wrap("--timeout")
    assert result.returncode == 2
    assert result.stderr == "smartcron-wrap: error: --timeout needs a value, e.g. --timeout DUR\n"


def test_cli_bad_value_names_option_and_value(wrap: Wrap, state: StateDir, tmp_path):
    ran = tmp_path / "ran"
    result = wrap("--timeout=banana", "--", "sh", "-c", TOUCH, "sh", ran)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("smartcron-wrap: error: --timeout: 'banana' is not a duration")
    assert not ran.exists()
    assert state.spool_files() == []


def test_cli_no_command(wrap: Wrap):
    result = wrap("--name", "t")
    assert result.returncode == 2
    assert result.stderr.startswith("smartcron-wrap: error: no command given")
    result = wrap("--name", "t", "--")
    assert result.returncode == 2
    assert "no command given" in result.stderr


def test_cli_help_and_version(wrap: Wrap, state: StateDir):
    result = wrap("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: smartcron-wrap [OPTIONS] -- COMMAND [ARG...]")
    result = wrap("--version")
    assert result.returncode == 0
    assert result.stdout == f"smartcron-wrap {__version__}\n"
    assert not Path(state.path).exists(), "--help and --version touch no state"


def test_cli_no_lock_lets_a_second_run_overlap(wrap: Wrap, state: StateDir, tmp_path, wait_for):
    started, release = tmp_path / "started", tmp_path / "release"
    hold = 'touch "$1"; while [ ! -e "$2" ]; do sleep 0.05; done'
    holder = wrap.popen("--name", "overlap", "--", "sh", "-c", hold, "sh", started, release)
    try:
        wait_for(started)
        ran = tmp_path / "ran"
        result = wrap("--name", "overlap", "--no-lock", "--", "sh", "-c", TOUCH, "sh", ran)
        assert result.returncode == 0, result.stderr
        assert ran.exists(), "--no-lock ran the job beside the lock holder"
    finally:
        release.touch()
    assert holder.wait(timeout=20) == 0
    statuses = sorted(report["status"] for report in state.reports())
    assert statuses == ["success", "success"]
