"""The daily summary: runs, failures, missed runs, the slowest and the most improved jobs
of the last 24 hours, as an HTML mail (templates/mail_summary.html) and, for a webhook,
in the digest form with a "summary" object.

It is due once the configured time has passed in its zone on a day; it is made once and
stored in its deliveries (key summary:DAY, unique per channel: with two replicas the
second insert fails and that replica knows the day's summary is written), then sent as
made, retried like any delivery."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from smartcron.wrapper.schema import FAILED_STATUSES
from sqlalchemy import Engine, and_, case, func, select
from sqlalchemy.exc import IntegrityError

from ..db import tables
from .config import DeliveryConfig, SummaryConfig
from .messages import AlertView, alert_json, iso
from .outbox import PENDING, alert_columns, alert_view

TOP = 5
ALERTS_SHOWN = 100
WINDOW = dt.timedelta(hours=24)
BEFORE = dt.timedelta(days=7)  # "improved" compares the last 24 h with the 7 days before
_env = Environment(loader=PackageLoader("smartcron.collector", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True))  # fmt: skip


def summary_key(day: dt.date) -> str:
    return f"summary:{day.isoformat()}"


def due_day(summary: SummaryConfig, now: dt.datetime) -> dt.date | None:
    """The local day whose summary is due at `now` (naive UTC), if its time has passed."""
    zone = zoneinfo.ZoneInfo(summary.zone)
    local = now.replace(tzinfo=dt.timezone.utc).astimezone(zone)
    at = dt.datetime.combine(local.date(), summary.clock(), tzinfo=zone)
    return local.date() if local >= at else None


def write_summary(engine: Engine, config: DeliveryConfig, now: dt.datetime) -> bool:
    """Make and store today's summary for its channels, if it is due and not made yet."""
    if config.summary is None:
        return False
    day = due_day(config.summary, now)
    if day is None:
        return False
    d = tables.deliveries.c
    key = summary_key(day)
    with engine.connect() as connection:
        if connection.execute(select(d.id).where(d.delivery_key == key).limit(1)).first():
            return False
    payload = json.dumps(summary_message(engine, config, now, day))
    try:
        with engine.begin() as connection:
            connection.execute(
                tables.deliveries.insert(),
                [
                    {
                        "delivery_key": key,
                        "channel": channel,
                        "status": PENDING,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                        "payload": payload,
                    }
                    for channel in config.summary.channels
                ],
            )
    except IntegrityError:
        return False  # another replica wrote it
    return True


def summary_message(
    engine: Engine, config: DeliveryConfig, now: dt.datetime, day: dt.date
) -> dict[str, Any]:
    """{"title", "body" (HTML), "payload" (the webhook's digest form)}."""
    figures = summary_figures(engine, now)
    alerts: list[AlertView] = figures.pop("alert_views")
    title = (
        f"smartcron daily summary {day.isoformat()}: {figures['runs']} runs, "
        f"{figures['failures']} failures, {figures['missed']} missed"
    )
    body = _env.get_template("mail_summary.html").render(
        title=title, day=day, figures=figures, alerts=alerts, url=config.url, iso=iso
    )
    payload = {
        "event": "digest",
        "summary": {"day": day.isoformat()} | figures,
        "alerts": [alert_json(alert, config.url) for alert in alerts],
    }
    return {"title": title, "body": body, "payload": payload}


def summary_figures(engine: Engine, now: dt.datetime) -> dict[str, Any]:
    """The last 24 hours' figures (and the alerts opened in them, as "alert_views")."""
    r, al = tables.runs.c, tables.alerts.c
    since = now - WINDOW
    in_window = and_(r.started_at >= since, r.started_at < now)
    failed = func.sum(case((r.status.in_(FAILED_STATUSES), 1), else_=0))
    with engine.connect() as connection:
        runs, failures = connection.execute(select(func.count(), failed).where(in_window)).one()
        missed = connection.execute(
            select(func.count()).where(
                al.rule == "missed", al.opened_at >= since, al.opened_at < now
            )
        ).scalar_one()
        slowest = connection.execute(
            select(
                r.job, r.host, func.max(r.duration_s).label("longest"), func.count().label("runs")
            )
            .where(in_window, r.duration_s.is_not(None))
            .group_by(r.job, r.host)
            .order_by(func.max(r.duration_s).desc(), r.job, r.host)
            .limit(TOP)
        ).all()
        improved = _most_improved(connection, since, now)
        alert_rows = connection.execute(
            select(*alert_columns())
            .where(al.opened_at >= since, al.opened_at < now)
            .order_by(al.opened_at.desc())
            .limit(ALERTS_SHOWN)
        ).all()
    return {
        "runs": int(runs),
        "failures": int(failures or 0),
        "missed": int(missed),
        "slowest": [
            {"job": row.job, "host": row.host, "longest_s": round(row.longest, 3), "runs": row.runs}
            for row in slowest
        ],
        "most_improved": improved,
        "alert_views": [alert_view(row) for row in alert_rows],
    }


def _most_improved(connection: Any, since: dt.datetime, now: dt.datetime) -> list[dict[str, Any]]:
    """The jobs whose successful runs got fastest: mean duration of the last 24 hours
    against the 7 days before, at least 10 % faster."""
    r = tables.runs.c
    ok = and_(r.status == "success", r.duration_s.is_not(None))
    recent = {
        (row.job, row.host): row.mean
        for row in connection.execute(
            select(r.job, r.host, func.avg(r.duration_s).label("mean"))
            .where(ok, r.started_at >= since, r.started_at < now)
            .group_by(r.job, r.host)
        )
    }
    if not recent:
        return []
    earlier = connection.execute(
        select(r.job, r.host, func.avg(r.duration_s).label("mean"))
        .where(ok, r.started_at >= since - BEFORE, r.started_at < since)
        .group_by(r.job, r.host)
    ).all()
    changes = []
    for row in earlier:
        mean = recent.get((row.job, row.host))
        if mean is None or not row.mean or mean > 0.9 * row.mean:
            continue
        changes.append({
            "job": row.job, "host": row.host, "before_s": round(float(row.mean), 3),
            "now_s": round(float(mean), 3), "faster_pct": round(100 * (1 - mean / row.mean), 1),
        })  # fmt: skip
    changes.sort(key=lambda change: (-change["faster_pct"], change["job"], change["host"]))
    return changes[:TOP]
