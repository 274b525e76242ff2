"""The alert options on a wrapped crontab line (--grace, --min-duration, --max-duration,
--alert-after): wrap-crontab keeps them, discover reads them (as the run report's
`expect` keys), and the heartbeat's jobs list carries them to the collector."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from smartcron.agent.crontab import parse_crontab
from smartcron.agent.discover import jobs_of
from smartcron.agent.rewrite import unwrap_crontab, wrap_crontab

from tests.agent.conftest import Agent, agent_bin
from tests.support.service import Service

WRAP = "/opt/smartcron/bin/smartcron-wrap"
TUNED = (
    "0 3 * * * /usr/local/bin/smartcron-wrap --name backup --schedule '0 3 * * *' "
    "--grace 45m --min-duration 30s --max-duration 2h --alert-after 2 -- /usr/local/bin/backup\n"
)
EXPECTED = {"grace_s": 2700.0, "min_duration_s": 30.0, "max_duration_s": 7200.0, "alert_after": 2}


def parse(text: str):
    return parse_crontab(text.encode(), source="test", system=False)


def test_wrap_crontab_keeps_a_wrapped_lines_alert_options_and_its_name() -> None:
    crontab = parse(TUNED + "0 4 * * * /usr/local/bin/backup --incremental\n")
    result = wrap_crontab(crontab, WRAP)
    new = result.new.decode()
    assert new.startswith(TUNED), "the tuned line is kept byte for byte"
    assert result.notes == ["line 1: left alone: already behind smartcron-wrap"]
    # Its name is read past the alert options: the plain line may not take it.
    assert "--name backup-2 " in new.splitlines()[1]
    # unwrap-crontab cannot give back bytes the line never had: it leaves it alone too.
    undone = unwrap_crontab(parse(new))
    assert undone.new.decode().startswith(TUNED)
    assert undone.notes[0].startswith("line 1: left alone: not in the form wrap-crontab writes")


def test_discover_reads_them_under_the_reports_keys() -> None:
    crontab = parse(
        TUNED
        # A newer wrapper's option this agent does not know: read leniently.
        + "*/5 * * * * smartcron-wrap --name sync --grace=2m --newer-option x -- php sync.php\n"
        # A value the wrapper refuses is left out (the wrapper refuses the line itself).
        + "@hourly smartcron-wrap --name odd --grace soon --alert-after 4 -- odd.sh\n"
        + "@daily plain.sh\n"
    )
    backup, sync, odd, plain = jobs_of(crontab)
    assert backup.expect == EXPECTED
    assert sync.expect == {"grace_s": 120.0}
    assert odd.expect == {"alert_after": 4}
    assert plain.expect == {} and not plain.wrapped


def test_discover_json_and_the_heartbeat_carry_them(
    agent: Agent, sqlite_collector: Service, tmp_path: Path
) -> None:
    (agent.cron / "cron.d").mkdir(parents=True)
    (agent.cron / "crontabs").mkdir()
    system = TUNED.replace("0 3 * * * ", "0 3 * * *  root  ", 1)
    (agent.cron / "crontab").write_text(system + "*/5 * * * *  root  /usr/local/bin/sync\n")

    listed = subprocess.run([agent_bin(), "discover", "--json", *agent.scan], env=agent.env,
                            capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    found = {job["name"]: job for job in json.loads(listed.stdout)}
    assert found["backup"]["expect"] == EXPECTED
    assert found["sync"]["expect"] == {}

    agent.collector = sqlite_collector
    done = agent("once", "--host", "tuned")
    assert done.returncode == 0, done.stderr
    hosts = {h["host"]: h for h in sqlite_collector.get("/api/v1/hosts").json()["hosts"]}
    sent = {job["name"]: job for job in hosts["tuned"]["health"]["jobs"]}
    assert sent["backup"]["expect"] == EXPECTED
    assert sent["sync"]["expect"] == {}


def test_the_wrapper_accepts_the_line_discover_read(wrap_env: dict[str, str]) -> None:
    # What discover reports is what the installed wrapper itself makes of the line.
    from tests.conftest import find_wrap

    words = ["--name", "backup", "--grace", "45m", "--min-duration", "30s",
             "--max-duration", "2h", "--alert-after", "2", "--dry-run", "--", "true"]  # fmt: skip
    result = subprocess.run([find_wrap(), *words], env=wrap_env, capture_output=True,
                            text=True, check=False, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "grace              45m" in result.stdout
