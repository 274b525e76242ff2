"""The job's time zone: --timezone, CRON_TZ, TZ, the host's /etc/localtime, UTC; into
the report as an IANA name, and into --dry-run's next runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from smartcron.wrapper import settings as settings_module
from smartcron.wrapper import zone
from smartcron.wrapper.options import parse_argv
from smartcron.wrapper.settings import Settings, resolve
from smartcron.wrapper.validate import SettingError

from tests.wrapper.test_fault_corrupt_state import marker, warnings_in

if TYPE_CHECKING:
    from tests.conftest import StateDir, Wrap

pytestmark = pytest.mark.timeout(60)
ZONEINFO = "/usr/share/zoneinfo"


@pytest.fixture(autouse=True)
def host_without_a_zone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This host's own zone files must not leak in: none, unless a test makes one."""
    monkeypatch.setattr(settings_module, "DEFAULT_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setattr(zone, "LOCALTIME", str(tmp_path / "localtime"))
    monkeypatch.setattr(zone, "TIMEZONE_FILE", str(tmp_path / "timezone"))


def settle(*argv: str, env: dict[str, str] | None = None) -> Settings:
    return resolve(parse_argv([*argv, "--", "true"]), env or {})


def test_the_flag_wins_and_is_normalised() -> None:
    s = settle("--timezone", "Europe/Berlin", env={"CRON_TZ": "Asia/Tokyo"})
    assert (s.timezone, s.sources["timezone"]) == ("Europe/Berlin", "flag")
    assert settle("--timezone", ":America/New_York").timezone == "America/New_York"
    assert settle("--timezone", f"{ZONEINFO}/Australia/Lord_Howe").timezone == "Australia/Lord_Howe"


@pytest.mark.parametrize("bad", ["Mars/Olympus", "../../etc/passwd", "/etc/passwd", "", "Europe"])
def test_an_unknown_zone_at_the_flag_is_a_usage_error(bad: str) -> None:
    with pytest.raises(SettingError, match=r"^--timezone: .* is not a time zone this host knows"):
        settle("--timezone", bad)


def test_cron_tz_then_tz_and_a_bad_value_is_passed_over() -> None:
    both = {"CRON_TZ": "America/New_York", "TZ": "Asia/Tokyo"}
    assert (settle(env=both).timezone, settle(env=both).sources["timezone"]) == (
        "America/New_York", "env CRON_TZ"
    )  # fmt: skip
    # A POSIX rule names no zone of the database: the next source is asked.
    posix = {"CRON_TZ": "CET-1CEST,M3.5.0,M10.5.0/3", "TZ": ":Asia/Tokyo"}
    assert (settle(env=posix).timezone, settle(env=posix).sources["timezone"]) == (
        "Asia/Tokyo", "env TZ"
    )  # fmt: skip
    assert settle(env={"TZ": f"{ZONEINFO}/posix/Europe/Berlin"}).timezone == "Europe/Berlin"
    nothing = settle(env={"CRON_TZ": "Nowhere/Else", "TZ": "junk"})
    assert (nothing.timezone, nothing.sources["timezone"]) == ("UTC", "default")


def test_the_environment_is_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "smartcron.toml"
    config.write_text('[defaults]\ntimezone = "Europe/Berlin"\n')
    s = settle("--config", str(config))
    assert (s.timezone, s.sources["timezone"]) == ("Europe/Berlin", "config [defaults]")
    assert settle("--config", str(config), env={"TZ": "Asia/Tokyo"}).timezone == "Asia/Tokyo"


def test_the_host_zone_from_the_localtime_link_then_etc_timezone(tmp_path: Path) -> None:
    link = Path(zone.LOCALTIME)
    link.symlink_to(f"{ZONEINFO}/Europe/Berlin")
    assert settle().timezone == "Europe/Berlin"
    assert settle().sources["timezone"] == f"host {link}"
    link.unlink()
    link.write_bytes(Path(f"{ZONEINFO}/Europe/Berlin").read_bytes())  # a copy names nothing
    Path(zone.TIMEZONE_FILE).write_text("America/New_York\n")
    assert settle().timezone == "America/New_York"
    Path(zone.TIMEZONE_FILE).write_text("not a zone\n")
    assert (settle().timezone, settle().sources["timezone"]) == ("UTC", "default")


# ---------------------------------------------------------------- the installed wrapper


def test_the_report_names_the_zone(wrap: Wrap, state: StateDir) -> None:
    result = wrap("--name", "zoned", "--schedule", "30 2 * * *", "--", "true",
                  env={"CRON_TZ": "America/New_York"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert state.report()["timezone"] == "America/New_York"
    result = wrap("--name", "flagged", "--timezone", "Australia/Lord_Howe", "--", "true")
    assert result.returncode == 0, result.stderr
    assert [r["timezone"] for r in state.reports() if r["job"] == "flagged"] == [
        "Australia/Lord_Howe"
    ]


def test_an_unknown_zone_stops_the_line_with_one_clear_line(wrap: Wrap, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    result = wrap("--timezone", "Mars/Olympus", "--", "touch", ran)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--timezone: 'Mars/Olympus'" in lines[0], result.stderr
    assert "IANA name" in lines[0]
    assert not ran.exists()


def test_dry_run_lists_the_next_runs_in_the_zone_and_in_utc(wrap: Wrap) -> None:
    result = wrap("--dry-run", "--name", "berlin", "--schedule", "30 2 * * *",
                  "--timezone", "Europe/Berlin", "--", "true")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^  timezone\s+Europe/Berlin\s+flag$", result.stdout, re.M), result.stdout
    runs = re.findall(r"\d{4}-\d\d-\d\d 02:30 (CES?T) \((0[01]):30 UTC\)", result.stdout)
    assert len(runs) == 5, result.stdout
    assert all((name, hour) in (("CET", "01"), ("CEST", "00")) for name, hour in runs)


def test_zone_resolution_reads_no_zoneinfo_module_on_the_run_path(wrap_env: dict[str, str]) -> None:
    # The wrapper starts on every cron tick: zone names are checked against the files.
    import subprocess
    import sys

    code = ("import sys; from smartcron.wrapper.settings import resolve; "
            "from smartcron.wrapper.options import parse_argv; "
            "resolve(parse_argv(['--name', 'x', '--', 'true']), {'TZ': 'Europe/Berlin'}); "
            "print('zoneinfo' in sys.modules, 'croniter' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=wrap_env, check=True, cwd="/").stdout  # fmt: skip
    assert out.split() == ["False", "False"]


def test_a_lost_run_keeps_its_zone(wrap: Wrap, state: StateDir) -> None:
    path = marker(state, timezone="Asia/Tokyo", schedule="30 2 * * *")
    assert wrap("--name", "j", "--", "true").returncode == 0
    lost = next(r for r in state.reports() if r["status"] == "lost")
    assert (lost["run_id"], lost["timezone"]) == (path.stem, "Asia/Tokyo")


def test_a_marker_with_a_bad_zone_is_set_aside(wrap: Wrap, state: StateDir) -> None:
    path = marker(state, timezone="../../etc/passwd")
    result = wrap("--name", "j", "--", "true")
    assert result.returncode == 0
    (warning,) = warnings_in(result.stderr)
    assert f"{path} is not valid" in warning and "timezone" in warning
    assert [r["status"] for r in state.reports()] == ["success"]
