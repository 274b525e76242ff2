"""validate.py: one place turns option text into values or names exactly what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from smartcron.wrapper import validate as v
from smartcron.wrapper.validate import SettingError


def assert_names(error: pytest.ExceptionInfo[SettingError], option: str, value: str) -> None:
    """The message says which option is bad and shows the bad value."""
    message = str(error.value)
    assert option in message, message
    assert repr(value) in message or value in message, message
    assert "\n" not in message, "an error is one line"


# ---------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("1.5s", 1.5),
        ("500ms", 0.5),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("0", 0.0),
        ("1d2h3m4s", 86400 + 7200 + 180 + 4),
        (" 10M ", 600.0),
        (90, 90.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration_accepts(text, seconds):
    assert v.parse_duration(text, "--timeout") == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["banana", "-5", "10x", "1h30", "", "   ", "s", "1.s", "inf", "nan", "5 m", "-1s"]
)
def test_parse_duration_refuses(text):
    with pytest.raises(SettingError) as error:
        v.parse_duration(text, "--timeout")
    assert_names(error, "--timeout", text)
    assert "e.g. 90, 90s, 10m, 1h30m" in str(error.value), "the message shows the fix"


@pytest.mark.parametrize("value", [True, False, -1, float("inf")])
def test_parse_duration_refuses_non_durations_from_toml(value):
    with pytest.raises(SettingError, match="kill_after"):
        v.parse_duration(value, "kill_after")


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512M", 512 << 20),
        ("2G", 2 << 30),
        ("64K", 64 << 10),
        ("1T", 1 << 40),
        ("1.5G", 3 << 29),
        ("512m", 512 << 20),
        ("512MB", 512 << 20),
        ("512MiB", 512 << 20),
        ("1048576", 1 << 20),
        (4096, 4096),
    ],
)
def test_parse_size_accepts(text, size):
    assert v.parse_size(text, "--max-memory") == size


@pytest.mark.parametrize("text", ["lots", "0", "0M", "-1M", "10X", "", "M", "1.5.5G", "2 GB x"])
def test_parse_size_refuses(text):
    with pytest.raises(SettingError) as error:
        v.parse_size(text, "--max-memory")
    assert_names(error, "--max-memory", text)
    assert "512M" in str(error.value), "the message shows the fix"


@pytest.mark.parametrize("value", [0, -5, True, 0.5])
def test_parse_size_refuses_non_sizes_from_toml(value):
    with pytest.raises(SettingError, match="max_memory"):
        v.parse_size(value, "max_memory")


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["backup", "db.sync-2_hourly", "x", "x" * 100, "A.B", "0"])
def test_parse_name_accepts(name):
    assert v.parse_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "has space", "x" * 101, "a/b", "caf\u00e9", "semi;colon", "tab\there"]
)
def test_parse_name_refuses(name):
    with pytest.raises(SettingError) as error:
        v.parse_name(name)
    assert_names(error, "--name", name)
    assert "1 to 100 letters, digits" in str(error.value)


# ---------------------------------------------------------------- whole numbers


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("3", 3), ("100", 100), (7, 7)])
def test_parse_int_accepts(text, number):
    assert v.parse_int(text, "--retries", 0, 100) == number


@pytest.mark.parametrize("text", ["-1", "101", "abc", "1.5", "", "2x", True, 3.0, None])
def test_parse_int_refuses(text):
    with pytest.raises(SettingError) as error:
        v.parse_int(text, "--retries", 0, 100)
    assert_names(error, "--retries", repr(text) if not isinstance(text, str) else text)
    assert "from 0 to 100" in str(error.value)


def test_parse_int_without_upper_bound_says_at_least():
    assert v.parse_int("1000000", "--breaker-threshold", 1) == 1_000_000
    with pytest.raises(SettingError, match=r"--breaker-threshold: '0' .* at least 1"):
        v.parse_int("0", "--breaker-threshold", 1)


# ---------------------------------------------------------------- booleans, URLs, tags


@pytest.mark.parametrize(
    ("text", "value"),
    [("yes", True), ("true", True), ("1", True), (True, True), ("no", False), ("off", False)],
)
def test_parse_bool(text, value):
    assert v.parse_bool(text, "lock") is value


def test_parse_bool_refuses_other_words():
    with pytest.raises(SettingError) as error:
        v.parse_bool("maybe", "lock")
    assert_names(error, "lock", "maybe")


def test_parse_url_accepts_http_and_strips_the_slash():
    assert v.parse_url("http://collector:8080/", "--collector") == "http://collector:8080"
    assert v.parse_url("https://c.example/base", "--collector") == "https://c.example/base"


@pytest.mark.parametrize("text", ["collector:8080", "ftp://host", "http://", "http://a b"])
def test_parse_url_refuses(text):
    with pytest.raises(SettingError) as error:
        v.parse_url(text, "--collector")
    assert_names(error, "--collector", text)


def test_parse_tags():
    assert v.parse_tags("nightly, db,,backup") == ("nightly", "db", "backup")
    assert v.parse_tags(["a", "b"]) == ("a", "b")
    with pytest.raises(SettingError) as error:
        v.parse_tags("ok,not ok")
    assert_names(error, "tags", "not ok")


# ---------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("@hourly", "@hourly"),
        ("@daily", "@daily"),
        ("*/5 * * * *", "*/5 * * * *"),
        ("0  3 * *   1-5", "0 3 * * 1-5"),
        ("15 2 1 * *", "15 2 1 * *"),
    ],
)
def test_parse_schedule_accepts(text, normalised):
    assert v.parse_schedule(text) == normalised


@pytest.mark.parametrize(
    "text",
    ["* * *", "61 * * * *", "every hour", "* * * * * *", "@fortnightly", "", "*/0 * * * *"],
)
def test_parse_schedule_refuses(text):
    with pytest.raises(SettingError) as error:
        v.parse_schedule(text)
    assert_names(error, "--schedule", " ".join(text.split()))
    assert "*/5 * * * *" in str(error.value), "the message shows the fix"


def test_parse_schedule_refuses_reboot_and_says_why():
    with pytest.raises(SettingError) as error:
        v.parse_schedule("@reboot", "schedule")
    message = str(error.value)
    assert message.startswith("schedule:"), message
    assert "@reboot" in message
    assert "leave --schedule out" in message


# ---------------------------------------------------------------- tokens


def test_parse_token_plain():
    assert v.parse_token("  s3cret  ", "--token") == "s3cret"


def test_parse_token_reads_a_file(tmp_path: Path):
    path = tmp_path / "token"
    path.write_text("from-file-token\n")
    assert v.parse_token(f"file:{path}", "--token") == "from-file-token"


def test_parse_token_missing_file(tmp_path: Path):
    path = tmp_path / "nope"
    with pytest.raises(SettingError) as error:
        v.parse_token(f"file:{path}", "SMARTCRON_TOKEN")
    message = str(error.value)
    assert message.startswith("SMARTCRON_TOKEN:"), message
    assert str(path) in message
    assert "No such file" in message


def test_parse_token_unreadable_path(tmp_path: Path):
    # A directory cannot be read as a token file, even by root.
    with pytest.raises(SettingError) as error:
        v.parse_token(f"file:{tmp_path}", "--token")
    assert_names(error, "--token", str(tmp_path))


def test_parse_token_empty_file(tmp_path: Path):
    path = tmp_path / "token"
    path.write_text(" \n")
    with pytest.raises(SettingError) as error:
        v.parse_token(f"file:{path}", "--token")
    assert_names(error, "--token", str(path))
    assert "empty" in str(error.value)


def test_parse_token_empty_value():
    with pytest.raises(SettingError, match="--token: the value is empty"):
        v.parse_token("  ", "--token")


# ---------------------------------------------------------------- formatting (for --dry-run)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (1.5, "1.5s"), (90, "1m30s"), (3600, "1h"), (5400, "1h30m")],
)
def test_format_duration(seconds, text):
    assert v.format_duration(seconds) == text
    assert v.parse_duration(text, "x") == pytest.approx(seconds), "formats back to itself"


@pytest.mark.parametrize(
    ("size", "text"), [(512 << 20, "512M"), (2 << 30, "2G"), (64 << 10, "64K"), (100, "100B")]
)
def test_format_size(size, text):
    assert v.format_size(size) == text
