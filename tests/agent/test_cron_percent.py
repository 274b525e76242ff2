"""Cron's `%` rule, case by case, as Debian's cron (and, where they agree, cronie) applies it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smartcron.agent.cronpercent import (
    find_unescaped_percent,
    split_at_percent,
    split_cron_command,
    translate_stdin,
)


@pytest.mark.parametrize(
    ("text", "command", "stdin"),
    [
        ("echo hi", "echo hi", ""),
        ("date +\\%F", "date +%F", ""),  # an escaped % is a literal %, the escape goes
        ("cat%line one%line two", "cat", "line one\nline two\n"),
        ("cat%", "cat", ""),  # an empty stdin part writes nothing at all
        ("cat%%", "cat", "\n"),  # ... but one % is one newline, and none is added after it
        ("cat%a%", "cat", "a\n"),
        ("cat%a\\%b", "cat", "a%b\n"),  # \% in the stdin part is a literal %
        ("cat%a\\b", "cat", "a\\b\n"),  # any other escape is kept as written
        ("cat%a\\\\%b", "cat", "a\\%b\n"),  # \\% in the stdin part: one backslash, a literal %
        ("cat%end\\", "cat", "end\\\n"),  # a trailing backslash is kept, then the newline
        ("cat%%\\", "cat", "\n\\"),  # ... with no newline when the last char written was one
        ("echo a\\b", "echo a\\b", ""),  # a backslash before anything else stays
        ("echo a\\\\b", "echo a\\b", ""),  # Debian: \\ is one backslash (cronie keeps two)
        ("echo a\\\\%in", "echo a\\", "in\n"),  # ... and the % after it is not escaped
        ("echo end\\", "echo end\\", ""),  # a trailing backslash in the command stays
        ("printf '\\%s'%x", "printf '%s'", "x\n"),  # quotes mean nothing to cron
        ("echo größe%ü", "echo größe", "ü\n"),
        ("echo\ttab %\t", "echo\ttab ", "\t\n"),
    ],
)
def test_split_cron_command(text: str, command: str, stdin: str) -> None:
    assert split_cron_command(text) == (command, stdin)


def test_the_cut_is_where_the_command_part_ends() -> None:
    for text in ["a%b", "a\\%b%c", "a\\\\%b", "abc", "%", "\\%"]:
        _command, rest = split_at_percent(text)
        cut = find_unescaped_percent(text)
        assert (rest is None) == (cut == len(text))
        if rest is not None:
            assert text[cut + 1 :] == rest


ALPHABET = st.sampled_from(list("ab %\\\n\t'\"ü"))


@given(st.text(ALPHABET, max_size=40))
def test_no_percent_and_no_backslash_means_nothing_changes(text: str) -> None:
    plain = text.replace("%", "").replace("\\", "")
    assert split_cron_command(plain) == (plain, "")


@given(st.text(ALPHABET, max_size=40))
def test_stdin_ends_in_a_newline_unless_it_ends_in_a_backslash_or_is_empty(rest: str) -> None:
    stdin = translate_stdin(rest)
    if rest:
        assert stdin.endswith(("\n", "\\"))
    else:
        assert stdin == ""
    assert stdin.count("%") == rest.count("\\%")  # only an escaped % survives as a %
