"""Property tests of the wrapper's input boundary: the option parser, the duration and
size parsers, the config reader and the redactor. No input makes a parser raise
anything but the clean usage error (SettingError, one line), and no generated secret
survives redaction."""

from __future__ import annotations

import json
import math
import shlex
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from smartcron.wrapper import limits
from smartcron.wrapper import validate as v
from smartcron.wrapper.config import check_file, load_tables
from smartcron.wrapper.options import OPTIONS, parse_argv
from smartcron.wrapper.redact import MASK, redact
from smartcron.wrapper.settings import resolve
from smartcron.wrapper.validate import SettingError

FLAGS = [option.flag for option in OPTIONS if option.name not in ("config", "state_dir")]
FLAGS += ["--no-lock", "--no-breaker", "--nope", "-x", "--"]
FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_clean(error: SettingError) -> None:
    message = str(error)
    assert message and "\n" not in message, message
    assert len(message) < 600, message


# Anything TOML can hold, and anything a person might type.
scalars = st.one_of(
    st.text(max_size=40),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["1e12", "1e18", "²", "¹", "١٢", "9" * 5000, "1_000", "0x10", "inf", "-0"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)


# ---------------------------------------------------------------- the option parser


@FAST
@given(argv=st.lists(st.one_of(st.sampled_from(FLAGS), st.text(max_size=30)), max_size=12))
def test_the_parser_takes_any_argv_or_says_what_is_wrong(argv):
    try:
        parse_argv(argv)
    except SettingError as error:
        assert_clean(error)


@FAST
@given(
    pairs=st.lists(
        st.tuples(st.sampled_from(FLAGS[:-5]), scalars.map(str)), min_size=1, max_size=6
    ),
    env=st.fixed_dictionaries(
        {},
        optional={
            "SMARTCRON_COLLECTOR_URL": st.text(max_size=30),
            "SMARTCRON_TOKEN": st.text(max_size=30),
        },
    ),
)
@example(pairs=[("--jitter", "1e12")], env={})
@example(pairs=[("--retry-delay", "1e18"), ("--retry-max-delay", "1e18")], env={})
@example(pairs=[("--retries", "²")], env={})
@example(pairs=[("--priority", "¹")], env={})
def test_resolving_any_values_gives_settings_or_one_clean_line(pairs, env, tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    argv = ["--state-dir", str(state), *[f"{flag}={value}" for flag, value in pairs]]
    try:
        s = resolve(parse_argv([*argv, "--", "true"]), env)
    except SettingError as error:
        assert_clean(error)
        return
    # Every duration can be slept and every deadline built (jitter, retry delays, locks).
    for name in ("timeout", "kill_after", "retry_delay", "retry_max_delay", "lock_wait",
                 "breaker_window", "breaker_cooldown", "jitter"):  # fmt: skip
        seconds = getattr(s, name)
        assert seconds is None or 0 <= seconds <= min(limits.SECONDS_MAX, threading.TIMEOUT_MAX)
    assert limits.PRIORITY_MIN <= s.priority <= limits.PRIORITY_MAX
    assert 0 <= s.retries <= limits.RETRIES_MAX


# ---------------------------------------------------------------- durations and sizes


@FAST
@given(value=values)
@example(value="1e12")
@example(value="9" * 5000)
@example(value="99999999999d")
def test_a_duration_is_bounded_or_refused(value):
    try:
        seconds = v.parse_duration(value, "--timeout")
    except SettingError as error:
        assert_clean(error)
        return
    assert isinstance(seconds, float) and 0 <= seconds <= limits.SECONDS_MAX


@FAST
@given(seconds=st.floats(0, limits.SECONDS_MAX))
def test_a_formatted_duration_reads_back(seconds):
    text = v.format_duration(seconds)
    assert math.isclose(v.parse_duration(text, "--timeout"), seconds, rel_tol=1e-6, abs_tol=1e-6)


@FAST
@given(value=values)
@example(value="9" * 400 + "T")
@example(value=2**80)
def test_a_size_is_bounded_or_refused(value):
    try:
        size = v.parse_size(value, "--max-memory")
    except SettingError as error:
        assert_clean(error)
        return
    assert isinstance(size, int) and 1 <= size <= limits.MEMORY_MAX


@FAST
@given(value=values)
@example(value="²")
@example(value="٣")
@example(value="9" * 5000)
def test_a_whole_number_is_ascii_and_in_range_or_refused(value):
    try:
        number = v.parse_int(value, "--retries", 0, 100)
    except SettingError as error:
        assert_clean(error)
        return
    assert isinstance(number, int) and 0 <= number <= 100


# ---------------------------------------------------------------- the config reader


def toml_value(value: object) -> str:
    """A TOML inline value (JSON's strings and numbers are TOML's, but for the specials)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)


keys = st.one_of(
    st.sampled_from([o.name for o in OPTIONS] + [o.flag[2:] for o in OPTIONS]),
    st.text(min_size=1, max_size=12),
)
tables = st.dictionaries(keys, values, max_size=5)
documents = st.fixed_dictionaries(
    {},
    optional={
        "defaults": tables,
        "jobs": st.dictionaries(st.text(max_size=8), tables, max_size=3),
    },
)


def render(document: dict[str, Any]) -> str:
    lines = []
    for table, body in document.items():
        if table == "defaults":
            parts = [(f"[{table}]", body)]
        else:
            parts = [(f"[jobs.{json.dumps(job)}]", inner) for job, inner in body.items()]
        for header, inner in parts:
            lines.append(header)
            lines.extend(f"{json.dumps(k)} = {toml_value(x)}" for k, x in inner.items())
    return "\n".join(lines) + "\n"


def read_config(path: Path) -> None:
    for reader in (lambda: load_tables(str(path), "job"), lambda: check_file(str(path))):
        try:
            result = reader()
        except SettingError as error:
            assert_clean(error)
            continue
        if isinstance(result, list):
            for problem in result:
                assert "\n" not in problem, problem


@FAST
@given(document=documents)
def test_the_config_reader_takes_any_document_or_says_what_is_wrong(document, tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "smartcron.toml"
    path.write_text(render(document), encoding="utf-8", errors="surrogatepass")
    read_config(path)


@FAST
@given(data=st.binary(max_size=300))
@example(data=b'[defaults]\ntimeout = "\xff"\n')
@example(data=b"[defaults]\ntags = " + b"[" * 5000 + b"]" * 5000 + b"\n")
@example(data=b'[defaults]\nstate_dir = "a\\u0000b"\n')
def test_the_config_reader_takes_any_bytes_or_says_what_is_wrong(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "smartcron.toml"
    path.write_bytes(data)
    read_config(path)


# ---------------------------------------------------------------- the redactor

# Secrets as people pick them: no blanks or quotes (a shell would split or strip those).
SECRET_CHARS = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#%+^_~"
secrets = st.text(alphabet=SECRET_CHARS, min_size=6, max_size=24)
TEMPLATES = [
    "mysqldump -uroot -p{s} --single-transaction shop",
    "mysql --user=app --password={s} -e 'select 1'",
    "mariadb-dump -p{s} shop",
    "curl -fsS -u admin:{s} https://example.com/api",
    "curl --user admin:{s} https://example.com/api",
    "sshpass -p {s} ssh -p 2222 backup@host",
    "sshpass -p{s} rsync -a /srv host:/srv",
    "redis-cli -h cache -p 6379 -a {s} ping",
    "redis-cli --pass {s} ping",
    "MYSQL_PWD={s} mysqldump shop",
    "PGPASSWORD={s} pg_dump shop",
    "pg_dump postgresql://app:{s}@db/shop",
    "wget https://user:{s}@example.com/file",
    "redis-cli -u redis://:{s}@cache:6379 ping",
    "mongodump -u app -p {s} --db shop",
    "smbclient //nas/backup -U backup%{s} -c ls",
    "lftp -u backup,{s} sftp://host",
    "openssl enc -aes-256-cbc -pass pass:{s} -in a -out b",
    "htpasswd -b /etc/nginx/htpasswd bob {s}",
    "docker login -u ci -p {s} registry.example.com",
    "gpg --batch --passphrase {s} -d file.gpg",
    "BORG_PASSPHRASE={s} borg create ::daily /srv",
    "restic -r s3:bucket backup --password-file /x; RESTIC_PASSWORD={s}",
    "curl -H 'Authorization: Bearer {s}' https://api",
    "curl https://api/x?token={s}&page=2",
    '{{"password": "{s}"}}',
]


@FAST
@given(secret=secrets, template=st.sampled_from(TEMPLATES), noise=st.text(max_size=40))
def test_no_generated_secret_survives_in_output(secret, template, noise):
    line = template.format(s=secret)
    assume(secret not in noise and secret not in MASK and secret not in template)
    for text in (line, f"+ {line}\n{noise}", f"{noise}\n{line}\n{noise}"):
        redacted = redact(text)
        assert secret not in redacted, (text, redacted)
        assert redact(redacted) == redacted, "redaction is idempotent"


COMMAND_LINES = [template for template in TEMPLATES if not template.startswith("{")]


@FAST
@given(secret=secrets, template=st.sampled_from(COMMAND_LINES))
def test_no_generated_secret_survives_in_the_command_line(secret, template):
    # The report shows argv joined by shlex, which quotes the words holding ! # ^ ~ ...
    argv = shlex.split(template.format(s=secret))
    assume(secret not in template)
    redacted = redact(shlex.join(argv))
    assert secret not in redacted, redacted
    # and the same line as one argument of sh -c, as a crontab line is usually wrapped
    redacted = redact(shlex.join(["/bin/sh", "-c", template.format(s=secret)]))
    assert secret not in redacted, redacted


@FAST
@given(text=st.text(max_size=300))
def test_redaction_takes_any_text(text):
    redacted = redact(text)
    assert isinstance(redacted, str)


@pytest.mark.parametrize("text", ["ssh -p 2222 host", "docker run -p 8080:80 img",
                                  "mysql -P 3306 -p shop", "pg_dump --no-password shop",
                                  "docker exec -u 1000:1000 web ls"])  # fmt: skip
def test_ports_and_prompts_are_not_secrets(text):
    assert redact(text) == text
