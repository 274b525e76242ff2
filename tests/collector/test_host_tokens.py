"""Ingest tokens bound to a host, on the real service over MariaDB and SQLite: a cron
host's token (readable by its wrapper's users) speaks for that host alone. Its reports
for another host are rejected one by one, the rest of the batch stored; its heartbeat
and control pull for another host are 403. A fleet token (no --host, every token before
revision 0018) still reports for every host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from smartcron.collector.db import tables
from sqlalchemy import Engine, select

from tests.support.service import Service, make_report, run_cli, start_collector


def bound_token(service: Service, host: str) -> str:
    return run_cli("create-token", "--db", service.db_url, "--name", host, "--host", host)


def heartbeat(service: Service, token: str, host: str, **fields: Any) -> requests.Response:
    return requests.post(f"{service.url}/api/v1/heartbeat", json={"host": host, **fields},
                         headers=service.headers(token), timeout=30)  # fmt: skip


def control(service: Service, token: str, host: str) -> requests.Response:
    return requests.get(f"{service.url}/api/v1/control", params={"host": host},
                        headers=service.headers(token), timeout=30)  # fmt: skip


def stored(engine: Engine, table: Any, *columns: str) -> set[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(select(*(table.c[name] for name in columns)))
        return {tuple(row) for row in rows}


def test_a_bound_token_stores_its_own_hosts_reports_and_rejects_the_others(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    with start_collector(db_url, tmp_path) as service:
        web7 = bound_token(service, "web7")
        own = service.post_runs([make_report("backup", host="web7")], token=web7)
        assert own.status_code == 200 and own.json()["accepted"] == 1, own.text

        # A mixed batch, a lost run among the forgeries (the agent sends those too),
        # and the host's name in another case: names compare exactly.
        batch = [make_report("sync", host="web7"), make_report("backup", host="db1"),
                 make_report("sync", host="db1", status="lost"), make_report("tidy", host="WEB7"),
                 make_report("tidy", host="web7")]  # fmt: skip
        answer = service.post_runs(batch, token=web7)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["accepted"], body["duplicates"]) == (2, 0)
        assert [(r["index"], r["run_id"]) for r in body["rejected"]] == [
            (index, batch[index]["run_id"]) for index in (1, 2, 3)
        ]
        assert body["rejected"][0]["error"] == (
            "runs[1].host: this token is bound to host 'web7' and may not report for host "
            "'db1'; send with that host's own token"
        )
        assert "host 'WEB7'" in body["rejected"][2]["error"]
        assert stored(engine, tables.runs, "job", "host") == {
            ("backup", "web7"), ("sync", "web7"), ("tidy", "web7")
        }  # fmt: skip

        # A batch of nothing but another host's reports: 422, as any all-rejected batch.
        alone = service.post_runs([make_report("backup", host="db1")], token=web7)
        assert alone.status_code == 422 and "bound to host 'web7'" in alone.json()["error"]


def test_a_bound_tokens_heartbeat_and_control_for_another_host_are_403(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    with start_collector(db_url, tmp_path) as service:
        web7 = bound_token(service, "web7")
        # The jobs found in a host's crontabs register with its heartbeat.
        jobs = [{"name": "backup", "wrapped": True, "schedule": "0 3 * * *", "command": "b"}]
        assert heartbeat(service, web7, "web7", jobs=jobs).status_code == 200
        assert control(service, web7, "web7").json() == {"paused": [], "breaker_resets": {}}
        assert stored(engine, tables.jobs, "job", "host") == {("backup", "web7")}

        # Another host's heartbeat, registering the same jobs there: nothing stored.
        forged = heartbeat(service, web7, "db1", jobs=jobs)
        assert forged.status_code == 403, forged.text
        reason = forged.json()["error"]
        assert "\n" not in reason and "'web7'" in reason and "'db1'" in reason
        assert stored(engine, tables.hosts, "host") == {("web7",)}
        assert stored(engine, tables.jobs, "job", "host") == {("backup", "web7")}

        pulled = control(service, web7, "db1")
        assert pulled.status_code == 403 and "'db1'" in pulled.json()["error"], pulled.text
        assert control(service, web7, "Web7").status_code == 403


def test_a_fleet_token_still_reports_for_every_host(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    with start_collector(db_url, tmp_path) as service:  # its ingest token has no --host
        fleet = service.ingest_token
        answer = service.post_runs([make_report(host="web1"), make_report(host="db1")])
        assert answer.status_code == 200 and answer.json()["accepted"] == 2, answer.text
        for host in ("web1", "db1"):
            assert heartbeat(service, fleet, host).status_code == 200
            assert control(service, fleet, host).status_code == 200
        # An admin token is never bound: it reports for any host, as before.
        assert heartbeat(service, service.admin_token, "db9").status_code == 200
        assert stored(engine, tables.hosts, "host") == {("web1",), ("db1",), ("db9",)}
