"""The heartbeat: the collector's hosts API and page show each host's health."""

from __future__ import annotations

import signal
import time
from typing import Any

from tests.agent.conftest import Agent, page_html
from tests.conftest import StateDir, Wrap
from tests.support.service import Service


def test_heartbeat_stores_health_and_runs_in_flight(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    proc = wrap.popen("--name", "busy", "--timeout", "10m", "--", "sleep", "300")
    deadline = time.monotonic() + 15
    while not any(m.get("child_pid") for m in state.running()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    agent.collector = sqlite_collector
    done = agent("once", "--host", "beat-host")
    assert done.returncode == 0, done.stderr
    hosts = {h["host"]: h for h in sqlite_collector.get("/api/v1/hosts").json()["hosts"]}
    beat = hosts["beat-host"]
    assert beat["last_seen_at"] is not None and beat["agent_version"]
    health = beat["health"]
    assert health["boot_id"] and health["uptime_s"] > 0 and len(health["load"]) == 3
    assert health["disk_free"]["state_dir"] > 0
    assert 0 < health["disk_free_pct"]["state_dir"] <= 100
    assert health["spool"] == {"depth": 0, "oldest_at": None, "rejected": 0}
    [running] = health["running"]
    assert running["job"] == "busy" and running["timeout_s"] == 600.0
    assert health["jobs"] == []  # no crontabs where the scan looks
    page = sqlite_collector.session.get(
        f"{sqlite_collector.url}/hosts",
        headers=sqlite_collector.headers(sqlite_collector.admin_token),
        timeout=30,
    )
    assert page.status_code == 200 and "1 running" in page.text
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)


def test_a_bad_heartbeat_is_one_clear_422(sqlite_collector: Service) -> None:
    answer = sqlite_collector.session.post(
        f"{sqlite_collector.url}/api/v1/heartbeat",
        json={"host": "x", "load": ["high"]},
        headers=sqlite_collector.headers(sqlite_collector.ingest_token),
        timeout=30,
    )
    assert answer.status_code == 422
    assert answer.json()["error"].startswith("load.0")


def _summary(service: Service) -> str:
    return page_html(service, "/")


def test_the_summary_page_shows_a_job_running_now(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    assert wrap("--name", "longjob", "--", "true").returncode == 0
    proc = wrap.popen("--name", "longjob", "--", "sleep", "300")
    deadline = time.monotonic() + 15
    while not any(m.get("child_pid") for m in state.running()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    agent.collector = sqlite_collector
    assert agent("once").returncode == 0  # ships the first run and beats with the second
    assert "running for" in _summary(sqlite_collector)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    assert agent("once").returncode == 0  # the run is over: the next heartbeat says so
    assert "running for" not in _summary(sqlite_collector)


def test_a_heartbeat_too_large_for_the_host_row_is_a_413_and_stores_nothing(
    sqlite_collector: Service,
) -> None:
    jobs = [{"job": f"job{n:04d}", "line": "x" * 200} for n in range(400)]
    answer = sqlite_collector.session.post(
        f"{sqlite_collector.url}/api/v1/heartbeat",
        json={"host": "big", "jobs": jobs},
        headers=sqlite_collector.headers(sqlite_collector.ingest_token),
        timeout=30,
    )
    assert answer.status_code == 413 and "send fewer jobs" in answer.json()["error"]
    hosts = sqlite_collector.get("/api/v1/hosts").json()["hosts"]
    assert "big" not in {h["host"] for h in hosts}


def test_a_heartbeat_without_jobs_keeps_the_jobs_stored(sqlite_collector: Service) -> None:
    def beat(body: dict[str, Any]) -> None:
        answer = sqlite_collector.session.post(
            f"{sqlite_collector.url}/api/v1/heartbeat",
            json={"host": "keeper", **body},
            headers=sqlite_collector.headers(sqlite_collector.ingest_token),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

    def stored() -> object:
        hosts = {h["host"]: h for h in sqlite_collector.get("/api/v1/hosts").json()["hosts"]}
        return hosts["keeper"]["health"]["jobs"]

    beat({"jobs": [{"job": "a"}]})
    beat({"load": [1.0, 1.0, 1.0]})
    assert stored() == [{"job": "a"}]
    beat({"jobs": []})
    assert stored() == []


def test_the_jobs_found_in_crontabs_are_sent_only_when_they_changed(
    agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    (agent.cron / "cron.d").mkdir(parents=True)
    (agent.cron / "crontabs").mkdir()
    system = agent.cron / "crontab"
    system.write_text("*/5 * * * *  root  /usr/local/bin/sync-stock\n")
    agent.collector = sqlite_collector

    def stored_jobs() -> list[str]:
        hosts = {h["host"]: h for h in sqlite_collector.get("/api/v1/hosts").json()["hosts"]}
        return [job["schedule"] + " " + job["command"] for job in hosts["scan"]["health"]["jobs"]]

    assert agent("once", "--host", "scan").returncode == 0
    assert stored_jobs() == ["*/5 * * * * /usr/local/bin/sync-stock"]
    # Another sender's heartbeat for the host empties the stored list; an agent that
    # sent the unchanged list again would fill it back.
    answer = sqlite_collector.session.post(
        f"{sqlite_collector.url}/api/v1/heartbeat",
        json={"host": "scan", "jobs": []},
        headers=sqlite_collector.headers(sqlite_collector.ingest_token),
        timeout=30,
    )
    assert answer.status_code == 200
    assert agent("once", "--host", "scan").returncode == 0
    assert stored_jobs() == []
    system.write_text("0 3 * * *  root  /usr/local/bin/nightly\n")
    assert agent("once", "--host", "scan").returncode == 0
    assert stored_jobs() == ["0 3 * * * /usr/local/bin/nightly"]


def test_a_late_job_the_heartbeat_lists_is_running_not_late(sqlite_collector: Service) -> None:
    import datetime as dt

    from tests.support.service import iso, make_report

    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    answer = sqlite_collector.post_runs(
        [make_report("slowjob", host="late-host", schedule="*/5 * * * *", started=started)]
    )
    assert answer.status_code == 200, answer.text

    def state() -> str:
        jobs = sqlite_collector.get("/api/v1/jobs").json()["jobs"]
        [job] = [j for j in jobs if j["job"] == "slowjob"]
        return str(job["state"])

    def beat(running: list[dict[str, Any]]) -> None:
        answer = sqlite_collector.session.post(
            f"{sqlite_collector.url}/api/v1/heartbeat",
            json={"host": "late-host", "running": running},
            headers=sqlite_collector.headers(sqlite_collector.ingest_token),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

    assert state() == "late"
    since = iso(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=20))
    beat([{"job": "slowjob", "pid": 4242, "started_at": since}])
    assert state() == "running"
    beat([])
    assert state() == "late"
