"""The login form under a guesser, against the real service on SQLite and MySQL: the
failed-login limit holds when attempts come all at once, and a wrong user name
costs what a wrong password costs."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
from smartcron.collector import auth
from smartcron.collector.db import tables
from sqlalchemy import Engine

from tests.support.collector_api import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    count_rows,
    login_form,
    post_login,
)
from tests.support.service import ADMIN_PASSWORD, Service

LIMIT = 5  # the service's default: failed logins per client within the window


def test_forty_wrong_passwords_at_once_check_at_most_five(
    collector: Service, schema_engine: Engine
) -> None:
    browser = requests.Session()
    token = login_form(collector, browser)
    cookie = str(browser.cookies[LOGIN_CSRF_COOKIE])
    start = threading.Barrier(40)

    def guess(number: int) -> int:
        client = requests.Session()
        client.cookies.set(LOGIN_CSRF_COOKIE, cookie)
        start.wait()
        answer = post_login(collector, client, csrf_token=token, password=f"guess {number}")
        return answer.status_code

    with ThreadPoolExecutor(40) as pool:
        statuses = Counter(pool.map(guess, range(40)))
    # 303 back to the form is a password checked and found wrong; 429 is not checked.
    assert set(statuses) <= {303, 429}, statuses
    assert statuses[303] <= LIMIT, statuses
    # Each checked one is a failure on record; the refused ones left nothing behind.
    assert count_rows(schema_engine, tables.login_failures) == statuses[303]


def test_once_the_limit_is_reached_the_right_password_waits_too(
    collector: Service, schema_engine: Engine
) -> None:
    client = requests.Session()
    token = login_form(collector, client)
    for _ in range(LIMIT):
        assert post_login(collector, client, csrf_token=token, password="guess").status_code == 303
    assert post_login(collector, client, csrf_token=token).status_code == 429
    assert SESSION_COOKIE not in client.cookies
    assert count_rows(schema_engine, tables.login_failures) == LIMIT


def test_a_login_that_works_is_not_counted_as_a_failure(
    collector: Service, schema_engine: Engine
) -> None:
    client = requests.Session()
    token = login_form(collector, client)
    assert post_login(collector, client, csrf_token=token, password="guess").status_code == 303
    assert post_login(collector, client, csrf_token=token).status_code == 303
    assert SESSION_COOKIE in client.cookies
    assert count_rows(schema_engine, tables.login_failures) == 1


def test_a_user_name_that_is_not_ascii_is_a_wrong_login_not_an_error(collector: Service) -> None:
    client = requests.Session()
    token = login_form(collector, client)
    answer = post_login(collector, client, csrf_token=token, username="ädmin")
    assert answer.status_code == 303 and "error=1" in answer.headers["location"]


def median_time(attempt: tuple[str, str], stored: str | None, rounds: int = 7) -> float:
    """The median CPU time of a check: scrypt is CPU work, and the wall clock also
    counts the waits for a core on a loaded machine (CI once saw 34 against 95 ms)."""
    times = []
    for _ in range(rounds):
        started = time.thread_time()
        assert not auth.credentials_match("admin", stored, *attempt)
        times.append(time.thread_time() - started)
    return statistics.median(times)


def test_a_wrong_user_name_costs_what_a_wrong_password_costs() -> None:
    stored = auth.hash_password(ADMIN_PASSWORD)
    assert auth.credentials_match("admin", stored, "admin", ADMIN_PASSWORD)
    wrong_password = median_time(("admin", "guess"), stored)
    wrong_user = median_time(("root", ADMIN_PASSWORD), stored)
    no_hash_set = median_time(("admin", ADMIN_PASSWORD), None)
    # scrypt is tens of milliseconds and a name comparison microseconds: skipping the
    # hash for a wrong name would be a hundred times quicker, not a little.
    assert wrong_user > wrong_password / 2, (wrong_user, wrong_password)
    assert no_hash_set > wrong_password / 2, (no_hash_set, wrong_password)
