"""redact.py: secrets never reach a run report or a log; everything else is left alone."""

from __future__ import annotations

import json
import shlex
import shutil
from typing import TYPE_CHECKING, Any

import pytest
from smartcron.wrapper.redact import MASK, redact

if TYPE_CHECKING:
    from tests.conftest import StateDir, Wrap


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2", "password=[REDACTED]"),
        ("PASSWORD=hunter2", "PASSWORD=[REDACTED]"),
        ("passwd=hunter2 next", "passwd=[REDACTED] next"),
        ("pwd=hunter2", "pwd=[REDACTED]"),
        ("token=abc123", "token=[REDACTED]"),
        ("secret=abc123", "secret=[REDACTED]"),
        ("api_key=abc123", "api_key=[REDACTED]"),
        ("api-key: abc123", "api-key: [REDACTED]"),
        ("apikey=abc123", "apikey=[REDACTED]"),
        ("client_secret=abc", "client_secret=[REDACTED]"),
        ("DB_PASSWORD=hunter2", "DB_PASSWORD=[REDACTED]"),
        ("github_token=ghp_abc", "github_token=[REDACTED]"),
        ("password: hunter2", "password: [REDACTED]"),
        ("password = hunter2", "password = [REDACTED]"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key=[REDACTED]"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "AWS_SECRET_ACCESS_KEY=[REDACTED]"),
        ("--password hunter2", "--password [REDACTED]"),
        ("--password=hunter2", "--password=[REDACTED]"),
        ("-p --token abc123 -v", "-p --token [REDACTED] -v"),
        ("--api-key abc123", "--api-key [REDACTED]"),
    ],
)
def test_key_value_secrets(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "after"),
    [("password='two words'", ""), ('password="two words" after', " after")],
)
def test_a_quoted_value_is_masked_whole(text, after):
    # Whether the quotes stay around the mask is a matter of taste; the words must go.
    quote = text[len("password=")]
    assert redact(text) in (f"password={MASK}{after}", f"password={quote}{MASK}{quote}{after}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer [REDACTED]"),
        ("authorization: bearer abc", "authorization: bearer [REDACTED]"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]"),
        ("Authorization: token ghp_abc", "Authorization: token [REDACTED]"),
        ("Authorization: abc123", "Authorization: [REDACTED]"),
        ("curl -H 'Authorization: Bearer abc' x", "curl -H 'Authorization: Bearer [REDACTED]' x"),
        ("-H \"Authorization: Bearer abc\"", "-H \"Authorization: Bearer [REDACTED]\""),
    ],
)  # fmt: skip
def test_authorization_headers(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mysql://app:hunter2@db:3306/x", "mysql://app:[REDACTED]@db:3306/x"),
        ("https://user:p%40ss@host/path", "https://user:[REDACTED]@host/path"),
        ("fetch https://u:pw@h.example and more", "fetch https://u:[REDACTED]@h.example and more"),
        ("redis+sentinel://a:b@h", "redis+sentinel://a:[REDACTED]@h"),
    ],
)
def test_credentials_in_urls(text, expected):
    assert redact(text) == expected


def test_aws_access_key_ids():
    assert redact("key AKIAIOSFODNN7EXAMPLE used") == "key [REDACTED] used"
    assert redact("ASIAIOSFODNN7EXAMPLE") == MASK
    assert redact("AKIAIOSFODNN7EXAMPL") == "AKIAIOSFODNN7EXAMPL", "too short to be a key id"


def test_query_strings_keep_the_other_parameters():
    url = "https://api.example/v1?user=bob&token=abc123&page=2"
    assert redact(url) == "https://api.example/v1?user=bob&token=[REDACTED]&page=2"


def test_several_secrets_in_one_text():
    text = "password=a\ntoken=b\nAuthorization: Bearer c\nAKIAIOSFODNN7EXAMPLE\nok"
    redacted = redact(text)
    assert redacted == (
        "password=[REDACTED]\ntoken=[REDACTED]\nAuthorization: Bearer [REDACTED]\n[REDACTED]\nok"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "backup finished: 1234 files, 5.2 GB",
        "tokenizer=spacy",
        "passwords_checked=5",
        "secretary: Ann",
        "password_hint is set",
        "email me at ops@example.com",
        "see https://example.com:8443/path?q=1",
        "ssh://git@github.com/org/repo",
        "ratio 3:2 @ 5",
        "the word password alone",
        "no token here",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def test_redaction_is_idempotent():
    text = "password=x token=y https://a:b@c Authorization: Bearer z AKIAIOSFODNN7EXAMPLE"
    once = redact(text)
    assert redact(once) == once
    for secret in ("=x", "=y", ":b@", "Bearer z", "AKIAIOSFODNN7EXAMPLE"):
        assert secret not in once, secret


def test_json_secrets():
    # Jobs that log JSON: the key is quoted, so the value follows `": "`.
    assert redact('{"user": "bob", "password": "hunter2"}') == (
        '{"user": "bob", "password": "[REDACTED]"}'
    )
    assert "abc123" not in redact('{"api_key":"abc123"}')


def test_multibyte_text_survives():
    text = "Gr\u00fc\u00dfe \u2713 password=h\u00fcnter2 \u65e5\u672c"
    assert redact(text) == "Gr\u00fc\u00dfe \u2713 password=[REDACTED] \u65e5\u672c"


@pytest.mark.parametrize(
    "blob",
    ["x" * 16384, "aZ09+/" * 2731, "http" * 4096, "a:" * 8192, "-" * 16384],
    ids=["letters", "base64", "schemes", "colons", "dashes"],
)
def test_long_unbroken_output_without_a_secret_comes_out_unchanged(blob):
    # A tail is up to 64 KiB and is redacted on every run. That the cost grows linearly
    # with a word's length is bench/redact.py's to measure (a ratio in one run), not a
    # timed assert's; a pattern that backtracked without end would never be back here.
    assert redact(blob) == blob


# ---------------------------------------------------------------- the installed wrapper

SECRET = "S3cretValue42"
# The secrets of the tools cron jobs call, as a crontab line would hold them.
CRON_LINES = [
    f"mysqldump -uroot -p{SECRET} --single-transaction shop",
    f"mysql --password={SECRET} -e 'select 1'",
    f"curl -fsS -u admin:{SECRET} https://example.com/api",
    f"sshpass -p {SECRET} ssh -p 2222 backup@host",
    f"redis-cli -h cache -a {SECRET} ping",
    f"MYSQL_PWD={SECRET} mysqldump shop",
    f"PGPASSWORD={SECRET} pg_dump shop",
    f"wget https://user:{SECRET}@example.com/file",
    f"mongodump -u app -p {SECRET} --db shop",
    f"smbclient //nas/backup -U backup%{SECRET} -c ls",
    f"lftp -u backup,{SECRET} sftp://host",
    f"openssl enc -aes-256-cbc -pass pass:{SECRET} -in a -out b",
    f"htpasswd -b /etc/nginx/htpasswd bob {SECRET}",
    f"docker login -u ci -p {SECRET} registry.example.com",
    f"gpg --batch --passphrase {SECRET} -d backup.gpg",
    f"BORG_PASSPHRASE={SECRET} borg create ::daily /srv",
]
ECHO_BOTH = 'printf "%s\\n" "$1"; printf "+ %s\\n" "$1" >&2'


def assert_hidden(state: StateDir, name: str) -> dict[str, Any]:
    report = state.report()
    assert SECRET not in json.dumps(report), report
    assert SECRET not in json.dumps(state.log(name))
    return report


@pytest.mark.parametrize("line", CRON_LINES, ids=lambda line: line.split()[0].split("=")[0])
def test_a_secret_in_the_output_stays_out_of_the_report(wrap: Wrap, state: StateDir, line):
    result = wrap("--name", "leaky", "--", "sh", "-c", ECHO_BOTH, "sh", line)
    assert result.returncode == 0, result.stderr
    assert SECRET in result.stdout, "the job's own output reaches cron unchanged"
    report = assert_hidden(state, "leaky")
    assert MASK in report["stdout_tail"] and MASK in report["stderr_tail"]
    assert MASK in report["command"], "the line is an argument of the command too"


@pytest.mark.parametrize("line", CRON_LINES, ids=lambda line: line.split()[0].split("=")[0])
def test_a_secret_in_the_command_line_stays_out_of_the_report(
    wrap: Wrap, state: StateDir, tmp_path, line
):
    # The tools themselves are stand-ins (true under their names): nothing leaves the host.
    words = shlex.split(line)
    if "=" in words[0]:
        words = ["env", *words]
    fake = tmp_path / "bin" / words[0]
    fake.parent.mkdir(exist_ok=True)
    fake.symlink_to(shutil.which("true") or "/bin/true")
    result = wrap("--name", "argv", "--", str(fake), *words[1:])
    assert result.returncode == 0, result.stderr
    report = assert_hidden(state, "argv")
    assert MASK in report["command"], report["command"]
