"""Alert delivery against a real SMTP server and a real webhook receiver on loopback, on
SQLite and MariaDB, with an injected clock: what each channel receives for opened,
resolved, reminder, a storm (one digest), the daily summary; a channel down for ten
minutes; a restart between a failure and its retry; two replicas sending each once."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from smartcron.collector import alert_centre
from smartcron.collector.alerting import dispatch
from smartcron.collector.alerting.channel_health import channel_health
from smartcron.collector.alerting.config import ChannelConfig, DeliveryConfig, SummaryConfig
from smartcron.collector.alerting.delivery import Delivery, run_delivery_pass
from smartcron.collector.db import tables
from smartcron.collector.db.engine import create_db_engine
from sqlalchemy import Engine, func, select, update

from tests.support.collector_api import insert_run_rows
from tests.support.outbox import open_alerts, resolve_alert
from tests.support.receivers import MailReceiver, WebhookReceiver

T0 = dt.datetime(2026, 3, 2, 9, 0, 0)
PASS = dt.timedelta(seconds=30)


def config_for(hook: WebhookReceiver, mail: MailReceiver, **extra: Any) -> DeliveryConfig:
    channels = {
        "hook": ChannelConfig(kind="webhook", url=hook.url),
        "mail": ChannelConfig(url=mail.url()),
    }
    return DeliveryConfig(channels=channels, url="https://cron.example.com", **extra)


def open_alert(engine: Engine, now: dt.datetime, *, job: str = "backup", **fields: str) -> int:
    (alert_id,) = open_alerts(engine, now, job, **fields)
    return alert_id


def attempts(engine: Engine, channel: str) -> list[Any]:
    a = tables.delivery_attempts.c
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(a.ok, a.kind, a.deliveries, a.error)
                .where(a.channel == channel)
                .order_by(a.id)
            )
        )


def test_opened_and_resolved_reach_every_channel_once(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    delivery = Delivery(config_for(hook, mail))
    alert_id = open_alert(engine, T0, severity="high")
    run_delivery_pass(engine, delivery, T0)
    run_delivery_pass(engine, delivery, T0 + PASS)  # nothing new: nothing sent again
    assert hook.bodies == [{
        "event": "opened",
        "alert": {
            "id": alert_id, "rule": "failed", "job": "backup", "host": "web1",
            "severity": "high", "summary": "backup failed", "instant": "2026-03-02T09:00:00Z",
            "opened_at": "2026-03-02T09:00:00Z", "resolved_at": None,
            "url": f"https://cron.example.com/alerts?id={alert_id}",
        },
    }]  # fmt: skip
    assert mail.subjects() == ["[high] failed: backup on web1"]
    assert mail.recipients == [["ops@example.com"]]
    resolve_alert(engine, alert_id, T0 + 2 * PASS)
    run_delivery_pass(engine, delivery, T0 + 2 * PASS)
    assert hook.events() == ["opened", "resolved"]
    assert hook.bodies[1]["alert"]["resolved_at"] == "2026-03-02T09:01:00Z"
    assert mail.subjects()[1] == "[high] RESOLVED failed: backup on web1"
    assert [(row.ok, row.kind) for row in attempts(engine, "hook")] == [(True, "alert")] * 2


def test_a_storm_is_one_message_per_channel(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    """A failing database: 212 jobs fail at once, and each channel gets one digest."""
    delivery = Delivery(config_for(hook, mail))
    ids = [open_alert(engine, T0, job=f"job{i:03}") for i in range(212)]
    run_delivery_pass(engine, delivery, T0)
    assert hook.events() == ["digest"]
    assert sorted(hook.alert_ids()) == sorted(ids)
    assert {a["event"] for a in hook.bodies[0]["alerts"]} == {"opened"}
    assert mail.subjects() == ["smartcron: 212 alert(s)"]
    assert [(row.kind, row.deliveries) for row in attempts(engine, "mail")] == [("digest", 212)]
    run_delivery_pass(engine, delivery, T0 + PASS)
    assert len(hook.bodies) == 1 and len(mail.messages) == 1


def test_a_storm_larger_than_a_claim_goes_out_in_the_same_pass(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatch, "CLAIM_BATCH", 50)
    delivery = Delivery(config_for(hook, mail))
    ids = open_alerts(engine, T0, *[f"job{i:03}" for i in range(120)])
    run_delivery_pass(engine, delivery, T0)
    assert hook.events() == ["digest"] * 3
    assert [len(body["alerts"]) for body in hook.bodies] == [50, 50, 20]
    assert hook.alert_ids() == ids
    assert mail.subjects() == ["smartcron: 50 alert(s)"] * 2 + ["smartcron: 20 alert(s)"]


def test_the_rate_limit_holds_alerts_back_then_sends_them_as_one(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    config = config_for(hook, mail)
    limited = config.channels["hook"].model_copy(update={"rate_limit": 2, "rate_window": 600.0})
    delivery = Delivery(config.model_copy(update={"channels": {"hook": limited}}))
    now = T0
    first = [open_alert(engine, now, job=f"a{i}") for i in range(2)]
    run_delivery_pass(engine, delivery, now)
    assert hook.events() == ["opened", "opened"]
    later = [open_alert(engine, now + PASS, job=f"b{i}") for i in range(3)]
    for step in range(1, 22):  # the window is spent until 600 s after the first sends
        now = T0 + step * PASS
        run_delivery_pass(engine, delivery, now)
        assert len(hook.bodies) == (2 if now < T0 + dt.timedelta(seconds=600) else 3), now
    assert hook.events() == ["opened", "opened", "digest"]
    assert hook.alert_ids() == first + later


def test_reminders_for_open_unacknowledged_critical_alerts(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    delivery = Delivery(config_for(hook, mail, reminder_interval=3600.0))
    critical = open_alert(engine, T0, job="pay", severity="critical")
    acked = open_alert(engine, T0, job="ack", severity="critical")
    open_alert(engine, T0, job="minor", severity="high")
    run_delivery_pass(engine, delivery, T0)
    with engine.begin() as connection:
        connection.execute(
            update(tables.alerts).where(tables.alerts.c.id == acked)
            .values(acknowledged_at=T0, acknowledged_by="admin")
        )  # fmt: skip
    now = T0
    while now < T0 + dt.timedelta(hours=2, minutes=30):
        now += dt.timedelta(minutes=5)
        run_delivery_pass(engine, delivery, now)
    reminders = [body for body in hook.bodies if body["event"] == "reminder"]
    assert [body["alert"]["id"] for body in reminders] == [critical, critical]
    assert mail.subjects().count("[critical] STILL OPEN failed: pay on web1") == 2
    resolve_alert(engine, critical, now)
    for _ in range(30):
        now += dt.timedelta(minutes=5)
        run_delivery_pass(engine, delivery, now)
    assert hook.events().count("reminder") == 2  # resolved: no more
    assert hook.events()[-1] == "resolved"


def test_a_channel_down_for_ten_minutes_gets_every_alert_once_back(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    delivery = Delivery(config_for(hook, mail, digest_threshold=50))
    hook.refusing = True
    now = T0
    sent = []
    for step in range(20):  # ten minutes of 30-second passes, a new alert every minute
        now = T0 + step * PASS
        if step % 2 == 0:
            sent.append(open_alert(engine, now, job=f"job{step:02}"))
        run_delivery_pass(engine, delivery, now)
    assert hook.bodies == [] and hook.refused > 0
    health = {h.name: h for h in channel_health(engine, delivery.config)}
    assert health["hook"].failing and health["hook"].pending == len(sent)
    assert health["hook"].last_error is not None and "503" in health["hook"].last_error
    assert not health["mail"].failing
    # the failing channel raised channel_failing, and it went to the other channel
    assert [s for s in mail.subjects() if "channel_failing" in s] == [
        "[high] channel_failing: hook"
    ]
    assert all(not row.ok for row in attempts(engine, "hook"))
    hook.refusing = False
    for _ in range(25):  # the backoff is at most ten minutes
        now += PASS
        run_delivery_pass(engine, delivery, now)
    assert sorted(hook.alert_ids()) == sorted(sent)
    assert len(hook.alert_ids()) == len(set(hook.alert_ids()))  # each once
    assert not {h.name: h for h in channel_health(engine, delivery.config)}["hook"].failing
    assert any("RESOLVED channel_failing: hook" in s for s in mail.subjects())
    # channel_failing of hook never went to hook itself
    assert all(body.get("alert", {}).get("rule") != "channel_failing" for body in hook.bodies)


def test_a_restart_between_failure_and_retry_still_delivers(
    engine: Engine, db_url: str, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    config = config_for(hook, mail)
    alert_id = open_alert(engine, T0)
    hook.refusing = True
    first = create_db_engine(db_url)
    run_delivery_pass(first, Delivery(config), T0)
    first.dispose()  # the collector stops: nothing of it but the database is left
    hook.refusing = False
    again = create_db_engine(db_url)
    delivery = Delivery(config)  # a new process's senders
    run_delivery_pass(again, delivery, T0 + dt.timedelta(seconds=10))  # not due yet
    assert hook.bodies == []
    run_delivery_pass(again, delivery, T0 + dt.timedelta(seconds=40))
    again.dispose()
    assert hook.alert_ids() == [alert_id]
    assert [row.ok for row in attempts(engine, "hook")] == [False, True]
    assert len(mail.messages) == 1


def test_two_replicas_send_each_delivery_once(
    mysql_engine: Engine, hook: WebhookReceiver, mail: MailReceiver, clear_tables: Any
) -> None:
    """Two replicas (engines of their own, passes at the same moments) on one MariaDB,
    while alerts keep opening: every alert reaches each channel exactly once."""
    clear_tables(mysql_engine)
    config = config_for(hook, mail, digest_threshold=1000)
    url = mysql_engine.url.render_as_string(hide_password=False)
    replicas = [create_db_engine(url) for _ in range(2)]
    deliveries = [Delivery(config) for _ in replicas]
    opened: list[int] = []
    with ThreadPoolExecutor(2) as pool:
        for round_ in range(6):
            now = T0 + round_ * PASS
            opened += [open_alert(mysql_engine, now, job=f"r{round_}-{i}") for i in range(15)]
            start = threading.Barrier(2)

            def run(index: int, now: dt.datetime = now, start: threading.Barrier = start) -> None:
                start.wait()
                run_delivery_pass(replicas[index], deliveries[index], now)

            for future in [pool.submit(run, i) for i in range(2)]:
                future.result(timeout=120)  # re-raises a replica's error here
    for replica in replicas:
        replica.dispose()
    assert sorted(hook.alert_ids()) == sorted(opened)
    mailed = sum(int(s.split()[1]) if s.startswith("smartcron:") else 1 for s in mail.subjects())
    assert mailed == len(opened)
    d = tables.deliveries.c
    with mysql_engine.connect() as connection:
        statuses = connection.execute(select(d.status, func.count()).group_by(d.status)).all()
    assert dict(statuses) == {"sent": 2 * len(opened)}


def insert_run(
    engine: Engine, job: str, started: dt.datetime, duration: float, status: str = "success"
) -> None:
    with engine.begin() as connection:
        insert_run_rows(
            connection,
            [
                dict(
                    run_id=str(uuid.uuid4()),
                    job=job,
                    host="web1",
                    run_user="deploy",
                    command=f"/srv/{job}",
                    schedule="0 * * * *",
                    priority=5,
                    tags="",
                    run_trigger="cron",
                    status=status,
                    exit_code=0 if status == "success" else 1,
                    started_at=started,
                    finished_at=started + dt.timedelta(seconds=duration),
                    duration_s=duration,
                    attempt_count=1,
                    output_bytes=0,
                    output_truncated=False,
                    breaker_state="closed",
                    wrapper_version="0.2.0",
                    received_at=started,
                )
            ],
        )


def test_the_daily_summary_is_sent_once_at_its_time(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    summary = SummaryConfig(time="08:00", zone="Europe/Berlin", channels=["mail", "hook"])
    delivery = Delivery(config_for(hook, mail, summary=summary))
    day = dt.datetime(2026, 3, 2)  # 08:00 in Berlin is 07:00 UTC
    for hours_ago in range(1, 23):
        insert_run(engine, "report", day + dt.timedelta(hours=7 - hours_ago), 2.0)
    for days_ago in range(2, 7):  # the week before: report took 10 s
        insert_run(engine, "report", day - dt.timedelta(days=days_ago), 10.0)
    insert_run(engine, "etl", day + dt.timedelta(hours=5), 300.0)
    insert_run(engine, "etl", day + dt.timedelta(hours=6), 60.0, status="failed")
    missed = open_alert(engine, day + dt.timedelta(hours=3), job="nightly", rule="missed")
    run_delivery_pass(engine, delivery, day + dt.timedelta(hours=6, minutes=59))
    assert all(body["event"] != "digest" for body in hook.bodies)  # not yet 08:00 in Berlin
    for minutes in (0, 1, 30, 600):
        run_delivery_pass(engine, delivery, day + dt.timedelta(hours=7, minutes=minutes))
    digests = [body for body in hook.bodies if body["event"] == "digest"]
    assert len(digests) == 1
    figures = digests[0]["summary"]
    assert (figures["day"], figures["runs"], figures["failures"], figures["missed"]) == (
        "2026-03-02", 24, 1, 1)  # fmt: skip
    assert [row["job"] for row in figures["slowest"]] == ["etl", "report"]
    assert figures["most_improved"] == [
        {"job": "report", "host": "web1", "before_s": 10.0, "now_s": 2.0, "faster_pct": 80.0}
    ]
    assert [alert["id"] for alert in digests[0]["alerts"]] == [missed]
    subjects = [s for s in mail.subjects() if "daily summary" in s]
    assert subjects == ["smartcron daily summary 2026-03-02: 24 runs, 1 failures, 1 missed"]
    html = mail.html_of(mail.subjects().index(subjects[0]))
    assert '<td id="runs">24</td>' in html and "80.0 %" in html and "nightly" in html
    # the next day's comes the next day
    run_delivery_pass(engine, delivery, day + dt.timedelta(days=1, hours=7, minutes=1))
    assert len([b for b in hook.bodies if b["event"] == "digest"]) == 2


def channel_failing_alerts(engine: Engine) -> list[Any]:
    a = tables.alerts.c
    with engine.connect() as connection:
        query = select(a.id, a.instant, a.resolved_by).where(a.rule == "channel_failing")
        return list(connection.execute(query.order_by(a.id)))


def test_channel_failing_resolved_by_hand_stays_resolved_until_a_new_streak(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    delivery = Delivery(config_for(hook, mail, digest_threshold=50))
    now = T0

    def passes(count: int) -> None:
        nonlocal now
        for step in range(count):
            now += PASS
            if step % 4 == 0:  # something for the channel to send (and fail to)
                open_alert(engine, now, job=f"job-{uuid.uuid4().hex[:8]}")
            run_delivery_pass(engine, delivery, now)

    hook.refusing = True
    passes(10)
    (first,) = channel_failing_alerts(engine)
    a = tables.delivery_attempts.c
    with engine.connect() as connection:
        streak_start = connection.execute(select(func.min(a.at)).where(a.channel == "hook"))
        assert first.instant == streak_start.scalar_one()  # the streak's first failure
    alert_centre.resolve(engine, first.id, "ops")
    passes(6)  # still failing: the streak is the alert resolved by hand
    assert [row.id for row in channel_failing_alerts(engine)] == [first.id]

    hook.refusing = False
    passes(22)  # the backoff is at most ten minutes: the channel works again
    assert not {h.name: h for h in channel_health(engine, delivery.config)}["hook"].failing
    hook.refusing = True
    passes(10)  # a new streak: a new alert
    alerts = channel_failing_alerts(engine)
    assert len(alerts) == 2 and alerts[1].instant > first.instant and alerts[1].resolved_by is None
    e = tables.alert_events.c
    with engine.connect() as connection:
        told = connection.execute(select(e.alert_id, e.event).where(
            e.alert_id.in_([row.id for row in alerts])).order_by(e.id)).all()  # fmt: skip
    # opened, resolved by hand (its notice), and the new streak's opened
    assert [tuple(row) for row in told] == [
        (first.id, "opened"),
        (first.id, "resolved"),
        (alerts[1].id, "opened"),
    ]


def ticks_until(tick: Any, since: dt.datetime, until: dt.datetime) -> None:
    """The ticks a loop would have run in (since, until), 30 s apart: a longer gap
    reads as the collector's own outage (engine.DOWN_AFTER), and a lease outlives it."""
    at = since + PASS
    while at < until:
        assert tick(at).alerts is not None
        at += PASS


def test_the_tick_delivers_a_missed_run_in_the_tick_that_found_it(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    """evaluation -> alert pass -> delivery, in one tick at an injected moment: the tick
    at which the job's grace has ended marks it late, opens its alert and sends it."""
    from smartcron.collector.alerting.loop import CollectorTick

    from tests.support.alerts import job_row, store_run

    store_run(engine, "hourly", T0, schedule="0 * * * *")
    tick = CollectorTick(engine, 1, deliver=Delivery(config_for(hook, mail)).run_pass)
    tick(T0 + dt.timedelta(minutes=1))
    late_at = job_row(engine, "hourly")["late_after_at"]
    ticks_until(tick, T0 + dt.timedelta(minutes=1), late_at - dt.timedelta(seconds=1))
    before = tick(late_at - dt.timedelta(seconds=1))
    assert before.alerts is not None and before.alerts.opened == 0 and hook.bodies == []

    found = tick(late_at + dt.timedelta(seconds=1))
    assert found.evaluated and job_row(engine, "hourly")["state"] == "late"
    assert found.alerts is not None and found.alerts.opened == 1
    assert hook.events() == ["opened"], "delivered by the same tick"
    assert hook.bodies[0]["alert"]["rule"] == "missed"
    assert mail.subjects() and "hourly" in mail.subjects()[0]
    assert tick(late_at + dt.timedelta(seconds=31)).alerts.opened == 0  # type: ignore[union-attr]
    assert hook.events() == ["opened"], "sent once"


def test_the_tick_of_a_replica_without_the_lease_evaluates_but_neither_alerts_nor_sends(
    engine: Engine, hook: WebhookReceiver, mail: MailReceiver
) -> None:
    from smartcron.collector.alerting.loop import CollectorTick

    from tests.support.alerts import job_row, store_run

    store_run(engine, "hourly", T0, schedule="0 * * * *")
    config = config_for(hook, mail)
    ticks = [CollectorTick(engine, 1, deliver=Delivery(config).run_pass) for _ in range(2)]
    assert ticks[0](T0 + dt.timedelta(minutes=1)).alerts is not None, "the first takes the lease"
    late_at = job_row(engine, "hourly")["late_after_at"]
    ticks_until(ticks[0], T0 + dt.timedelta(minutes=1), late_at - dt.timedelta(seconds=1))
    other = ticks[1](late_at + dt.timedelta(seconds=1))
    assert other.evaluated and job_row(engine, "hourly")["state"] == "late", "states: every one"
    assert other.alerts is None and other.delivered is None and hook.bodies == []
    holder = ticks[0](late_at + dt.timedelta(seconds=2))
    assert holder.alerts is not None and holder.alerts.opened == 1
    assert hook.events() == ["opened"]
    assert ticks[0].release()
    assert ticks[1](late_at + dt.timedelta(seconds=40)).alerts is not None, "released: taken"
    assert hook.events() == ["opened"], "sent once by the two"
