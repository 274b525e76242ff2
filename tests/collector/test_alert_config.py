"""The [collector] table: every key read, a bad file or value refused in one line (exit 2),
flags and environment over the file, and a channel's secrets never shown."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
from smartcron.collector.alerting.config import ConfigError, config_path, load_config
from smartcron.collector.alerting.messages import AlertView
from smartcron.collector.alerting.redact import Redactor, shown_url
from smartcron.collector.alerting.routing import channels_for

from tests.support.service import collector_bin

FULL = """
[defaults]
timeout = "1h"          # the wrapper's: not ours to read

[collector]
db = "sqlite:///tmp/x.db"
listen = "127.0.0.1:9999"
admin-user = "root"
secure-cookies = true
workers = 2
request-timeout = "15s"
evaluate-every = 20
url = "https://cron.example.com"
digest-threshold = 7
reminder-interval = "2h"
failing-after = 4

[collector.channels.ops-mail]
url = "mailtos://alerts:S3cretPassw0rd@smtp.example.com:587?to=ops@example.com"
rate-limit = 5
rate-window = "1h"

[collector.channels.hook]
kind = "webhook"
url = "https://hooks.example.com/smartcron?key=abcdef0123456789"
timeout = "3s"

[[collector.routes]]
job = "db-*"
min_severity = "high"
channels = ["ops-mail"]

[[collector.routes]]
tag = "billing"
severity = ["critical", "high"]
channels = ["hook", "ops-mail"]

[[collector.routes]]
channels = ["hook"]

[collector.summary]
time = "07:30"
zone = "Europe/Berlin"
channels = ["ops-mail"]
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "smartcron.toml"
    path.write_text(text)
    return str(path)


def alert(**fields: object) -> AlertView:
    base: dict[str, object] = {
        "id": 1, "rule": "failed", "job": "backup", "host": "web1", "severity": "warning",
        "summary": "failed", "instant": None, "opened_at": dt.datetime(2026, 1, 1),
    }  # fmt: skip
    return AlertView(**(base | fields))  # type: ignore[arg-type]


def test_every_key_is_read(tmp_path: Path) -> None:
    table = load_config(write(tmp_path, FULL))
    assert (table.db, table.listen, table.admin_user) == (
        "sqlite:///tmp/x.db",
        "127.0.0.1:9999",
        "root",
    )
    assert (table.secure_cookies, table.workers) == (True, 2)
    assert (table.request_timeout, table.evaluate_every) == (15.0, 20.0)
    delivery = table.delivery()
    assert delivery.url == "https://cron.example.com"
    assert (delivery.digest_threshold, delivery.reminder_interval, delivery.failing_after) == (
        7,
        7200.0,
        4,
    )
    mail, hook = delivery.channels["ops-mail"], delivery.channels["hook"]
    assert (mail.kind, mail.rate_limit, mail.rate_window) == ("apprise", 5, 3600.0)
    assert (hook.kind, hook.timeout, hook.rate_limit) == ("webhook", 3.0, 20)
    assert [r.channels for r in delivery.routes] == [["ops-mail"], ["hook", "ops-mail"], ["hook"]]
    assert delivery.summary is not None
    assert (delivery.summary.time, delivery.summary.zone) == ("07:30", "Europe/Berlin")


def test_routes_first_match_wins_else_every_channel(tmp_path: Path) -> None:
    delivery = load_config(write(tmp_path, FULL)).delivery()
    assert channels_for(delivery, alert(job="db-main", severity="critical")) == ["ops-mail"]
    # db-* but not severe enough: the next routes; billing needs the tag and the severity
    assert channels_for(delivery, alert(job="db-main", severity="warning"), ["billing"]) == ["hook"]
    assert channels_for(delivery, alert(severity="high"), ["billing"]) == ["hook", "ops-mail"]
    no_routes = delivery.model_copy(update={"routes": []})
    assert channels_for(no_routes, alert()) == ["ops-mail", "hook"]


def test_a_failing_channel_is_told_on_the_others(tmp_path: Path) -> None:
    delivery = load_config(write(tmp_path, FULL)).delivery()
    failing = alert(rule="channel_failing", job="hook", host="", severity="high")
    # the catch-all route names only the failing channel: the others get it instead
    assert channels_for(delivery, failing) == ["ops-mail"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[collector]\nchanels = {}\n",
         '[collector] chanels: unknown key; see docs/delivery.md ("Every key")'),
        ("[collector.channels.x]\nkind = 'webhook'\n",
         "[collector] channels.x.url: missing; this key is required"),
        ("[collector.channels.x]\nurl = 'ntfy://t'\nrate_limt = 3\n",
         "[collector] channels.x.rate_limt: unknown key"),
        ("[collector.channels.x]\nkind = 'webhook'\nurl = 'ftp://h/p'\n",
         "[collector] channels.x: url: a kind = \"webhook\" channel takes an http"),
        ("[collector.channels.x]\nurl = 'nothing'\n", "[collector] channels.x.url: not a URL"),
        ("[collector.channels.x]\nurl = 'ntfy://t'\nrate_window = 'soon'\n",
         "[collector] channels.x.rate_window: 'soon' is not a duration"),
        ("[[collector.routes]]\nchannels = ['nope']\n",
         "[collector]: routes[0].channels: no channel 'nope'"),
        ("[collector.channels.x]\nurl = 'ntfy://t'\n[[collector.routes]]\nmin_severity = 'loud'\n"
         "channels = ['x']\n", "[collector] routes.0.min_severity: 'loud' is not a severity"),
        ("[collector.channels.x]\nurl = 'ntfy://t'\n[collector.summary]\ntime = '25:00'\n"
         "channels = ['x']\n", "[collector] summary.time: '25:00' is not HH:MM"),
        ("[collector.channels.x]\nurl = 'ntfy://t'\n[collector.summary]\nzone = 'Mars/Base'\n"
         "channels = ['x']\n", "[collector] summary.zone: 'Mars/Base' is not a time zone"),
        ("[collector]\nworkers = 0\n", "[collector] workers: input should be greater than"),
        ("collector = 3\n", "collector must be a table"),
        ("[collector\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_file_is_one_line_naming_it(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"config {path}: ")
    assert expected in message
    assert "\n" not in message


def test_the_file_comes_from_flag_env_or_default(tmp_path: Path) -> None:
    assert config_path("a.toml", {"SMARTCRON_CONFIG": "b.toml"}) == "a.toml"
    assert config_path(None, {"SMARTCRON_CONFIG": "b.toml"}) == "b.toml"
    expected = (
        "/etc/smartcron/smartcron.toml" if os.path.exists("/etc/smartcron/smartcron.toml") else None
    )
    assert config_path(None, {}) == expected


def test_secrets_are_not_shown() -> None:
    mail = "mailtos://alerts:S3cretPassw0rd@smtp.example.com:587?to=ops@example.com"
    slack = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ops"
    hook = "https://hooks.example.com/api/webhooks/1234567890/tok_ABCDEFGHIJ?key=verysecretkey"
    assert shown_url(mail) == "mailtos://smtp.example.com:587/…"
    assert shown_url(slack) == "slack://…"
    assert shown_url(hook) == "https://hooks.example.com/…"
    redactor = Redactor([mail, slack, hook])
    error = (
        f"HTTPSConnectionPool(host='hooks.example.com', port=443): Max retries exceeded with "
        f"url: /api/webhooks/1234567890/tok_ABCDEFGHIJ?key=verysecretkey; login S3cretPassw0rd "
        f"rejected; token TIiajkdnlazkcOXrIdevi7FQ; {slack}"
    )
    scrubbed = redactor.scrub(error)
    for secret in ("S3cretPassw0rd", "TIiajkdnlazkcOXrIdevi7FQ", "tok_ABCDEFGHIJ", "verysecretkey",
                   "T1JJ3T3L2", "1234567890"):  # fmt: skip
        assert secret not in scrubbed
    assert "hooks.example.com" in scrubbed  # what is no secret still says where it failed


def run_collector(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCRON_")}
    return subprocess.run([collector_bin(), *args], capture_output=True, text=True,
                          env=clean | (env or {}), timeout=60, check=False)  # fmt: skip


def test_serve_refuses_a_bad_file_in_one_line_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[collector]\nlisten = 8080\n")
    done = run_collector("serve", "--config", path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"config {path}: [collector] listen: input should be a valid string" in lines[0]


def test_serve_refuses_an_unknown_apprise_url_without_its_secret(tmp_path: Path) -> None:
    path = write(
        tmp_path, "[collector.channels.x]\nurl = 'nosuchservice://user:Hunter2Secret@h/'\n"
    )
    done = run_collector("serve", "--config", path, env={"SMARTCRON_CONFIG": "/nonexistent"})
    assert done.returncode == 2
    assert (
        f"config {path}: [collector] channels.x.url: Apprise does not know this URL "
        "(nosuchservice://…)" in done.stderr
    )
    assert "Hunter2Secret" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_url_apprise_refuses_says_why_and_names_the_file(tmp_path: Path) -> None:
    # A new user's first mail channel: a local SMTP server by IP, no addresses given.
    # Apprise knows mailto://, so "does not know this URL" would send them the wrong way.
    path = write(tmp_path, "[collector.channels.mail]\nurl = 'mailto://127.0.0.1:8025'\n")
    done = run_collector("test-alert", "mail", "--config", path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"Error: config {path}: [collector] channels.mail.url: ")
    assert "Apprise refused this URL (mailto://127.0.0.1:8025/…): Invalid ~From~ email" in lines[0]
    assert "?to=ADDRESS&from=ADDRESS" in lines[0]
    assert "does not know" not in lines[0]


def test_an_unknown_channel_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[collector.channels.x]\nkind = 'webhook'\nurl = 'http://h/'\n")
    done = run_collector("test-alert", "pager", "--config", path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"Error: config {path}: [collector] no channel 'pager' in [collector.channels]; known: x"
    )


def test_env_names_the_file_and_a_missing_one_is_one_line(tmp_path: Path) -> None:
    done = run_collector("test-alert", "x", env={"SMARTCRON_CONFIG": str(tmp_path / "none.toml")})
    assert done.returncode == 2
    assert "none.toml: cannot read it" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_flags_and_env_win_over_the_file(tmp_path: Path) -> None:
    """The file's listen is taken unless the flag or its variable says otherwise: ports
    held by other sockets show which one serve tried."""
    import socket

    with socket.socket() as first, socket.socket() as second:
        for held in (first, second):
            held.bind(("127.0.0.1", 0))
            held.listen()
        a, b = first.getsockname()[1], second.getsockname()[1]
        db = f"sqlite:///{tmp_path / 'c.db'}"
        path = write(tmp_path, f"[collector]\nlisten = '127.0.0.1:{a}'\ndb = '{db}'\n")
        assert f"cannot listen on 127.0.0.1:{a}:" in run_collector("serve", "--config", path).stderr
        flag = run_collector("serve", "--config", path, "--listen", f"127.0.0.1:{b}")
        assert f"cannot listen on 127.0.0.1:{b}:" in flag.stderr
        both = {"SMARTCRON_CONFIG": path, "SMARTCRON_COLLECTOR_LISTEN": f"127.0.0.1:{b}"}
        env = run_collector("serve", env=both)
        assert f"cannot listen on 127.0.0.1:{b}:" in env.stderr
