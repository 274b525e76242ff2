"""--dry-run: check a crontab line and print the plan; run nothing, record nothing."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from smartcron.wrapper.clock import iso

if TYPE_CHECKING:
    from tests.conftest import StateDir, Wrap

pytestmark = pytest.mark.timeout(60)

TOUCH = 'touch "$1"'
SOURCE = (
    r"default \(present\)|default|flag|env \S+|host \S+|config \[[^\]]+\]|none"
    r"|derived from the command"
)
SETTING = re.compile(rf"^  (\S+)\s+(.*?)\s+({SOURCE})$")


def settings_table(stdout: str) -> dict[str, tuple[str, str]]:
    """{name: (value, source)} from the settings block of the plan."""
    lines = stdout.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.split()[:3] == ["setting", "value", "from"]
    )
    table = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        match = SETTING.match(line)
        assert match, f"unreadable settings line: {line!r}"
        table[match.group(1)] = (match.group(2), match.group(3))
    return table


def field(stdout: str, label: str) -> str:
    """The text after a label in the plan's lower block (lock, breaker, paused ...)."""
    found = [line[20:].strip() for line in stdout.splitlines() if line[2:20].strip() == label]
    assert found, f"no {label!r} line in:\n{stdout}"
    return found[-1]


def assert_ran_nothing(state: StateDir, ran: Path) -> None:
    assert not ran.exists(), "--dry-run ran the job"
    assert state.spool_files() == [], "--dry-run recorded a run"
    assert not (state.path / "logs").exists()
    assert not (state.path / "running").exists()


def test_a_good_line(wrap: Wrap, state: StateDir, tmp_path):
    ran = tmp_path / "ran"
    result = wrap("--dry-run", "--name", "good", "--", "sh", "-c", TOUCH, "sh", ran)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert out.startswith("smartcron-wrap dry run: job 'good' (nothing is run)")
    assert field(out, "resolves to") == shutil.which("sh")
    assert out.rstrip().endswith("verdict: OK, this line is good")
    assert "PROBLEM" not in out
    assert_ran_nothing(state, ran)


def test_every_setting_and_its_source(wrap: Wrap, state: StateDir, tmp_path):
    config = tmp_path / "smartcron.toml"
    config.write_text(
        '[defaults]\nretries = 2\nkill-after = "30s"\n'
        '[jobs.src]\nkill_after = "45s"\nmax-memory = "512M"\n'
    )
    result = wrap(
        "--dry-run", "--config", config, "--name", "src", "--timeout", "1h30m",
        "--schedule", "*/5 * * * *", "--no-lock", "--", "true",
        env={"SMARTCRON_COLLECTOR_URL": "http://collector.test:8080"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    table = settings_table(result.stdout)
    assert table["name"] == ("src", "flag")
    assert table["timeout"] == ("1h30m", "flag")
    assert table["schedule"] == ("*/5 * * * *", "flag")
    assert table["lock"] == ("no", "flag")
    assert table["retries"] == ("2", "config [defaults]")
    assert table["kill-after"] == ("45s", "config [jobs.src]")
    assert table["max-memory"] == ("512M", "config [jobs.src]")
    assert table["collector"] == ("http://collector.test:8080", "env SMARTCRON_COLLECTOR_URL")
    assert table["retry-delay"] == ("10s", "default")
    assert table["breaker-threshold"] == ("5", "default")
    assert table["breaker-window"] == ("1h", "default")
    assert table["config"] == (str(config), "flag")
    assert table["state-dir"] == (str(state.path), "flag")
    design_options = {
        "timeout", "kill-after", "retries", "retry-delay", "retry-max-delay", "lock",
        "lock-wait", "max-memory", "breaker", "breaker-threshold", "breaker-window",
        "breaker-cooldown", "schedule", "priority", "jitter", "quiet", "collector", "token",
        "state-dir", "config",
    }  # fmt: skip
    assert design_options <= set(table), design_options - set(table)
    assert field(result.stdout, "lock").startswith("off (--no-lock)")


def test_the_name_derived_from_the_command(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--", "sh", "/srv/app/sync.sh")
    assert settings_table(result.stdout)["name"] == ("sync", "derived from the command")


def test_a_token_is_never_printed(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--token", "s3cr3t-t0ken", "--name", "t", "--", "true")
    assert result.returncode == 0
    assert "s3cr3t-t0ken" not in result.stdout
    assert settings_table(result.stdout)["token"] == ("(set)", "flag")


def test_the_lock_free_or_held(wrap: Wrap, state: StateDir, tmp_path, wait_for):
    lock_path = state.lock_path("locky")
    result = wrap("--dry-run", "--name", "locky", "--", "true")
    assert field(result.stdout, "lock") == f"{lock_path} (free now)"
    assert result.returncode == 0

    started, release = tmp_path / "started", tmp_path / "release"
    hold = 'touch "$1"; while [ ! -e "$2" ]; do sleep 0.05; done'
    holder = wrap.popen("--name", "locky", "--", "sh", "-c", hold, "sh", started, release)
    try:
        wait_for(started, what="the lock holder's job to start")
        result = wrap("--dry-run", "--name", "locky", "--", "true")
        line = field(result.stdout, "lock")
        assert line.startswith(f"{lock_path} (HELD now by pid {holder.pid}"), line
        assert "skipped" in line
        assert result.returncode == 0, "a held lock is not a problem with the line"
    finally:
        release.touch()
    assert holder.wait(timeout=20) == 0
    assert state.report()["status"] == "success", "the dry run did not disturb the holder"
    result = wrap("--dry-run", "--name", "locky", "--", "true")
    assert field(result.stdout, "lock") == f"{lock_path} (free now)"


def test_the_breaker_state(wrap: Wrap, state: StateDir, tmp_path):
    result = wrap("--dry-run", "--name", "b", "--", "true")
    assert field(result.stdout, "breaker").startswith("closed (0 recent failure(s); opens at 5")

    jobs = state.path / "jobs"
    jobs.mkdir(parents=True)
    now = time.time()
    document = {
        "state": "open",
        "failures": [iso(now - i) for i in range(5)],
        "opened_at": iso(now - 60),
        "last_success_at": None,
        "last_status": "failed",
    }
    (jobs / "b.json").write_text(json.dumps(document))
    result = wrap("--dry-run", "--name", "b", "--", "true")
    line = field(result.stdout, "breaker")
    assert line.startswith("open (5 recent failure(s)"), line
    assert "SKIPPED" in line

    document["opened_at"] = iso(now - 7200)
    (jobs / "b.json").write_text(json.dumps(document))
    result = wrap("--dry-run", "--name", "b", "--", "true")
    assert "trial" in field(result.stdout, "breaker")
    assert json.loads((jobs / "b.json").read_text()) == document, "a dry run changes no state"

    result = wrap("--dry-run", "--name", "b", "--no-breaker", "--", "true")
    assert field(result.stdout, "breaker").startswith("off")


def test_paused(wrap: Wrap, state: StateDir):
    state.path.mkdir(parents=True)
    (state.path / "control.json").write_text(json.dumps({"paused": ["zz"]}))
    result = wrap("--dry-run", "--name", "zz", "--", "true")
    assert field(result.stdout, "paused").startswith("YES")
    result = wrap("--dry-run", "--name", "other", "--", "true")
    assert field(result.stdout, "paused") == "no"


def next_runs(stdout: str) -> list[datetime]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line[2:20].strip() == "next runs")
    found = []
    for line in lines[start : start + 5]:
        match = re.search(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})", line[20:])
        assert match, line
        found.append(datetime.strptime(match.group(1), "%Y-%m-%d %H:%M"))
    return found


def test_five_next_run_times_every_five_minutes(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--name", "s", "--schedule", "*/5 * * * *", "--", "true")
    assert result.returncode == 0
    runs = next_runs(result.stdout)
    assert len(runs) == 5
    assert all(moment.minute % 5 == 0 for moment in runs)
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(runs))
    now = datetime.now()
    assert now - timedelta(minutes=1) <= runs[0] <= now + timedelta(minutes=6), runs[0]


def test_five_next_run_times_of_a_daily_schedule(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--name", "s", "--schedule", "30 3 * * *", "--", "true")
    runs = next_runs(result.stdout)
    assert all((moment.hour, moment.minute) == (3, 30) for moment in runs)
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(runs))
    assert len(re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", result.stdout)) == 5


def test_no_schedule_says_so(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--name", "s", "--", "true")
    assert "give --schedule" in field(result.stdout, "next runs")


def test_a_command_not_found(wrap: Wrap, state: StateDir, tmp_path):
    result = wrap("--dry-run", "--name", "nf", "--", "no-such-command-smartcron-test", "x")
    assert result.returncode == 2
    assert field(result.stdout, "resolves to") == "NOT FOUND"
    assert "PROBLEM: command 'no-such-command-smartcron-test'" in result.stdout
    assert result.stdout.rstrip().endswith("verdict: this line would not run as intended")
    assert state.spool_files() == []


def test_a_file_that_is_not_executable(wrap: Wrap, state: StateDir, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o644)
    result = wrap("--dry-run", "--name", "nx", "--", script)
    assert result.returncode == 2
    assert field(result.stdout, "resolves to") == "NOT FOUND"
    script.chmod(0o755)
    result = wrap("--dry-run", "--name", "nx", "--", script)
    assert result.returncode == 0
    assert field(result.stdout, "resolves to") == str(script)


def test_a_bad_setting_is_a_usage_error(wrap: Wrap, state: StateDir, tmp_path):
    ran = tmp_path / "ran"
    result = wrap("--dry-run", "--schedule", "@reboot", "--", "sh", "-c", TOUCH, "sh", ran)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("smartcron-wrap: error: --schedule: '@reboot'")
    assert_ran_nothing(state, ran)


def test_the_whole_config_file_is_checked(wrap: Wrap, state: StateDir, tmp_path):
    config = tmp_path / "smartcron.toml"
    config.write_text('[jobs.mine]\nretries = 1\n[jobs.theirs]\ntimeout = "banana"\n')
    ran = tmp_path / "ran"
    result = wrap("--dry-run", "--config", config, "--name", "mine",
                  "--", "sh", "-c", TOUCH, "sh", ran)  # fmt: skip
    assert result.returncode == 2
    assert "PROBLEM: config" in result.stdout and "[jobs.theirs] timeout: 'banana'" in result.stdout
    assert_ran_nothing(state, ran)


def test_a_dry_run_creates_no_state(wrap: Wrap, state: StateDir, tmp_path):
    ran = tmp_path / "ran"
    result = wrap("--dry-run", "--name", "clean", "--schedule", "@hourly",
                  "--", "sh", "-c", TOUCH, "sh", ran)  # fmt: skip
    assert result.returncode == 0
    assert not ran.exists()
    assert not state.path.exists() or list(state.path.rglob("*")) == []
    assert f"{state.path} (writable)" in field(result.stdout, "state dir")


# ---------------------------------------------------------------- the shell trap


def problems(stdout: str) -> list[str]:
    return [line[len("PROBLEM: ") :] for line in stdout.splitlines() if line.startswith("PROBLEM")]


def notes(stdout: str) -> list[str]:
    return [line[len("NOTE: ") :] for line in stdout.splitlines() if line.startswith("NOTE")]


def test_a_shell_builtin_gets_the_reason_and_the_line_to_write(wrap: Wrap, state: StateDir):
    # What the wrapper sees of `smartcron-wrap -- cd /srv && php x.php`: the shell that
    # read the line kept `&& php x.php` for itself.
    result = wrap("--dry-run", "--", "cd", "/srv")
    assert result.returncode == 2
    [problem] = problems(result.stdout)
    assert "'cd' is a shell builtin" in problem
    assert "COMMAND is not run through a shell" in problem
    assert "-- /bin/sh -c 'cd /srv && …'" in problem


def test_operators_that_reach_a_missing_program_give_the_whole_line(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--", "cd", "/srv", "&&", "php", "x.php", ">", "/tmp/log")
    assert result.returncode == 2
    [problem] = problems(result.stdout)
    assert problem.endswith("write -- /bin/sh -c 'cd /srv && php x.php > /tmp/log'"), problem


def test_operators_passed_to_a_real_program_are_a_note(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--", "echo", "backup", "|", "gzip")
    assert result.returncode == 0, result.stdout
    [note] = notes(result.stdout)
    assert "'|' reaches 'echo' as an argument" in note
    assert "-- /bin/sh -c 'echo backup | gzip'" in note


def test_find_exec_and_cut_delimiters_are_not_operators(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--", "find", "/tmp", "-name", "x", "-exec", "rm", "{}", ";")
    assert result.returncode == 0 and notes(result.stdout) == [], result.stdout
    result = wrap("--dry-run", "--", "cut", "-d", ";", "-f1", "/etc/hostname")
    assert result.returncode == 0 and notes(result.stdout) == [], result.stdout


def test_a_variable_assignment_gets_env(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--", "TZ=UTC", "date")
    assert result.returncode == 2
    [problem] = problems(result.stdout)
    assert "'TZ=UTC' is a shell variable assignment" in problem
    assert problem.endswith("write -- env TZ=UTC date")


@pytest.mark.parametrize(
    ("script", "said"),
    [("if true; then echo", "expecting"), ("echo 'unclosed", "Unterminated"), ("(", "")],
)
def test_sh_c_text_is_checked_with_sh_n(wrap: Wrap, state: StateDir, tmp_path, script, said):
    ran = tmp_path / "ran"
    result = wrap("--dry-run", "--", "/bin/sh", "-c", f"touch {ran}; {script}")
    assert result.returncode == 2, result.stdout
    [problem] = problems(result.stdout)
    assert problem.startswith("the sh -c script does not parse ("), problem
    assert said in problem
    assert not ran.exists(), "sh -n runs nothing"


def test_a_good_sh_c_script_passes(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--", "sh", "-ec", "cd /srv && php x.php > /tmp/log 2>&1")
    assert result.returncode == 0, result.stdout
    assert problems(result.stdout) == [] and notes(result.stdout) == []


def test_a_pipeline_that_hides_a_failure_gets_a_note(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--", "/bin/sh", "-c", "false | gzip > /dev/null")
    assert result.returncode == 0, result.stdout
    [note] = notes(result.stdout)
    assert "false | gzip succeeds" in note
    assert note.endswith("-- /bin/bash -c 'set -o pipefail; false | gzip > /dev/null'"), note


def test_under_bash_the_note_adds_pipefail_to_the_script(wrap: Wrap, state: StateDir):
    result = wrap("--dry-run", "--", "bash", "-c", "pg_dump shop | gzip")
    [note] = notes(result.stdout)
    assert note.endswith("write -- bash -c 'set -o pipefail; pg_dump shop | gzip'"), note


@pytest.mark.parametrize(
    "command",
    [
        ("bash", "-o", "pipefail", "-c", "false | gzip"),
        ("bash", "-c", "set -o pipefail; false | gzip"),
        ("sh", "-c", "false || true"),
    ],
)
def test_no_pipeline_note_when_pipefail_is_on_or_there_is_no_pipe(
    wrap: Wrap, state: StateDir, command
):
    result = wrap("--dry-run", "--", *command)
    assert notes(result.stdout) == [], result.stdout


def test_help_says_command_runs_without_a_shell(wrap: Wrap):
    result = wrap("--help")
    assert result.returncode == 0
    assert "COMMAND is executed directly, without a shell" in result.stdout
    assert "-- /bin/sh -c 'TEXT'" in result.stdout
