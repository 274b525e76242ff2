"""The TOML config file: [defaults] and [jobs.NAME], checked before anything runs."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from smartcron.wrapper.config import check_file, load_tables
from smartcron.wrapper.validate import SettingError

if TYPE_CHECKING:
    from tests.conftest import StateDir, Wrap

pytestmark = pytest.mark.timeout(60)

TOUCH = 'touch "$1"'


def touch_job(ran: Path) -> tuple[str, ...]:
    return ("sh", "-c", TOUCH, "sh", str(ran))


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "smartcron.toml"
    path.write_text(text)
    return path


def assert_refused(
    result: subprocess.CompletedProcess[str], ran: Path, state: StateDir, *fragments: str
) -> str:
    """Exit 2, one stderr line naming the problem, nothing ran, nothing recorded."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("smartcron-wrap: error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert not ran.exists(), "the job ran despite a bad config"
    assert state.spool_files() == []
    return line


# ---------------------------------------------------------------- unit: load_tables


def test_load_tables_validates_and_normalises_both_spellings(tmp_path):
    path = config(
        tmp_path,
        """
[defaults]
kill-after = "3s"
retry_delay = "1m"
max-memory = "512M"
lock = false
tags = ["nightly", "db"]
timeout = 90

[jobs.backup]
kill_after = "20s"
breaker-threshold = 3
schedule = "0 3 * * *"
""",
    )
    defaults, own = load_tables(str(path), "backup")
    assert defaults == {
        "kill_after": 3.0,
        "retry_delay": 60.0,
        "max_memory": 512 << 20,
        "lock": False,
        "tags": ("nightly", "db"),
        "timeout": 90.0,
    }
    assert own == {"kill_after": 20.0, "breaker_threshold": 3, "schedule": "0 3 * * *"}
    assert load_tables(str(path), "other") == (defaults, {})


def test_load_tables_only_checks_this_jobs_table(tmp_path):
    path = config(tmp_path, '[jobs.broken]\ntimeout = "banana"\n[jobs.fine]\nretries = 1\n')
    assert load_tables(str(path), "fine") == ({}, {"retries": 1})
    with pytest.raises(SettingError, match=r"\[jobs.broken\] timeout: 'banana'"):
        load_tables(str(path), "broken")


def test_check_file_lists_every_problem(tmp_path):
    path = config(
        tmp_path,
        '[defaults]\ntimout = "1s"\n[jobs.a]\npriority = 11\n[jobs.b]\nmax_memory = "lots"\n',
    )
    problems = check_file(str(path))
    assert len(problems) == 3, problems
    assert "[defaults] unknown option 'timout'" in problems[0]
    assert "[jobs.a] priority: 11" in problems[1]
    assert "[jobs.b] max_memory: 'lots'" in problems[2]


@pytest.mark.parametrize("key", ["name", "config", "dry_run", "reset_breaker"])
def test_command_line_only_options_are_unknown_in_the_file(tmp_path, key):
    path = config(tmp_path, f'[jobs.x]\n{key} = "y"\n')
    with pytest.raises(SettingError, match=f"unknown option '{key}'"):
        load_tables(str(path), "x")


# ---------------------------------------------------------------- the installed executable


def test_defaults_and_job_table_both_apply(wrap: Wrap, state: StateDir, tmp_path):
    path = config(
        tmp_path,
        """
[defaults]
timeout = "300ms"
kill-after = "100ms"
priority = 2
tags = "fromdefaults"

[jobs.patient]
timeout = "20s"
tags = ["fromjob"]
""",
    )
    result = wrap("--config", path, "--name", "hasty", "--", "sleep", "10")
    assert result.returncode == 124, result.stderr
    result = wrap("--config", path, "--name", "patient", "--", "sleep", "0.5")
    assert result.returncode == 0, result.stderr
    hasty, patient = state.reports()
    assert (hasty["job"], hasty["status"], hasty["priority"]) == ("hasty", "timeout", 2)
    assert hasty["tags"] == ["fromdefaults"]
    assert (patient["job"], patient["status"], patient["priority"]) == ("patient", "success", 2)
    assert patient["tags"] == ["fromjob"]


@pytest.mark.parametrize("key", ["kill-after", "kill_after"])
def test_kill_after_in_either_spelling(wrap: Wrap, state: StateDir, tmp_path, key):
    # The job ignores SIGTERM: only kill-after (300 ms here, 10 s by default) ends it.
    path = config(tmp_path, f'[jobs.deaf]\ntimeout = "200ms"\n{key} = "300ms"\n')
    # The setting the run resolves, from the file, as the dry run prints it.
    plan = wrap("--config", path, "--name", "deaf", "--dry-run", "--", "true")
    [line] = [line.split() for line in plan.stdout.splitlines() if "kill-after" in line]
    assert line[:2] == ["kill-after", "300ms"], plan.stdout
    # And applied: a SIGTERM-deaf job sleeping 300 s (ten times wrap()'s watchdog) ends
    # by the SIGKILL after the grace.
    result = wrap("--config", path, "--name", "deaf", "--", "sh", "-c", "trap '' TERM; sleep 300")
    assert result.returncode == 124, result.stderr
    report = state.report()
    assert (report["status"], report["signal"]) == ("timeout", signal.SIGKILL)


@pytest.mark.parametrize(
    ("table", "key", "suggestion"),
    [
        ("defaults", "timout", "timeout"),
        ("jobs.t", "retry_dealy", "retry_delay"),
        ("jobs.t", "max_memroy", "max_memory"),
        ("jobs.t", "breakerthreshold", "breaker_threshold"),
    ],
)
def test_unknown_key_is_refused_with_a_suggestion(
    wrap: Wrap, state: StateDir, tmp_path, table, key, suggestion
):
    path = config(tmp_path, f'[{table}]\n{key} = "1"\n')
    ran = tmp_path / "ran"
    result = wrap("--config", path, "--name", "t", "--", *touch_job(ran))
    assert_refused(
        result, ran, state, str(path), f"[{table}]", repr(key), f"did you mean {suggestion!r}?"
    )


def test_unknown_key_far_from_any_points_to_help(wrap: Wrap, state: StateDir, tmp_path):
    path = config(tmp_path, "[defaults]\nzzzzzz = 1\n")
    ran = tmp_path / "ran"
    result = wrap("--config", path, "--name", "t", "--", *touch_job(ran))
    assert_refused(result, ran, state, "'zzzzzz'", "--help")


def test_unknown_table_is_refused(wrap: Wrap, state: StateDir, tmp_path):
    path = config(tmp_path, '[job.t]\ntimeout = "1s"\n')
    ran = tmp_path / "ran"
    result = wrap("--config", path, "--name", "t", "--", *touch_job(ran))
    assert_refused(result, ran, state, "[job]", "[defaults], [jobs.NAME], [agent] and [collector]")


def test_the_collector_table_of_a_shared_file_is_left_to_the_collector(tmp_path):
    """One smartcron.toml on a host that runs the collector too: its [collector] table
    (channels, routes) is the collector's to validate, and no reason to refuse a job."""
    path = config(tmp_path, '[defaults]\ntimeout = "1s"\n[collector.channels.hook]\n'
                            'kind = "webhook"\nurl = "http://127.0.0.1:1/"\n')  # fmt: skip
    assert check_file(str(path)) == []
    defaults, _ = load_tables(str(path), "t")
    assert defaults == {"timeout": 1.0}


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        ('timeout = "banana"', ("timeout", "'banana'", "not a duration")),
        ('max_memory = "lots"', ("max_memory", "'lots'", "512M")),
        ("priority = 11", ("priority", "11", "from 1 to 10")),
        ('retries = "two"', ("retries", "'two'")),
        ('schedule = "61 * * * *"', ("schedule", "'61 * * * *'", "cron schedule")),
        ('schedule = "@reboot"', ("schedule", "@reboot")),
        ('collector = "collector:80"', ("collector", "'collector:80'", "URL")),
        ('token = "file:/nonexistent/token"', ("token", "/nonexistent/token")),
        ("lock = 3", ("lock", "3")),
        ('tags = ["ok", "not ok"]', ("tags", "'not ok'")),
    ],
)
def test_bad_value_in_the_job_table(wrap: Wrap, state: StateDir, tmp_path, line, fragments):
    path = config(tmp_path, f"[jobs.t]\n{line}\n")
    ran = tmp_path / "ran"
    result = wrap("--config", path, "--name", "t", "--", *touch_job(ran))
    assert_refused(result, ran, state, str(path), "[jobs.t]", *fragments)


def test_bad_value_in_defaults_stops_every_job(wrap: Wrap, state: StateDir, tmp_path):
    path = config(tmp_path, '[defaults]\nkill_after = "soon"\n')
    ran = tmp_path / "ran"
    result = wrap("--config", path, "--name", "any", "--", *touch_job(ran))
    assert_refused(result, ran, state, "[defaults]", "kill_after", "'soon'")


def test_bad_value_in_another_jobs_table_does_not_stop_this_job(
    wrap: Wrap, state: StateDir, tmp_path
):
    path = config(
        tmp_path, '[jobs.other]\ntimeout = "banana"\ntimout = 1\n[jobs.t]\npriority = 3\n'
    )
    ran = tmp_path / "ran"
    result = wrap("--config", path, "--name", "t", "--", *touch_job(ran))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert ran.exists()
    report = state.report()
    assert (report["status"], report["priority"]) == ("success", 3)


def test_toml_syntax_error(wrap: Wrap, state: StateDir, tmp_path):
    path = config(tmp_path, '[defaults]\ntimeout = "1s\n')
    ran = tmp_path / "ran"
    result = wrap("--config", path, "--name", "t", "--", *touch_job(ran))
    assert_refused(result, ran, state, str(path), "not valid TOML", "fix the syntax")


def test_missing_config_file(wrap: Wrap, state: StateDir, tmp_path):
    path = tmp_path / "nope.toml"
    ran = tmp_path / "ran"
    result = wrap("--config", path, "--name", "t", "--", *touch_job(ran))
    assert_refused(result, ran, state, str(path), "cannot read it")


def test_config_from_smartcron_config_env(wrap: Wrap, state: StateDir, tmp_path):
    path = config(tmp_path, '[jobs.t]\ntimeout = "200ms"\nkill_after = "100ms"\n')
    result = wrap("--name", "t", "--", "sleep", "10", env={"SMARTCRON_CONFIG": str(path)})
    assert result.returncode == 124, result.stderr
    assert state.report()["status"] == "timeout"


def test_bad_config_from_env_is_refused(wrap: Wrap, state: StateDir, tmp_path):
    path = config(tmp_path, "[jobs.t]\nretries = -1\n")
    ran = tmp_path / "ran"
    result = wrap("--name", "t", "--", *touch_job(ran), env={"SMARTCRON_CONFIG": str(path)})
    assert_refused(result, ran, state, "[jobs.t]", "retries", "-1")


def test_flag_config_beats_env_config(wrap: Wrap, state: StateDir, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("this is not toml\n")
    good = config(tmp_path, "[jobs.t]\npriority = 9\n")
    result = wrap("--config", good, "--name", "t", "--", "true", env={"SMARTCRON_CONFIG": str(bad)})
    assert result.returncode == 0, result.stderr
    assert state.report()["priority"] == 9


def test_flags_beat_the_file(wrap: Wrap, state: StateDir, tmp_path):
    path = config(tmp_path, '[defaults]\ntimeout = "200ms"\n[jobs.t]\ntimeout = "300ms"\n')
    result = wrap("--config", path, "--name", "t", "--timeout", "20s", "--", "sleep", "0.6")
    assert result.returncode == 0, result.stderr
    assert state.report()["status"] == "success"
