"""settings.py: every layer resolved in order, each value remembering where it came from.

built-in defaults < config [defaults] < config [jobs.NAME] < environment < flags
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from smartcron.wrapper import settings as settings_module
from smartcron.wrapper.options import OPTIONS, parse_argv
from smartcron.wrapper.settings import Settings, default_state_dir, derive_name, resolve
from smartcron.wrapper.validate import SettingError

if TYPE_CHECKING:
    from tests.conftest import StateDir, Wrap

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def no_system_config(monkeypatch, tmp_path):
    """The host's /etc/smartcron/smartcron.toml must not leak into these tests."""
    monkeypatch.setattr(settings_module, "DEFAULT_CONFIG", str(tmp_path / "absent.toml"))


def settle(*argv: str, env: dict[str, str] | None = None) -> Settings:
    return resolve(parse_argv(list(argv)), env or {})


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------- defaults and sources


def test_built_in_defaults_and_their_sources():
    s = settle("--", "true")
    assert s.name == "true" and s.sources["name"] == "derived from the command"
    assert s.command == ["true"]
    expected = {
        "timeout": None, "kill_after": 10.0, "retries": 0, "retry_delay": 10.0,
        "retry_max_delay": 600.0, "retry_timeouts": False, "lock": True, "lock_wait": 0.0,
        "max_memory": None, "breaker": True, "breaker_threshold": 5, "breaker_window": 3600.0,
        "breaker_cooldown": 3600.0, "schedule": None, "priority": 5, "tags": (),
        "jitter": 0.0, "quiet": False, "collector": None, "token": None, "dry_run": False,
    }  # fmt: skip
    for name, value in expected.items():
        assert getattr(s, name) == value, name
        assert s.sources[name] == "default", name
    assert s.config is None and s.sources["config"] == "none"
    assert s.sources["state_dir"] == "default"
    assert s.state_dir == os.path.abspath(default_state_dir({}))


def test_every_option_has_a_recorded_source():
    s = settle("--name", "x", "--", "true")
    for option in OPTIONS:
        if option.name != "reset_breaker":
            assert option.name in s.sources, option.name


def test_flags_are_validated_and_normalised():
    s = settle(
        "--timeout", "1h30m", "--kill-after=500ms", "--max-memory", "512M", "--tags", "a,b",
        "--priority", "1", "--no-lock", "--no-breaker", "--schedule", "*/5  * * * *", "--", "x",
    )  # fmt: skip
    assert s.timeout == 5400.0 and s.kill_after == 0.5
    assert s.max_memory == 512 << 20 and s.tags == ("a", "b") and s.priority == 1
    assert s.lock is False and s.breaker is False
    assert s.schedule == "*/5 * * * *"
    for name in ("timeout", "kill_after", "max_memory", "tags", "priority", "lock", "schedule"):
        assert s.sources[name] == "flag"


# ---------------------------------------------------------------- precedence

CONFIG_LAYERS = """
[defaults]
collector = "http://from-defaults"
timeout = "1m"
retries = 1

[jobs.t]
collector = "http://from-job"
timeout = "2m"

[jobs.other]
retries = 9
"""


@pytest.mark.parametrize(
    ("layers", "value", "source"),
    [
        ((), None, "default"),
        (("defaults",), "http://from-defaults", "config [defaults]"),
        (("defaults", "job"), "http://from-job", "config [jobs.t]"),
        (("defaults", "job", "env"), "http://from-env", "env SMARTCRON_COLLECTOR_URL"),
        (("defaults", "job", "env", "flag"), "http://from-flag", "flag"),
        (("env", "flag"), "http://from-flag", "flag"),
        (("defaults", "flag"), "http://from-flag", "flag"),
    ],
)
def test_precedence_of_each_layer(tmp_path, layers, value, source):
    lines = []
    if "defaults" in layers:
        lines += ["[defaults]", 'collector = "http://from-defaults"']
    if "job" in layers:
        lines += ["[jobs.t]", 'collector = "http://from-job"']
    argv = ["--name", "t", "--config", write(tmp_path / "c.toml", "\n".join(lines) + "\n")]
    env = {"SMARTCRON_COLLECTOR_URL": "http://from-env"} if "env" in layers else {}
    if "flag" in layers:
        argv += ["--collector", "http://from-flag"]
    s = settle(*argv, "--", "true", env=env)
    assert s.collector == value
    assert s.sources["collector"] == source


def test_job_table_over_defaults_and_other_jobs_ignored(tmp_path):
    config = write(tmp_path / "c.toml", CONFIG_LAYERS)
    s = settle("--name", "t", "--config", config, "--", "true")
    assert (s.timeout, s.sources["timeout"]) == (120.0, "config [jobs.t]")
    assert (s.retries, s.sources["retries"]) == (1, "config [defaults]")
    assert (s.kill_after, s.sources["kill_after"]) == (10.0, "default")
    s = settle("--name", "t", "--config", config, "--timeout", "5s", "--", "true")
    assert (s.timeout, s.sources["timeout"]) == (5.0, "flag")
    s = settle("--name", "other", "--config", config, "--", "true")
    assert (s.retries, s.sources["retries"]) == (9, "config [jobs.other]")
    assert (s.timeout, s.sources["timeout"]) == (60.0, "config [defaults]")


def test_the_derived_name_picks_the_job_table(tmp_path):
    config = write(tmp_path / "c.toml", '[jobs.sync]\ntimeout = "7s"\n')
    s = settle("--config", config, "--", "php", "/srv/app/sync.php")
    assert s.name == "sync"
    assert (s.timeout, s.sources["timeout"]) == (7.0, "config [jobs.sync]")


def test_config_from_env_and_flag_over_env(tmp_path):
    by_env = write(tmp_path / "env.toml", "[defaults]\nretries = 2\n")
    by_flag = write(tmp_path / "flag.toml", "[defaults]\nretries = 3\n")
    s = settle("--", "true", env={"SMARTCRON_CONFIG": by_env})
    assert (s.config, s.sources["config"], s.retries) == (by_env, "env SMARTCRON_CONFIG", 2)
    s = settle("--config", by_flag, "--", "true", env={"SMARTCRON_CONFIG": by_env})
    assert (s.config, s.sources["config"], s.retries) == (by_flag, "flag", 3)


def test_the_system_config_is_used_when_present(tmp_path, monkeypatch):
    system = write(tmp_path / "system.toml", "[defaults]\npriority = 2\n")
    monkeypatch.setattr(settings_module, "DEFAULT_CONFIG", system)
    s = settle("--", "true")
    assert (s.config, s.sources["config"]) == (system, "default (present)")
    assert (s.priority, s.sources["priority"]) == (2, "config [defaults]")


def test_an_empty_env_variable_is_not_set():
    s = settle("--", "true", env={"SMARTCRON_COLLECTOR_URL": "", "SMARTCRON_TOKEN": ""})
    assert s.collector is None and s.sources["collector"] == "default"
    assert s.token is None and s.sources["token"] == "default"


def test_a_bad_env_value_names_the_variable(tmp_path):
    with pytest.raises(SettingError) as error:
        settle("--", "true", env={"SMARTCRON_COLLECTOR_URL": "collector:8080"})
    assert str(error.value).startswith("SMARTCRON_COLLECTOR_URL: 'collector:8080'")
    missing = tmp_path / "missing-token"
    with pytest.raises(SettingError) as error:
        settle("--", "true", env={"SMARTCRON_TOKEN": f"file:{missing}"})
    assert str(error.value).startswith("SMARTCRON_TOKEN: cannot read token file")
    assert str(missing) in str(error.value)


def test_token_from_a_file_via_env(tmp_path):
    token = tmp_path / "token"
    token.write_text("abc123\n")
    s = settle("--", "true", env={"SMARTCRON_TOKEN": f"file:{token}"})
    assert (s.token, s.sources["token"]) == ("abc123", "env SMARTCRON_TOKEN")


def test_state_dir_env_flag_and_absolute(tmp_path, monkeypatch):
    s = settle("--", "true", env={"SMARTCRON_STATE_DIR": str(tmp_path / "env")})
    assert (s.state_dir, s.sources["state_dir"]) == (
        str(tmp_path / "env"),
        "env SMARTCRON_STATE_DIR",
    )
    monkeypatch.chdir(tmp_path)
    s = settle("--state-dir", "rel", "--", "true", env={"SMARTCRON_STATE_DIR": "/x"})
    assert (s.state_dir, s.sources["state_dir"]) == (str(tmp_path / "rel"), "flag")


def test_default_state_dir():
    if os.geteuid() == 0:
        assert default_state_dir({"XDG_STATE_HOME": "/xdg"}) == "/var/lib/smartcron"
    else:
        assert default_state_dir({"XDG_STATE_HOME": "/xdg"}) == "/xdg/smartcron"
        home = os.path.expanduser("~")
        assert default_state_dir({}) == os.path.join(home, ".local", "state", "smartcron")


# ---------------------------------------------------------------- relations between settings


def test_retry_max_delay_below_retry_delay_is_refused():
    with pytest.raises(SettingError) as error:
        settle("--retry-delay", "1m", "--retry-max-delay", "30s", "--", "true")
    message = str(error.value)
    assert "--retry-max-delay (30s)" in message and "--retry-delay (60s)" in message
    s = settle("--retry-delay", "30s", "--retry-max-delay", "30s", "--", "true")
    assert s.retry_delay == s.retry_max_delay == 30.0


def test_retry_relation_is_checked_across_layers(tmp_path):
    config = write(tmp_path / "c.toml", '[defaults]\nretry_max_delay = "5s"\n')
    with pytest.raises(SettingError, match="--retry-max-delay"):
        settle("--config", config, "--", "true")  # the default --retry-delay is 10s


def test_timeout_zero_is_refused():
    with pytest.raises(SettingError, match="--timeout: 0"):
        settle("--timeout", "0", "--", "true")


def test_no_command():
    with pytest.raises(SettingError, match="no command given"):
        settle("--name", "x")


def test_reset_breaker_needs_a_name_but_no_command():
    with pytest.raises(SettingError, match="--reset-breaker needs --name"):
        settle("--reset-breaker")
    s = settle("--reset-breaker", "--name", "x")
    assert s.reset_breaker and s.name == "x" and s.command == []


def test_bad_name_flag():
    with pytest.raises(SettingError, match=r"--name: 'a b' is not a valid job name"):
        settle("--name", "a b", "--", "true")


# ---------------------------------------------------------------- names from commands


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["php", "/srv/app/sync.php"], "sync"),
        (["/usr/local/bin/backup.sh", "--full"], "backup"),
        (["/usr/bin/certbot", "renew"], "certbot"),
        (["python3", "-u", "/opt/jobs/report.py"], "report"),
        (["python3.11", "/opt/jobs/report.py"], "report"),
        (["/usr/bin/php8.2", "artisan.php"], "artisan"),
        (["sh", "-c", "/usr/local/bin/cleanup --all"], "cleanup"),
        (["bash", "/opt/jobs/db-dump.sh"], "db-dump"),
        (["/opt/my job/run it.sh"], "run_it"),
        (["./.hidden"], "hidden"),
        (["sh"], "sh"),
        (["nice", "-n", "19", "/usr/local/bin/backup.sh"], "backup"),
        (["timeout", "1h", "/opt/jobs/sync.sh"], "sync"),
    ],
)
def test_derive_name(command, name):
    assert derive_name(command) == name


# ---------------------------------------------------------------- the installed executable


def test_state_dir_from_env_with_the_installed_wrapper(wrap: Wrap, tmp_path):
    env_dir = tmp_path / "env-state"
    result = subprocess.run(
        [wrap.executable, "--name", "envdir", "--", "true"],
        env={**wrap.env, "SMARTCRON_STATE_DIR": str(env_dir)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(list((env_dir / "spool").glob("*.json"))) == 1
    assert (env_dir / "logs" / "envdir.jsonl").exists()


def test_state_dir_flag_beats_env(wrap: Wrap, state: StateDir, tmp_path):
    env_dir = tmp_path / "env-state"
    result = wrap("--name", "flagdir", "--", "true", env={"SMARTCRON_STATE_DIR": str(env_dir)})
    assert result.returncode == 0, result.stderr
    assert state.report()["job"] == "flagdir"
    assert not env_dir.exists()


def test_retry_relation_refused_by_the_installed_wrapper(wrap: Wrap, state: StateDir, tmp_path):
    ran = tmp_path / "ran"
    result = wrap(
        "--retries", "1", "--retry-delay", "1m", "--retry-max-delay", "10s",
        "--", "sh", "-c", 'touch "$1"', "sh", ran,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("smartcron-wrap: error: --retry-max-delay (10s)")
    assert not ran.exists()
    assert state.spool_files() == []
