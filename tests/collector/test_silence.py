"""One reading of what silences alerts (collector/alerting/silence.py), on both
backends: what the page and the API say silences a (job, host) now is what the engine
silences when it opens an alert there, for every kind of window and scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcron.collector.alerting.silence import Silencer, silences_for
from smartcron.collector.db import tables
from sqlalchemy import Engine, insert, update

from tests.support.alerts import store_run

T0 = dt.datetime(2030, 6, 10, 10, 30, 0)  # a Monday, UTC
HOUR = dt.timedelta(hours=1)

WINDOWS: list[dict[str, Any]] = [
    # one-off, ends in an hour: covers every job of db1
    {"host": "db1", "starts_at": T0 - HOUR, "ends_at": T0 + HOUR, "reason": "disk swap"},
    # one-off with no end: until it is cancelled (the page says "with no end set")
    {"job": "report", "starts_at": T0 - HOUR, "ends_at": None, "reason": "rewrite"},
    # cron-shaped, every day at 10:00 for an hour: in force at 10:30
    {"tag": "etl", "starts_at": T0 - 48 * HOUR, "ends_at": None, "schedule": "0 10 * * *",
     "timezone": "UTC", "duration_s": 3600, "reason": "nightly load"},
    # cron-shaped, at 10:00 in Berlin (08:00 UTC) for an hour: over at 10:30 UTC
    {"host": "web2", "starts_at": T0 - 48 * HOUR, "ends_at": None, "schedule": "0 10 * * *",
     "timezone": "Europe/Berlin", "duration_s": 3600, "reason": "berlin backup"},
    # cancelled, and not yet begun: neither covers anything
    {"host": "web3", "starts_at": T0 - HOUR, "ends_at": T0 + HOUR, "reason": "cancelled",
     "cancelled_at": T0 - HOUR / 2},
    {"host": "web3", "starts_at": T0 + HOUR, "ends_at": T0 + 2 * HOUR, "reason": "later"},
]  # fmt: skip

# (job, host) -> the reasons of the windows that must cover it; '' is a host alert.
EXPECTED = {
    ("backup", "db1"): ["disk swap"],
    ("", "db1"): ["disk swap"],
    ("report", "web1"): ["rewrite"],
    ("load", "web1"): ["nightly load"],  # its last run is tagged etl
    ("", "web1"): [],  # a job or tag window never covers a host alert
    ("sync", "web2"): [],
    ("sync", "web3"): [],
}


def test_the_page_says_what_the_engine_silences(engine: Engine) -> None:
    for job, host in EXPECTED:
        if job:
            store_run(engine, job, T0 - HOUR, host=host, schedule="0 * * * *")
    with engine.begin() as connection:
        connection.execute(update(tables.runs).where(tables.runs.c.job == "load")
                           .values(tags="daily,etl"))  # fmt: skip
        for window in WINDOWS:
            connection.execute(insert(tables.maintenance).values(
                created_by="ops", created_at=T0 - 72 * HOUR, **window))  # fmt: skip
    said = silences_for(engine, list(EXPECTED), T0)
    with engine.connect() as connection:
        silencer = Silencer(connection, T0)
        engine_says = {key: silencer.why(*key) for key in EXPECTED}
    for key, reasons in EXPECTED.items():
        texts = [s.text for s in said.get(key, [])]
        assert [r for r in reasons if any(f"({r})" in t for t in texts)] == reasons, (key, texts)
        assert len(texts) == len(reasons), (key, texts)
        why = engine_says[key]
        if reasons:
            assert why is not None and why.endswith(reasons[0]), (key, why)
        else:
            assert why is None, (key, why)
    (no_end,) = said[("report", "web1")]
    assert no_end.text.endswith("(rewrite) with no end set") and no_end.until is None
    (nightly,) = said[("load", "web1")]
    assert nightly.until == dt.datetime(2030, 6, 10, 11, 0)


def test_a_pause_is_said_and_silences(engine: Engine) -> None:
    store_run(engine, "sync", T0 - HOUR, host="web1", schedule="0 * * * *")
    with engine.begin() as connection:
        connection.execute(update(tables.jobs).where(tables.jobs.c.job == "sync")
                           .values(paused=True, paused_by="ops", paused_at=T0))  # fmt: skip
    (pause,) = silences_for(engine, [("sync", "web1")], T0)[("sync", "web1")]
    assert (
        pause.kind == "paused" and pause.text == "silenced: paused by ops at 2030-06-10 10:30 UTC"
    )
    with engine.connect() as connection:
        assert Silencer(connection, T0).why("sync", "web1", "ops", True) == "job paused by ops"
