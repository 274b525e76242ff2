"""Reading crontabs the way cron does, and describing their jobs (discover's data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from smartcron.agent.crontab import CrontabError, parse_crontab
from smartcron.agent.discover import jobs_of

CORPUS = Path(__file__).parent / "corpus"
REPO = Path(__file__).parents[2]


def parse(text: str | bytes, *, system: bool = False):
    data = text.encode() if isinstance(text, str) else text
    return parse_crontab(data, source="test", system=system)


def test_each_kind_of_line() -> None:
    crontab = parse(
        "# a comment\n"
        "\n"
        "   \t\n"
        "MAILTO = ops@example.com\n"
        'PATH="/usr/bin:/bin"\n'
        "CRON_TZ=Europe/Berlin\n"
        "*/5 * * * *  echo  hi\n"
        "@hourly\techo hourly\n"
        "not a job\n"
    )
    kinds = [line.kind for line in crontab.lines]
    assert kinds == ["comment", "blank", "blank", "env", "env", "env", "job", "job", "bad"]
    mailto, path = crontab.lines[3], crontab.lines[4]
    assert (mailto.env_name, mailto.env_value) == ("MAILTO", "ops@example.com")
    assert path.env_value == "/usr/bin:/bin"  # one pair of quotes is cron's, not the value's
    job = crontab.lines[6]
    assert (job.schedule, job.command, job.lead) == ("*/5 * * * *", "echo  hi", "*/5 * * * *  ")
    assert job.env == {
        "MAILTO": "ops@example.com",
        "PATH": "/usr/bin:/bin",
        "CRON_TZ": "Europe/Berlin",
    }
    assert crontab.lines[7].schedule == "@hourly"
    assert crontab.to_bytes() == b"".join(line.raw for line in crontab.lines)


def test_env_lines_apply_to_the_jobs_after_them_only() -> None:
    crontab = parse("* * * * * a\nSHELL=/bin/bash\n* * * * * b\nSHELL=/bin/dash\n* * * * * c\n")
    assert [job.env.get("SHELL") for job in crontab.jobs()] == [None, "/bin/bash", "/bin/dash"]


def test_system_crontab_has_a_user_field() -> None:
    crontab = parse("17 *\t* * *\troot    cd / && run-parts /etc/cron.hourly\n", system=True)
    (job,) = crontab.jobs()
    assert (job.user, job.command) == ("root", "cd / && run-parts /etc/cron.hourly")
    assert job.lead == "17 *\t* * *\troot    "
    assert parse("@daily root\n", system=True).lines[0].kind == "bad"  # no command after the user


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("61 * * * * echo", "not a valid cron schedule"),
        ("* * * * echo four fields", "not a valid cron schedule"),
        ("@sometimes echo", "not a cron macro"),
        ("* * * * *", "no command"),
        ("* * * * *   ", "no command"),
    ],
)
def test_lines_cron_cannot_read(line: str, reason: str) -> None:
    (parsed,) = parse(line + "\n").lines
    assert parsed.kind == "bad"
    assert reason in parsed.reason


def test_every_macro() -> None:
    macros = [
        "@reboot",
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ]
    crontab = parse("".join(f"{macro} echo {macro[1:]}\n" for macro in macros))
    assert [job.schedule for job in crontab.jobs()] == macros


def test_bytes_are_kept_exactly() -> None:
    data = (
        "* * * * * echo crlf\r\n\t# tab comment\n"
        "* * * * * echo größe 日本\n"
        "* * * * * echo no newline"
    ).encode()
    crontab = parse(data)
    assert crontab.to_bytes() == data
    first, _, third, last = crontab.lines
    assert first.command == "echo crlf\r"  # cron hands the CR to the shell too
    assert first.ending == b"\n"
    assert third.command == "echo größe 日本"
    assert last.ending == b""


def test_a_lone_cr_does_not_split_a_line() -> None:
    crontab = parse(b"* * * * * echo a\rb\n")
    assert len(crontab.lines) == 1
    assert crontab.lines[0].command == "echo a\rb"


def test_name_comment_names_the_line_just_below() -> None:
    crontab = parse(
        "# name: nightly\n0 2 * * * backup.sh\n0 3 * * * other.sh\n#name:x\n\n0 4 * * * y\n"
    )
    assert [job.name_comment for job in crontab.jobs()] == ["nightly", None, None]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"* * * * * echo \xff\xfe\n", "not valid UTF-8"),
        (b"* * * * * echo a\0b\n", "NUL"),
        (b"* * * * * echo " + b"x" * 70_000 + b"\n", "line 1 is"),
        (b"#" * (5 * 1024 * 1024), "too large"),
    ],
)
def test_files_that_are_not_crontabs_are_refused_with_one_clear_line(
    data: bytes, problem: str
) -> None:
    with pytest.raises(CrontabError) as caught:
        parse(data)
    message = str(caught.value)
    assert problem in message
    assert "\n" not in message


def test_jobs_of_a_plain_crontab() -> None:
    crontab = parse(
        "CRON_TZ=Europe/Berlin\n"
        "# name: dump\n"
        "30 2 * * * mysqldump shop | gzip > /b/shop.gz\n"
        "0 3 * * * find /var/log -delete\n"
        "0 4 * * * find /tmp -delete\n"
        "@hourly cat%stdin text\n"
    )
    jobs = jobs_of(crontab, owner="alice")
    assert [job.name for job in jobs] == ["dump", "find-var-log", "find-tmp", "cat"]
    dump = jobs[0]
    assert dump.schedule == "30 2 * * *"
    assert dump.timezone == "Europe/Berlin"
    assert dump.user == "alice"
    assert dump.wrapped is False
    assert (dump.source, dump.line) == ("test", 3)
    assert jobs[3].command == "cat"  # what the shell runs; the stdin part is not the command


def test_jobs_of_wrapped_lines_come_from_the_wrappers_own_options() -> None:
    crontab = parse(
        "15 6 1 * *   reports   smartcron-wrap --name invoices-monthly --schedule '15 6 1 * *' "
        "--timezone=Asia/Tokyo --timeout 2h -- sh -c 'bin/invoices > inv-$(date +\\%Y).csv'\n"
        "0 1 * * *  root  /opt/bin/smartcron-wrap --name x -- /bin/sh -c 'a && b'\n",
        system=True,
    )
    invoices, other = jobs_of(crontab)
    assert invoices.name == "invoices-monthly"
    assert invoices.schedule == "15 6 1 * *"
    assert invoices.timezone == "Asia/Tokyo"
    assert invoices.user == "reports"
    assert invoices.wrapped is True
    assert invoices.command == "bin/invoices > inv-$(date +%Y).csv"
    assert (other.name, other.command, other.schedule) == ("x", "a && b", "0 1 * * *")


def test_crontab_example_is_all_wrapped_lines_discover_can_read() -> None:
    crontab = parse((REPO / "crontab.example").read_bytes(), system=True)
    jobs = jobs_of(crontab)
    assert len(jobs) >= 5
    assert all(job.wrapped for job in jobs)
    by_name = {job.name: job for job in jobs}
    assert by_name["mysql-backup"].schedule == "30 2 * * *"
    assert by_name["mysql-backup"].user == "root"
    assert [line.kind for line in crontab.lines].count("bad") == 0


def test_the_corpus_parses_without_surprises() -> None:
    for path in sorted(CORPUS.glob("*.crontab")):
        crontab = parse(path.read_bytes(), system=path.name.startswith("system"))
        assert crontab.to_bytes() == path.read_bytes()
        if path.name != "left-alone.crontab":
            assert not [line for line in crontab.lines if line.kind == "bad"], path.name
