"""The alert options (--grace, --min-duration, --max-duration, --alert-after) through the
installed smartcron-wrap: from flags, the environment and the config file into the
report's `expect` (only what was set), refused with one line when bad, shown by
--dry-run, and never a cost on the run path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from smartcron.wrapper.running import lost_run_report
from smartcron.wrapper.schema import RunReport

if TYPE_CHECKING:
    from tests.conftest import StateDir, Wrap

pytestmark = pytest.mark.timeout(60)

TOUCH = 'touch "$1"'


def expect_of(state: StateDir) -> dict[str, object]:
    report = state.report()
    # As the collector reads it: strictly, every value in its own JSON type.
    model = RunReport.model_validate_json(json.dumps(report), strict=True)
    assert model.expect is not None
    assert not model.expect.model_extra, "the wrapper writes no key the schema lacks"
    return report["expect"]  # type: ignore[no-any-return]


def test_the_report_carries_what_the_line_set_and_nothing_else(wrap: Wrap, state: StateDir):
    result = wrap("--name", "e", "--grace", "10m", "--min-duration", "1.5s",
                  "--max-duration", "1h30m", "--alert-after", "2", "--", "true")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert expect_of(state) == {
        "grace_s": 600.0, "min_duration_s": 1.5, "max_duration_s": 5400.0, "alert_after": 2
    }  # fmt: skip


def test_a_line_that_sets_none_reports_an_empty_expect(wrap: Wrap, state: StateDir):
    # Defaults are the collector's to apply (the grace depends on the schedule).
    assert wrap("--name", "plain", "--schedule", "@hourly", "--", "true").returncode == 0
    assert expect_of(state) == {}


def test_config_and_environment_set_them_with_the_usual_precedence(
    wrap: Wrap, state: StateDir, tmp_path: Path
):
    config = tmp_path / "smartcron.toml"
    config.write_text(
        '[defaults]\ngrace = "15m"\nalert-after = 5\nmax_duration = "2h"\n'
        '[jobs.nightly]\ngrace = "1h"\nmin-duration = 30\n'
    )
    env = {"SMARTCRON_CONFIG": str(config), "SMARTCRON_ALERT_AFTER": "4"}
    assert wrap("--name", "nightly", "--max-duration", "3h", "--", "true", env=env).returncode == 0
    assert expect_of(state) == {
        "grace_s": 3600.0,  # [jobs.nightly] over [defaults]
        "min_duration_s": 30.0,
        "max_duration_s": 10800.0,  # the flag over the file
        "alert_after": 4,  # the environment over the file
    }


@pytest.mark.parametrize(
    ("args", "env", "fragments"),
    [
        (("--grace", "0"), {}, ("--grace: 0 would count every run as missed", "positive")),
        (("--grace", "soon"), {}, ("--grace: 'soon' is not a duration", "e.g. 90, 90s")),
        (("--grace", "1m", "--jitter", "2m"), {}, ("--grace (60s) is not longer than --jitter",
                                                   "raise --grace or lower --jitter")),
        (("--min-duration", "1h", "--max-duration", "1m"), {},
         ("--min-duration (3600s) is longer than --max-duration (60s)", "lower the minimum")),
        (("--max-duration", "0"), {}, ("--max-duration: 0 would call every run too slow",)),
        (("--alert-after", "0"), {}, ("--alert-after: '0' is not valid", "from 1 to 10000")),
        (("--alert-after", "2.5"), {}, ("--alert-after: '2.5' is not valid",)),
        ((), {"SMARTCRON_GRACE": "later"}, ("SMARTCRON_GRACE: 'later' is not a duration",)),
        ((), {"SMARTCRON_ALERT_AFTER": "-3"}, ("SMARTCRON_ALERT_AFTER: '-3' is not valid",)),
    ],
)  # fmt: skip
def test_a_bad_value_is_one_line_naming_it_and_nothing_runs(
    wrap: Wrap, state: StateDir, tmp_path: Path, args: tuple[str, ...], env: dict[str, str],
    fragments: tuple[str, ...],
):  # fmt: skip
    ran = tmp_path / "ran"
    result = wrap("--name", "bad", *args, "--", "sh", "-c", TOUCH, "sh", str(ran), env=env)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("smartcron-wrap: error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert not ran.exists() and state.spool_files() == []


def test_a_bad_value_in_the_config_names_its_table(wrap: Wrap, state: StateDir, tmp_path: Path):
    config = tmp_path / "smartcron.toml"
    config.write_text('[jobs.j]\nalert_after = "many"\n')
    result = wrap("--config", str(config), "--name", "j", "--", "true")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"smartcron-wrap: error: config {config}: [jobs.j] alert_after: 'many' is not valid; "
        "use a whole number from 1 to 10000"
    )
    assert state.spool_files() == []


def dry_run_rows(stdout: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in stdout.splitlines():
        found = re.match(r"  (grace|min-duration|max-duration|alert-after) +(\S+) +(.+)$", line)
        if found:
            rows[found[1]] = (found[2], found[3])
    return rows


def test_dry_run_shows_them_and_where_each_came_from(wrap: Wrap):
    result = wrap("--name", "d", "--grace", "45m", "--max-duration", "2h", "--dry-run", "--",
                  "true", env={"SMARTCRON_ALERT_AFTER": "6"})  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert dry_run_rows(result.stdout) == {
        "grace": ("45m", "flag"),
        "min-duration": ("-", "default"),
        "max-duration": ("2h", "flag"),
        "alert-after": ("6", "env SMARTCRON_ALERT_AFTER"),
    }


@pytest.mark.parametrize(
    ("schedule", "grace"),
    [("0 */6 * * *", "36m"), ("*/10 * * * *", "5m"), ("0 3 * * *", "2h24m")],
)
def test_dry_run_shows_the_default_grace_the_collector_will_apply(
    wrap: Wrap, schedule: str, grace: str
):
    # The larger of 5 minutes and a tenth of the time from the next run to the one after.
    result = wrap("--name", "d", "--schedule", schedule, "--timezone", "UTC", "--dry-run", "--",
                  "true")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert dry_run_rows(result.stdout)["grace"] == (grace, "default")
    assert "  default grace      the larger of 5m and 10 % of the interval" in result.stdout


def test_dry_run_notes_a_jitter_that_would_outlast_the_default_grace(wrap: Wrap):
    result = wrap("--name", "d", "--schedule", "*/10 * * * *", "--jitter", "8m", "--dry-run",
                  "--", "true")  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert "NOTE: --jitter (8m) is not shorter than the default grace (5m)" in result.stdout


def test_a_lost_run_reports_no_expect_so_the_job_keeps_its_own():
    marker: dict[str, object] = {"run_id": "00000000-0000-4000-8000-000000000001", "job": "j",
              "command": ["true"], "started_at": "2030-01-01T00:00:00.000000Z"}  # fmt: skip
    report = lost_run_report(marker)
    assert "expect" not in report
    assert RunReport.model_validate_json(json.dumps(report), strict=True).expect is None


def test_the_run_path_imports_neither_croniter_nor_pydantic(wrap_env: dict[str, str]):
    # Settings with every alert option set resolve and become `expect` without croniter.
    code = (
        "import sys; from smartcron.wrapper.settings import resolve; "
        "from smartcron.wrapper.options import parse_argv; "
        "from smartcron.wrapper.expect import expect_of; "
        "s = resolve(parse_argv(['--name', 'x', '--grace', '5m', '--min-duration', '1s', "
        "'--max-duration', '1h', '--alert-after', '2', '--', 'true']), {}); "
        "print(expect_of(s)['grace_s'], 'croniter' in sys.modules, 'pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=wrap_env, check=True, cwd="/").stdout  # fmt: skip
    assert out.split() == ["300.0", "False", "False"]
