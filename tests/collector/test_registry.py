"""Wrapped crontab lines from a heartbeat become job rows before their first report,
on both backends, with an injected clock: next expected at once, late if the run never
comes, a report's fields winning, rows written only when the list changed, and a line
taken out of the crontab marked (its row and runs kept) instead of going late."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcron.collector.db import tables
from smartcron.collector.heartbeats import Heartbeat, store_heartbeat
from smartcron.collector.ingest import ingest_reports
from smartcron.collector.registry import crontab_listing
from smartcron.collector.state_store import evaluate_due
from smartcron.wrapper.schema import RunReport
from sqlalchemy import Engine, select, update

from tests.support.service import make_report

T0 = dt.datetime(2030, 6, 10, 9, 0, 0)  # the first heartbeat, naive UTC
HOST = "web7"


def listed(name: str, **fields: Any) -> dict[str, Any]:
    """A jobs entry as agent/discover.py's CronJob writes it."""
    return {
        "name": name, "schedule": "0 2 * * *", "timezone": "Europe/Berlin",
        "command": f"/usr/local/bin/{name}", "user": "root", "source": "/etc/cron.d/ops",
        "line": 1, "wrapped": True, "text": "...", "priority": None, "tags": None,
    } | fields  # fmt: skip


def beat(engine: Engine, jobs: list[dict[str, Any]] | None, at: dt.datetime) -> None:
    body: dict[str, Any] = {"host": HOST, "timezone": "America/New_York"}
    if jobs is not None:
        body["jobs"] = jobs
    store_heartbeat(engine, Heartbeat.model_validate(body), now=at)


def rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(select(tables.jobs).where(tables.jobs.c.host == HOST))
        return {row["job"]: dict(row) for row in found.mappings()}


def test_a_wrapped_line_is_a_job_with_its_next_run_before_it_reports(engine: Engine) -> None:
    plain = listed("cleanup", wrapped=False)
    beat(engine, [listed("nightly", priority=2), plain], T0)
    stored = rows(engine)
    assert list(stored) == ["nightly"]  # a plain line never reports: not a job
    job = stored["nightly"]
    assert (job["schedule"], job["timezone"], job["command"], job["priority"]) == (
        "0 2 * * *", "Europe/Berlin", "/usr/local/bin/nightly", 2,
    )  # fmt: skip
    assert (job["last_run_id"], job["first_seen_at"], job["unlisted_at"]) == (None, T0, None)
    # 02:00 CEST on 11 June is 00:00 UTC: expected then, and late once its grace is over
    # (a daily job's default, 2h24m; no run yet, so no last duration is added).
    assert (job["state"], job["state_reason"]) == ("healthy", "no run reported yet")
    assert job["next_expected_at"] == dt.datetime(2030, 6, 11, 0, 0)
    assert evaluate_due(engine, dt.datetime(2030, 6, 11, 2, 23, 59)) == 0
    assert evaluate_due(engine, dt.datetime(2030, 6, 11, 2, 24)) == 1
    late = rows(engine)["nightly"]
    assert late["state"] == "late" and late["state_reason"].startswith("never ran; one was due")
    assert late["missed_at"] == dt.datetime(2030, 6, 11, 0, 0)


def test_a_line_without_a_zone_is_read_in_the_hosts_and_reboot_owes_nothing(
    engine: Engine,
) -> None:
    beat(engine, [listed("hourly", timezone=None, schedule="@hourly"),
                  listed("at-boot", schedule="@reboot")], T0)  # fmt: skip
    stored = rows(engine)
    assert stored["hourly"]["timezone"] == "America/New_York"  # the heartbeat's zone
    assert stored["hourly"]["next_expected_at"] == dt.datetime(2030, 6, 10, 10, 0)
    assert stored["at-boot"]["schedule"] is None
    assert stored["at-boot"]["next_expected_at"] is None


def test_rows_are_written_only_when_the_list_changed(engine: Engine) -> None:
    jobs = [listed("nightly")]
    beat(engine, jobs, T0)
    with engine.begin() as connection:
        connection.execute(update(tables.jobs).values(command="changed since"))
    # The same list again (an agent that lost its memory of what it sent), and a
    # heartbeat without one: neither touches the row.
    beat(engine, jobs, T0 + dt.timedelta(minutes=1))
    beat(engine, None, T0 + dt.timedelta(minutes=2))
    assert rows(engine)["nightly"]["command"] == "changed since"
    # A changed list: a row no report has reached follows the crontab.
    beat(engine, [listed("nightly", schedule="30 3 * * *")], T0 + dt.timedelta(minutes=3))
    job = rows(engine)["nightly"]
    assert (job["schedule"], job["command"]) == ("30 3 * * *", "/usr/local/bin/nightly")
    assert job["next_expected_at"] == dt.datetime(2030, 6, 11, 1, 30)


def test_a_reports_fields_win_over_the_crontabs(engine: Engine) -> None:
    beat(engine, [listed("nightly", priority=2)], T0)
    ran = dt.datetime(2030, 6, 11, 0, 0, 1, tzinfo=dt.timezone.utc)
    document = make_report("nightly", host=HOST, started=ran, schedule="0 2 * * *")
    document["timezone"] = "Europe/Berlin"
    ingest_reports(
        engine, [RunReport.model_validate(document)], received_at=ran.replace(tzinfo=None)
    )
    reported = rows(engine)["nightly"]
    assert reported["command"] == "php /srv/nightly.php" and reported["priority"] == 5
    assert reported["first_seen_at"] == T0  # the row the registration made, moved on
    beat(engine, [listed("nightly", schedule="*/5 * * * *", priority=1)], T0 + dt.timedelta(days=1))
    kept = rows(engine)["nightly"]
    assert (kept["schedule"], kept["command"], kept["priority"]) == (
        "0 2 * * *", "php /srv/nightly.php", 5,
    )  # fmt: skip


def test_a_line_taken_out_is_marked_kept_and_not_late_until_listed_again(
    engine: Engine,
) -> None:
    beat(engine, [listed("nightly"), listed("weekly", schedule="0 4 * * 0")], T0)
    gone_at = T0 + dt.timedelta(hours=1)
    beat(engine, [listed("weekly", schedule="0 4 * * 0")], gone_at)
    job = rows(engine)["nightly"]
    assert job["unlisted_at"] == gone_at
    assert (job["next_expected_at"], job["late_after_at"], job["review_at"]) == (None, None, None)
    assert "not in the host's crontabs since" in job["state_reason"]
    assert evaluate_due(engine, dt.datetime(2030, 6, 12)) == 0
    assert rows(engine)["nightly"]["state"] == "healthy"
    # Back in the crontab: expected again, from when it was first seen.
    beat(engine, [listed("nightly"), listed("weekly", schedule="0 4 * * 0")],
         dt.datetime(2030, 6, 12, 1))  # fmt: skip
    back = rows(engine)["nightly"]
    assert back["unlisted_at"] is None and back["state"] == "late"


def test_a_run_after_the_line_left_the_list_makes_it_expected_again(engine: Engine) -> None:
    beat(engine, [listed("nightly")], T0)
    beat(engine, [], T0 + dt.timedelta(minutes=1))
    assert rows(engine)["nightly"]["unlisted_at"] is not None
    # It still runs (its line moved to a crontab this agent cannot read): expected again.
    ran = dt.datetime(2030, 6, 11, 0, 0, 1, tzinfo=dt.timezone.utc)
    document = make_report("nightly", host=HOST, started=ran, schedule="0 2 * * *")
    ingest_reports(
        engine, [RunReport.model_validate(document)], received_at=ran.replace(tzinfo=None)
    )
    assert rows(engine)["nightly"]["next_expected_at"] == dt.datetime(2030, 6, 11, 2, 0)


def test_a_lines_alert_options_are_the_jobs_until_it_reports(engine: Engine) -> None:
    expect = {"grace_s": 600.0, "min_duration_s": 1.0, "max_duration_s": 60.0,
              "alert_after": 2}  # fmt: skip
    odd = {"grace_s": 0, "alert_after": 2}  # a grace of 0: the wrapper refuses the line
    beat(engine, [listed("patient", expect=expect), listed("odd", expect=odd),
                  listed("plain")], T0)  # fmt: skip
    stored = rows(engine)
    columns = ("grace_s", "min_duration_s", "max_duration_s", "alert_after")
    assert tuple(stored["patient"][name] for name in columns) == (600.0, 1.0, 60.0, 2)
    assert tuple(stored["odd"][name] for name in columns) == (None, None, None, 3)
    assert tuple(stored["plain"][name] for name in columns) == (None, None, None, 3)
    # Never run: late after the line's 10 minutes, not the default 2h24m.
    assert stored["patient"]["late_after_at"] == dt.datetime(2030, 6, 11, 0, 10)
    assert stored["plain"]["late_after_at"] == dt.datetime(2030, 6, 11, 2, 24)

    beat(engine, [listed("patient", expect={"grace_s": 1200.0})], T0 + dt.timedelta(hours=1))
    assert rows(engine)["patient"]["grace_s"] == 1200.0, "unreported: it follows the line"
    ran = dt.datetime(2030, 6, 11, 0, 0, 1, tzinfo=dt.timezone.utc)
    document = make_report("patient", host=HOST, started=ran, schedule="0 2 * * *")
    document |= {"timezone": "Europe/Berlin", "expect": {"alert_after": 4}}
    ingest_reports(
        engine, [RunReport.model_validate(document)], received_at=ran.replace(tzinfo=None)
    )
    beat(engine, [listed("patient", expect=expect)], T0 + dt.timedelta(days=1))
    reported = rows(engine)["patient"]
    assert (reported["grace_s"], reported["alert_after"]) == (None, 4), "the report's win"


def test_entries_that_are_not_job_lines_are_skipped_not_fatal(engine: Engine) -> None:
    beat(engine, [{"name": "../etc"}, {"wrapped": True}, listed("x" * 101), listed("fine")], T0)
    assert list(rows(engine)) == ["fine"]


def test_the_hosts_page_lists_plain_lines_as_not_wrapped_yet() -> None:
    health = {"jobs": [listed("a"), listed("b", wrapped=False), {"wrapped": "yes"}, "junk"]}
    assert crontab_listing(health) == {"wrapped": 1, "not_wrapped": ["b", "?"]}
    assert crontab_listing({"jobs": None}) is None and crontab_listing(None) is None
