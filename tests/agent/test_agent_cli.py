"""The installed smartcron-agent: discover, wrap-crontab, unwrap-crontab.

Real crontabs are never touched: files are temp files, and `crontab` is a fake
(SMARTCRON_CRONTAB_COMMAND) that serves `-l` from a file and records what `-` gets.
"""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import find_wrap

AGENT = str(Path(sys.executable).parent / "smartcron-agent")
CRONTAB = (
    "MAILTO=ops@example.com\n"
    "# name: nightly-dump\n"
    "30 2 * * * root mysqldump --all-databases | gzip > /var/backups/db-$(date +\\%F).gz\n"
    "*/5 * * * *\twww-data\tfind /var/log -name '*.gz' -mtime +7 -delete  # old logs\n"
    "0 3 * * * root find /tmp -mtime +7 -delete\n"
    "@hourly root cat%größe \\% stdin\n"
)
FAKE_CRONTAB = textwrap.dedent(
    """\
    #!{python}
    # A stand-in for crontab(1): -l prints the stored crontab, - stores stdin.
    import os, sys
    home = os.environ["FAKE_CRONTAB_HOME"]
    args = sys.argv[1:]
    with open(os.path.join(home, "calls.log"), "a") as log:
        log.write(" ".join(args) + "\\n")
    user = args[args.index("-u") + 1] if "-u" in args else "me"
    path = os.path.join(home, user)
    if args[-1] == "-l":
        later = path + ".later"
        count = len(open(os.path.join(home, "calls.log")).read().splitlines())
        if os.path.exists(later) and count > 1:
            path = later  # somebody ran crontab -e meanwhile
        if not os.path.exists(path):
            sys.stderr.write("no crontab for " + user + "\\n")
            sys.exit(1)
        sys.stdout.buffer.write(open(path, "rb").read())
    elif args[-1] == "-":
        if os.path.exists(os.path.join(home, "refuse")):
            sys.stderr.write('"-":3: bad minute\\nerrors in crontab file, can\\'t install.\\n')
            sys.exit(1)
        open(path, "wb").write(sys.stdin.buffer.read())
    """
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    fake_home = tmp_path / "fake-crontab"
    fake_home.mkdir()
    fake = tmp_path / "crontab"
    fake.write_text(FAKE_CRONTAB.format(python=sys.executable))
    fake.chmod(0o755)
    state = tmp_path / "state"
    return {
        **os.environ,
        "SMARTCRON_CRONTAB_COMMAND": str(fake),
        "FAKE_CRONTAB_HOME": str(fake_home),
        "SMARTCRON_STATE_DIR": str(state),
    }


def agent(*args: str, env: dict[str, str], stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENT, *args],
        input=stdin.decode(),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def backups(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["SMARTCRON_STATE_DIR"]) / "crontab-backups").glob("*"))


def write_crontab(path: Path, text: str = CRONTAB, mode: int = 0o640) -> bytes:
    data = text.encode()
    path.write_bytes(data)
    path.chmod(mode)
    return data


def test_the_group_lists_its_commands(env: dict[str, str]) -> None:
    result = agent("--help", env=env)
    assert result.returncode == 0
    for command in ("discover", "wrap-crontab", "unwrap-crontab"):
        assert command in result.stdout


def test_dry_run_prints_the_diff_and_changes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "jobs"
    original = write_crontab(path)
    result = agent("wrap-crontab", "--file", str(path), "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"--- {path} (now)\n+++ {path} (new)\n")
    assert f"+30 2 * * * root {find_wrap()} --name nightly-dump --schedule '30 2 * * *' --" in (
        result.stdout
    )
    assert "line 1: left alone: environment setting" in result.stderr
    assert "--dry-run: nothing was changed" in result.stderr
    assert path.read_bytes() == original
    assert backups(env) == []


def test_wrap_then_unwrap_a_file_gives_back_its_bytes(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "jobs"
    original = write_crontab(path, mode=0o640)
    wrapped = agent("wrap-crontab", "--file", str(path), "--yes", env=env)
    assert wrapped.returncode == 0, wrapped.stderr
    assert "changed 4 line(s); backup " in wrapped.stdout
    new = path.read_bytes()
    assert new != original
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # mode kept across the replace
    (backup,) = backups(env)
    assert backup.read_bytes() == original
    assert stat.S_IMODE(backup.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".jobs")] == []  # no temp left

    again = agent("wrap-crontab", "--file", str(path), "--yes", env=env)
    assert again.returncode == 0
    assert "nothing to change" in again.stderr
    assert path.read_bytes() == new

    back = agent("unwrap-crontab", "--file", str(path), "--yes", env=env)
    assert back.returncode == 0, back.stderr
    assert path.read_bytes() == original
    first, second = backups(env)  # each change its own backup; none overwritten
    assert first.read_bytes() == original
    assert second.read_bytes() == new


def test_a_users_crontab_goes_through_the_crontab_command(env: dict[str, str]) -> None:
    home = Path(env["FAKE_CRONTAB_HOME"])
    user_crontab = "0 * * * * echo hourly\n# name: report\n15 7 * * 1-5 make report\n"
    (home / "me").write_text(user_crontab)
    result = agent("wrap-crontab", "--yes", env=env)
    assert result.returncode == 0, result.stderr
    assert (home / "calls.log").read_text() == "-l\n-l\n-\n"  # read, read again, install
    installed = (home / "me").read_text()
    assert f"0 * * * * {find_wrap()} --name echo --schedule '0 * * * *' -- /bin/sh -c" in installed
    assert "--name report" in installed
    (backup,) = backups(env)
    assert backup.name.startswith("user-")
    assert backup.read_text() == user_crontab

    (home / "alice").write_text(user_crontab)
    for_alice = agent("wrap-crontab", "--user", "alice", "--yes", env=env)
    assert for_alice.returncode == 0, for_alice.stderr
    assert (home / "calls.log").read_text().splitlines()[-2:] == ["-u alice -l", "-u alice -"]
    assert (home / "alice").read_text() == installed
    back = agent("unwrap-crontab", "-u", "alice", "--yes", env=env)
    assert back.returncode == 0, back.stderr
    assert (home / "alice").read_text() == user_crontab


def test_a_user_without_a_crontab_has_nothing_to_wrap(env: dict[str, str]) -> None:
    result = agent("wrap-crontab", "--user", "nobody-here", "--yes", env=env)
    assert result.returncode == 0
    assert "nothing to change" in result.stderr


def test_a_crontab_edited_meanwhile_is_not_overwritten(env: dict[str, str]) -> None:
    home = Path(env["FAKE_CRONTAB_HOME"])
    (home / "me").write_text("0 * * * * echo one\n")
    (home / "me.later").write_text("0 * * * * echo one\n0 1 * * * echo added meanwhile\n")
    result = agent("wrap-crontab", "--yes", env=env)
    assert result.returncode == 1
    assert "changed while this ran; nothing was changed" in result.stderr
    assert (home / "me").read_text() == "0 * * * * echo one\n"
    assert not (home / "calls.log").read_text().endswith("-\n")


def test_a_crontab_cron_refuses_is_reported(env: dict[str, str]) -> None:
    home = Path(env["FAKE_CRONTAB_HOME"])
    (home / "me").write_text("0 * * * * echo one\n")
    (home / "refuse").touch()
    result = agent("wrap-crontab", "--yes", env=env)
    assert result.returncode == 1
    assert "refused the new crontab" in result.stderr
    assert "errors in crontab file" in result.stderr
    assert (home / "me").read_text() == "0 * * * * echo one\n"


def _answer(args: list[str], env: dict[str, str], answer: bytes) -> tuple[int, str]:
    """Run the agent on a terminal and answer its question."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [AGENT, *args], stdin=terminal, stdout=terminal, stderr=terminal, env=env
    )
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + 30
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break  # the terminal closed: the agent is done
            if not chunk:
                break
            output += chunk
            if not answered and b"Apply the change" in output:
                os.write(controller, answer)
                answered = True
        elif process.poll() is not None:
            break
    os.close(controller)
    return process.wait(timeout=30), output.decode(errors="replace")


@pytest.mark.parametrize(("answer", "status", "changes"), [(b"n\n", 1, False), (b"y\n", 0, True)])
def test_without_yes_it_asks(
    tmp_path: Path, env: dict[str, str], answer: bytes, status: int, changes: bool
) -> None:
    path = tmp_path / "jobs"
    original = write_crontab(path)
    code, output = _answer(["wrap-crontab", "--file", str(path)], env, answer)
    assert "Apply the change to this crontab? [y/N]" in output
    assert code == status, output
    assert (path.read_bytes() != original) is changes


def test_without_yes_and_without_a_terminal_nothing_changes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = tmp_path / "jobs"
    original = write_crontab(path)
    result = agent("wrap-crontab", "--file", str(path), env=env, stdin=b"y\n")
    assert result.returncode == 1
    assert "pass --yes" in result.stderr
    assert path.read_bytes() == original


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"0 * * * * echo \xc3\x28\n", "is not valid UTF-8"),
        (b"0 * * * * echo a\0b\n", "contains NUL bytes"),
        (b"0 * * * * echo " + b"y" * 100_000 + b"\n", "bytes long"),
    ],
)
def test_a_file_that_is_not_a_crontab_is_one_clear_line(
    tmp_path: Path, env: dict[str, str], content: bytes, problem: str
) -> None:
    path = tmp_path / "jobs"
    path.write_bytes(content)
    for command in ("wrap-crontab", "unwrap-crontab"):
        result = agent(command, "--file", str(path), "--yes", env=env)
        assert result.returncode == 2
        assert problem in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert path.read_bytes() == content


def test_a_link_a_directory_or_a_missing_file_is_refused(
    tmp_path: Path, env: dict[str, str]
) -> None:
    real = tmp_path / "real"
    original = write_crontab(real)
    link = tmp_path / "link"
    link.symlink_to(real)
    cases = [(link, "is a symbolic link"), (tmp_path, "not a regular file")]
    cases.append((tmp_path / "missing", "cannot read"))
    for path, problem in cases:
        result = agent("wrap-crontab", "--file", str(path), "--yes", env=env)
        assert result.returncode == 2, result.stderr
        assert problem in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert real.read_bytes() == original


def test_usage_errors_exit_2(tmp_path: Path, env: dict[str, str]) -> None:
    both = agent("wrap-crontab", "--user", "a", "--file", str(tmp_path / "x"), env=env)
    assert both.returncode == 2
    assert "one of --user, --file and --system" in both.stderr
    relative = agent("wrap-crontab", "--file", str(tmp_path / "x"), "--wrap-path", "bin/w", env=env)
    assert relative.returncode == 2
    assert "is not absolute" in relative.stderr


def test_an_unsafe_state_directory_stops_the_change(tmp_path: Path, env: dict[str, str]) -> None:
    state = Path(env["SMARTCRON_STATE_DIR"])
    state.mkdir(mode=0o700)
    state.chmod(0o777)
    path = tmp_path / "jobs"
    original = write_crontab(path)
    result = agent("wrap-crontab", "--file", str(path), "--yes", env=env)
    assert result.returncode == 1
    assert "is not safe" in result.stderr
    assert "writable by others" in result.stderr
    assert path.read_bytes() == original


def _system_tree(tmp_path: Path) -> tuple[Path, Path]:
    etc = tmp_path / "etc"
    cron_d = etc / "cron.d"
    cron_d.mkdir(parents=True)
    write_crontab(etc / "crontab", "SHELL=/bin/sh\n17 *\t* * *\troot\tcd / && run-parts /etc/h\n")
    write_crontab(cron_d / "backup", "# name: db\n30 2 * * * root mysqldump -A | gzip > /b/a.gz\n")
    write_crontab(cron_d / "backup.dpkg-old", "0 0 * * * root echo old\n")
    (cron_d / "elsewhere").symlink_to(etc / "crontab")
    return etc / "crontab", cron_d


def test_system_wraps_etc_crontab_and_cron_d(tmp_path: Path, env: dict[str, str]) -> None:
    crontab, cron_d = _system_tree(tmp_path)
    places = ["--system-crontab", str(crontab), "--cron-dir", str(cron_d)]
    before = {p: p.read_bytes() for p in (crontab, cron_d / "backup", cron_d / "backup.dpkg-old")}
    result = agent("wrap-crontab", "--system", *places, "--yes", env=env)
    assert result.returncode == 0, result.stderr
    assert "backup.dpkg-old: skipped: cron ignores files whose names hold" in result.stderr
    assert "elsewhere is a symbolic link" in result.stderr
    assert "--name run-parts" in crontab.read_text()
    assert "\troot\t/" in crontab.read_text()  # the user field and its tabs kept
    assert "--name db " in (cron_d / "backup").read_text()
    assert (cron_d / "backup.dpkg-old").read_bytes() == before[cron_d / "backup.dpkg-old"]
    assert len(backups(env)) == 2
    back = agent("unwrap-crontab", "--system", *places, "--yes", env=env)
    assert back.returncode == 0, back.stderr
    assert {p: p.read_bytes() for p in before} == before


def test_unwrap_reports_a_line_edited_after_wrapping(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "jobs"
    write_crontab(path)
    assert agent("wrap-crontab", "--file", str(path), "--yes", env=env).returncode == 0
    edited = path.read_text().replace("--name nightly-dump", "--name nightly-dump --timeout 3h")
    path.write_text(edited)
    result = agent("unwrap-crontab", "--file", str(path), "--yes", env=env)
    assert result.returncode == 0, result.stderr
    assert "line 3: left alone: not in the form wrap-crontab writes; edit it by hand" in (
        result.stderr
    )
    text = path.read_text()
    assert "--timeout 3h" in text  # the edited line stays as the person left it
    assert "find /tmp -mtime +7 -delete\n" in text  # the others are unwrapped


def test_discover_json_lists_every_crontab(tmp_path: Path, env: dict[str, str]) -> None:
    crontab, cron_d = _system_tree(tmp_path)
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "alice").write_text(
        "CRON_TZ=Asia/Tokyo\n"
        "0 9 * * * /opt/bin/smartcron-wrap --name morning --schedule '0 9 * * *' -- mail-report\n"
        "@reboot echo up\n"
    )
    places = [
        "--system-crontab",
        str(crontab),
        "--cron-dir",
        str(cron_d),
        "--spool-dir",
        str(spool),
    ]
    result = agent("discover", "--json", *places, env=env)
    assert result.returncode == 0, result.stderr
    jobs = json.loads(result.stdout)
    assert [(job["name"], job["wrapped"]) for job in jobs] == [
        ("run-parts", False),
        ("db", False),
        ("morning", True),
        ("echo", False),
    ]
    morning = jobs[2]
    assert morning == {
        "name": "morning",
        "schedule": "0 9 * * *",
        "timezone": "Asia/Tokyo",
        "command": "mail-report",
        "user": "alice",
        "source": str(spool / "alice"),
        "line": 2,
        "wrapped": True,
        "text": (
            "0 9 * * * /opt/bin/smartcron-wrap --name morning --schedule '0 9 * * *' -- mail-report"
        ),
        # A wrapped line's --priority and --tags (none on this one): the collector
        # registers the job with them.
        "priority": None,
        "tags": None,
        "expect": {},  # no alert option on the line
    }
    assert jobs[0]["user"] == "root"
    assert jobs[3]["schedule"] == "@reboot"
    assert "elsewhere is a symbolic link" in result.stderr

    table = agent("discover", *places, env=env)
    assert table.returncode == 0
    assert "not wrapped yet" in table.stdout


def test_discover_reads_your_own_crontab_when_the_spool_is_not_readable(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = Path(env["FAKE_CRONTAB_HOME"])
    (home / "me").write_text("*/5 * * * * php /srv/app/sync.php\n")
    places = ["--system-crontab", str(tmp_path / "none"), "--cron-dir", str(tmp_path / "none.d")]
    result = agent("discover", "--json", *places, "--spool-dir", str(tmp_path / "nospool"), env=env)
    assert result.returncode == 0, result.stderr
    (job,) = json.loads(result.stdout)
    assert (job["name"], job["source"], job["wrapped"]) == ("sync", "your crontab", False)
    assert (home / "calls.log").read_text() == "-l\n"


def test_the_replaced_file_keeps_its_owner(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "jobs"
    write_crontab(path, mode=0o644)
    if os.geteuid() == 0:  # as root, the file belongs to somebody else, as /etc/cron.d files may
        os.chown(path, 65534, 65534)
    before = path.stat()
    result = agent("wrap-crontab", "--file", str(path), "--yes", env=env)
    assert result.returncode == 0, result.stderr
    after = path.stat()
    assert after.st_ino != before.st_ino  # a new file, renamed into place
    assert (after.st_uid, after.st_gid, after.st_mode) == (
        before.st_uid,
        before.st_gid,
        before.st_mode,
    )


def test_a_line_the_wrapper_would_refuse_is_left_alone(tmp_path: Path, env: dict[str, str]) -> None:
    """A broken config file makes smartcron-wrap refuse every line (exit 2, the job
    does not run): wrapping then would stop the jobs, so the lines stay plain."""
    path = tmp_path / "jobs"
    original = write_crontab(path)
    config = tmp_path / "broken.toml"
    config.write_text("[defaults\n")
    result = agent(
        "wrap-crontab", "--file", str(path), "--yes", env={**env, "SMARTCRON_CONFIG": str(config)}
    )
    assert result.returncode == 0, result.stderr
    assert "line 3: left alone: smartcron-wrap refuses the wrapped line: " in result.stderr
    assert "not valid TOML" in result.stderr
    assert "nothing to change" in result.stderr
    assert path.read_bytes() == original


def test_each_line_is_checked_by_the_wrapper_it_names(tmp_path: Path, env: dict[str, str]) -> None:
    log = tmp_path / "checked.log"
    fake = tmp_path / "old-smartcron-wrap"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        'case "$*" in *"--name find-tmp "*)\n'
        '  echo "smartcron-wrap: error: no such option" >&2; exit 2;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    path = tmp_path / "jobs"
    write_crontab(path)
    result = agent("wrap-crontab", "--file", str(path), "--wrap-path", str(fake), "--yes", env=env)
    assert result.returncode == 0, result.stderr
    checked = log.read_text().splitlines()
    assert len(checked) == 4
    assert all(line.startswith("--dry-run --name ") for line in checked)
    assert "line 5: left alone: smartcron-wrap refuses the wrapped line: " in result.stderr
    text = path.read_text()
    assert "0 3 * * * root find /tmp -mtime +7 -delete\n" in text
    assert text.count(str(fake)) == 3
