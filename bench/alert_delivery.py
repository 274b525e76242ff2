"""Alert delivery's latency with the real collector (issue 11's third figure; bench/alerts.py
runs it, and it runs alone too): from the moment an alert is opened
(its 'opened' event committed, as the engine commits it when a missed slot's grace
ends) to the webhook receiving it, median and max of --samples (20).

A real `smartcron-collector serve --config` on MariaDB, with a webhook channel pointing
at a ThreadingHTTPServer in this process; each sample commits one alert and its event
at a random moment of the evaluation interval and waits for the webhook. The delivery
pass runs after each evaluation pass (--evaluate-every, serve's default 15 s), so the
figure is bounded by that interval, which is printed as the peer. With the alert
engine in the loop, detection of a missed run happens in that same pass, right before
delivery: the whole "grace ended → webhook" figure is this one.

    .venv/bin/python bench/alert_delivery.py      # about 12 minutes at the default 30 s
    .venv/bin/python bench/alert_delivery.py --evaluate-every 2 --samples 15
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.collector_support import Server, collector_cli, own_database, print_table, serve
from bench.table import BenchError, Row

# Not smartcron_bench_alerts: the alert engine's figures in this file may run beside these.
DATABASE = "smartcron_bench_delivery"
TARGET_S = 30.0
STORM_TARGET_S = 5.0  # the storm's evaluation and digest together (issue 11)


class Receiver:
    """The webhook: the monotonic time each alert id arrived."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import json

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.monotonic()
                alerts = [body["alert"]] if "alert" in body else body.get("alerts", [])
                with receiver.condition:
                    for alert in alerts:
                        receiver.arrived.setdefault(alert["id"], now)
                    receiver.condition.notify_all()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, alert_id: int, limit_s: float) -> float | None:
        deadline = time.monotonic() + limit_s
        with self.condition:
            while alert_id not in self.arrived:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.condition.wait(left)
            return self.arrived[alert_id]


def webhook_config(folder: Path, every: float, url: str) -> Path:
    """serve's config: its tick every `every` s, alerts and delivery in each, one webhook
    channel without a rate limit."""
    config = folder / "smartcron.toml"
    config.write_text(
        f"[collector]\nevaluate_every = {every}\nalert_every = {every}\n"
        f'[collector.channels.hook]\nkind = "webhook"\nurl = "{url}"\nrate_limit = 0\n'
    )
    return config


def open_alert(connection: pymysql.Connection[Any], job: str) -> tuple[int, float]:
    """An alert and its 'opened' event in one transaction; its id and the monotonic time
    of the commit."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO smartcron_alerts (rule, job, host, severity, summary, detail, instant,"
            " opened_at, last_seen_at, repeats, open_key) VALUES ('missed', %s, 'bench', "
            "'critical', %s, %s, %s, %s, %s, 0, 1)",
            (job, f"{job} missed its run", f"{job} missed its run", now, now, now),
        )
        alert_id = cursor.lastrowid
        cursor.execute(
            "INSERT INTO smartcron_alert_events (alert_id, event, created_at) "
            "VALUES (%s, 'opened', %s)",
            (alert_id, now),
        )
    connection.commit()
    return int(alert_id), time.monotonic()


def storm(db_url: str, receiver: Receiver, count: int) -> tuple[float, float, int]:
    """`count` alerts opened at once (a failing database): the seconds to write them and
    their events in two bulk INSERTs (the peer), the seconds of one delivery pass that
    dispatches and digests them to the webhook, and how many messages it took."""
    from smartcron.collector.alerting.config import ChannelConfig, DeliveryConfig
    from smartcron.collector.alerting.delivery import Delivery, run_delivery_pass
    from smartcron.collector.db import tables
    from smartcron.collector.db.engine import create_db_engine
    from sqlalchemy import select

    engine = create_db_engine(db_url)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [
        {"rule": "missed", "job": f"storm{i:05}", "host": "bench", "severity": "high",
         "summary": "missed its run", "detail": "missed its run", "instant": now,
         "opened_at": now, "last_seen_at": now, "repeats": 0, "open_key": 1}
        for i in range(count)
    ]  # fmt: skip
    began = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(tables.alerts.insert(), rows)
        ids = (
            connection.execute(select(tables.alerts.c.id).where(tables.alerts.c.job.like("storm%")))
            .scalars()
            .all()
        )
        connection.execute(
            tables.alert_events.insert(),
            [{"alert_id": i, "event": "opened", "created_at": now} for i in ids],
        )
    written_s = time.perf_counter() - began
    before = len(receiver.arrived)
    hook = ChannelConfig(kind="webhook", url=receiver.url, rate_limit=0, timeout=60)
    delivery = Delivery(DeliveryConfig(channels={"hook": hook}))
    began = time.perf_counter()
    result = run_delivery_pass(engine, delivery, now)
    digested_s = time.perf_counter() - began
    engine.dispose()
    if len(receiver.arrived) - before != count:
        raise BenchError(f"the storm's pass delivered {len(receiver.arrived) - before} of {count}")
    return written_s, digested_s, result.sent.messages


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="alerts timed (20)")
    parser.add_argument("--evaluate-every", type=float, default=15.0,
                        help="serve's --evaluate-every, seconds (15, its default)")  # fmt: skip
    parser.add_argument("--mysql", default="127.0.0.1:3306", help="HOST:PORT, root, no password")
    parser.add_argument("--database", default=DATABASE, help=f"database name ({DATABASE})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--storm", type=int, default=10_000,
                        help="alerts opened at once, digest figure (10000; 0: none)")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    host, _, port = args.mysql.rpartition(":")
    server = Server(host=host or "127.0.0.1", port=int(port))
    rng = random.Random(args.seed)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    receiver = Receiver()
    latencies: list[float] = []
    try:
        with (
            own_database(server, args.database) as database,
            tempfile.TemporaryDirectory(prefix="smartcron-bench-") as tmp,
        ):
            db_url = server.url(database)
            collector_cli("migrate", "--db", db_url)
            config = webhook_config(Path(tmp), args.evaluate_every, receiver.url)
            with serve(db_url, 1, Path(tmp) / "collector.log", "--config", str(config)), \
                    server.connect(database) as connection:  # fmt: skip
                for index in range(args.samples):
                    # A random moment of the pass interval, as a grace ends whenever it does.
                    time.sleep(rng.uniform(0, args.evaluate_every))
                    alert_id, committed = open_alert(connection, f"job{index:03}")
                    arrived = receiver.wait(alert_id, 3 * args.evaluate_every + 30)
                    if arrived is None:
                        log = (Path(tmp) / "collector.log").read_text(errors="replace")
                        raise BenchError(f"alert {alert_id} never reached the webhook; the "
                                         f"collector's log ends:\n{log[-3000:]}")  # fmt: skip
                    latencies.append(arrived - committed)
                    print(f"  sample {index + 1}: {latencies[-1]:.2f} s", flush=True)
            # After serve has stopped: the pass timed is this process's alone.
            stormed = storm(db_url, receiver, args.storm) if args.storm else None
    except BenchError as error:
        print(f"bench/alert_delivery.py: {error}", file=sys.stderr)
        return 1
    finally:
        receiver.server.shutdown()
    median, worst = statistics.median(latencies), max(latencies)
    interval = f"{args.evaluate_every:g} s pass interval"
    rows = [
        Row(f"opened → webhook, median of {len(latencies)}", f"{median:.2f} s", interval,
            f"{median / args.evaluate_every:.2f}", f"≤ {TARGET_S:g} s", median <= TARGET_S),
        Row(f"opened → webhook, max of {len(latencies)}", f"{worst:.2f} s", interval,
            f"{worst / args.evaluate_every:.2f}", f"≤ {TARGET_S:g} s", worst <= TARGET_S),
    ]  # fmt: skip
    if stormed is not None:
        written_s, digested_s, messages = stormed
        rows.append(Row(f"storm of {args.storm:,}: dispatched and digested ({messages} messages)",
                        f"{digested_s:.2f} s", f"{written_s:.2f} s to write them",
                        f"{digested_s / written_s:.1f}", f"≤ {STORM_TARGET_S:g} s with the "
                        "engine's evaluation", digested_s <= STORM_TARGET_S))  # fmt: skip
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
