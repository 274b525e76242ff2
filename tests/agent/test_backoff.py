"""The backoff's rule and Retry-After's two forms, as properties (hypothesis)."""

from __future__ import annotations

import email.utils
import random

from hypothesis import given
from hypothesis import strategies as st
from smartcron.agent.ship import backoff_delay
from smartcron.wrapper.answer import MAX_RETRY_AFTER_S, retry_after_seconds

durations = st.floats(0.01, 3600)


@given(st.integers(1, 10_000), durations, durations, st.none() | st.floats(0, 7200), st.integers())
def test_the_delay_is_bounded_and_never_below_retry_after(failures, a, b, retry_after, seed):
    low, high = min(a, b), max(a, b)
    delay = backoff_delay(failures, low, high, retry_after, random.Random(seed))
    assert delay <= max(high, retry_after or 0) + 1e-9
    assert delay >= (retry_after or 0)
    assert delay >= min(high, low * 2.0 ** min(failures - 1, 30)) / 2 - 1e-9


def test_the_delay_doubles_up_to_the_cap():
    rng = random.Random(1)
    ceilings = [
        max(backoff_delay(n, 1, 60, None, rng) for _ in range(200)) for n in (1, 2, 3, 7, 20)
    ]
    assert [round(c) for c in ceilings] == [1, 2, 4, 60, 60]


@given(st.integers(0, 10**9))
def test_retry_after_in_seconds(seconds):
    assert retry_after_seconds(str(seconds)) == min(seconds, MAX_RETRY_AFTER_S)


@given(st.floats(0, 3000))
def test_retry_after_as_an_http_date(ahead):
    now = 1_800_000_000.0
    text = email.utils.formatdate(now + ahead, usegmt=True)
    found = retry_after_seconds(text, now=now)
    assert found is not None and abs(found - int(ahead)) <= 1


@given(st.text(max_size=40))
def test_retry_after_that_is_neither_is_ignored(text):
    found = retry_after_seconds(text)
    assert found is None or 0 <= found <= MAX_RETRY_AFTER_S
