"""Shipping the spool: the real wrapper spools, the installed agent ships to a real collector."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from tests.agent.conftest import Agent, spool_names, stored_runs
from tests.conftest import StateDir, Wrap
from tests.support.service import Service, make_report


def test_spooled_runs_ship_exactly_once_and_leave_the_spool(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    for n in range(5):
        assert wrap("--name", f"job{n % 2}", "--", "true").returncode == 0
    ids = {r["run_id"] for r in state.reports()}
    assert len(ids) == 5
    agent.collector = sqlite_collector
    done = agent("once", "--batch-size", "2")  # three POSTs
    assert done.returncode == 0, done.stderr
    assert spool_names(state) == set()
    assert {r["run_id"] for r in stored_runs(sqlite_collector)} == ids
    again = agent("once")
    assert again.returncode == 0, again.stderr
    assert len(stored_runs(sqlite_collector)) == 5


def test_a_report_sent_again_is_a_duplicate_and_is_deleted(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service, tmp_path
) -> None:
    assert wrap("--name", "dup", "--", "true").returncode == 0
    [spooled] = state.spool_files()
    copy = tmp_path / "copy.json"
    shutil.copy(spooled, copy)
    agent.collector = sqlite_collector
    assert agent("once").returncode == 0
    shutil.copy(copy, spooled)  # as after an agent killed between POST and delete
    assert agent("once").returncode == 0
    assert spool_names(state) == set()
    assert len(stored_runs(sqlite_collector)) == 1


def test_a_rejected_report_moves_aside_with_its_reason_and_the_rest_ships(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    for _ in range(3):
        assert wrap("--name", "good", "--", "true").returncode == 0
    good = {r["run_id"] for r in state.reports()}
    bad = make_report("bad", host="h")
    bad["status"] = "exploded"  # no such status: the collector refuses it
    (state.path / "spool" / f"{bad['run_id']}.json").write_text(json.dumps(bad))
    not_json = state.path / "spool" / "0b8c7e52-8f0e-4a50-9d4e-0d7b2a1c3e4f.json"
    not_json.write_text("{cut short")
    agent.collector = sqlite_collector
    done = agent("once")
    assert done.returncode == 0, done.stderr
    assert spool_names(state) == set()
    assert {r["run_id"] for r in stored_runs(sqlite_collector)} == good
    rejected = state.path / "spool" / "rejected"
    assert {p.name for p in rejected.glob("*.json")} == {f"{bad['run_id']}.json", not_json.name}
    reason = json.loads((rejected / f"{bad['run_id']}.reason").read_text())["reason"]
    assert "status" in reason
    assert "JSON" in json.loads((rejected / f"{not_json.stem}.reason").read_text())["reason"]


def test_collector_down_keeps_everything_and_backs_off(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    assert wrap("--name", "kept", "--", "true").returncode == 0
    before = spool_names(state)
    agent.fast = ["--backoff-min", "1h", "--backoff-max", "2h", "--connect-timeout", "1s"]
    agent.collector = sqlite_collector
    real_url = sqlite_collector.url
    sqlite_collector.url = "http://127.0.0.1:9"  # nothing listens on the discard port
    try:
        down = agent("once")
    finally:
        sqlite_collector.url = real_url
    assert down.returncode == 0
    assert "cannot reach" in down.stderr and "next attempt in" in down.stderr
    assert spool_names(state) == before
    journal = json.loads((state.path / "agent" / "agent.json").read_text())
    assert journal["failures"] == 1 and journal["reachable"] is False
    # Backing off: the collector is up again, but the next attempt is an hour away.
    assert agent("once").returncode == 0
    assert spool_names(state) == before
    status = agent("status", "--json")
    assert json.loads(status.stdout)["next_attempt_at"] is not None


def test_retry_after_is_honoured_over_a_shorter_backoff(
    wrap: Wrap, agent: Agent, state: StateDir
) -> None:
    import time

    from tests.support.fake_collector import fake_collector

    assert wrap("--name", "later", "--", "true").returncode == 0
    before = spool_names(state)
    with fake_collector(
        status=429, answer={"error": "slow down"}, headers={"Retry-After": "120"}
    ) as fake:
        argv_collector = ["--collector", fake.url, "--token", "t"]
        done = agent("once", *argv_collector)
        assert done.returncode == 0
        assert "429" in done.stderr and "next attempt in 120s" in done.stderr
        assert len(fake.requests) == 1
        journal = json.loads((state.path / "agent" / "agent.json").read_text())
        assert journal["next_attempt_at"] >= time.time() + 100
        assert agent("once", *argv_collector).returncode == 0
        assert len(fake.requests) == 1  # still waiting: nothing sent
    assert spool_names(state) == before


def test_a_batch_refused_whole_is_split_until_the_bad_report_is_alone(
    agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    """A collector that refuses a batch with one 422 and no per-report list (the
    collector before per-report results) still takes every good report."""
    spool = state.path / "spool"
    spool.mkdir(parents=True)
    state.path.chmod(0o750)
    reports = [make_report("split", host="h") for _ in range(9)]
    reports[4]["duration_s"] = "long"  # a wrong type: strict validation refuses it
    for report in reports:
        (spool / f"{report['run_id']}.json").write_text(json.dumps(report))
    agent.collector = sqlite_collector
    assert agent("once").returncode == 0
    taken = {r["run_id"] for r in stored_runs(sqlite_collector)}
    assert taken == {r["run_id"] for i, r in enumerate(reports) if i != 4}
    assert [p.stem for p in (spool / "rejected").glob("*.json")] == [reports[4]["run_id"]]
    state.checked.update(f"{r['run_id']}.json" for r in reports)


def test_a_shipped_report_that_cannot_be_deleted_is_one_warning_and_a_duplicate_next_pass(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    for _ in range(40):  # more files than deleting threads
        assert wrap("--name", "many", "--", "true").returncode == 0
    stuck = state.spool_files()[7]
    # Immutable: unlink fails with EPERM even for root, as on a spool gone read-only.
    made = subprocess.run(["chattr", "+i", str(stuck)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i not supported here: {made.stderr.strip()}")
    agent.collector = sqlite_collector
    try:
        done = agent("once", "--batch-size", "15")
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    [warning] = [line for line in done.stderr.splitlines() if "cannot delete" in line]
    assert str(stuck) in warning and "sends it again as a duplicate" in warning
    assert spool_names(state) == {stuck.name}  # the other 39 are gone
    assert len(stored_runs(sqlite_collector)) == 40
    again = agent("once")
    assert again.returncode == 0 and "cannot delete" not in again.stderr, again.stderr
    assert spool_names(state) == set()
    assert len(stored_runs(sqlite_collector)) == 40


def plant(state: StateDir, files: list[tuple[dict[str, Any], str]]) -> None:
    """Spool files (a report, the text written for it), oldest first by mtime."""
    spool = state.path / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    state.path.chmod(0o750)
    for age, (report, text) in enumerate(files):
        path = spool / f"{report['run_id']}.json"
        path.write_text(text)
        os.utime(path, ns=(10**18 + age * 10**9,) * 2)
        state.checked.add(path.name)


def with_field(report: dict[str, Any], raw: str) -> str:
    """The report's JSON with `"note": raw` spliced in as written, not as json.dumps
    would write it: NaN, Infinity, 1e400 and a lone surrogate are the point."""
    return json.dumps(report)[:-1] + f', "note": {raw}}}'


def reason_of(state: StateDir, run_id: str) -> str:
    reason = state.path / "spool" / "rejected" / f"{run_id}.reason"
    return str(json.loads(reason.read_text())["reason"])


def test_a_report_holding_nan_or_infinity_is_set_aside_and_the_rest_ships(
    agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    """Python reads NaN, Infinity and 1e400 as floats; JSON has none of them, and a
    batch carrying one is refused whole (400): each is set aside before it is sent."""
    good = [make_report("poisoned", host="h") for _ in range(6)]
    bad = [make_report("poisoned", host="h") for _ in range(3)]
    files = [(report, json.dumps(report)) for report in good]
    files.insert(1, (bad[0], with_field(bad[0], "NaN")))
    files.insert(4, (bad[1], with_field(bad[1], "-Infinity")))
    files.append((bad[2], json.dumps(bad[2]).replace('"duration_s": 1.5', '"duration_s": 1e400')))
    plant(state, files)
    agent.collector = sqlite_collector
    done = agent("once", "--batch-size", "4")
    assert done.returncode == 0, done.stderr
    assert spool_names(state) == set()
    assert {r["run_id"] for r in stored_runs(sqlite_collector)} == {r["run_id"] for r in good}
    for report in bad:
        assert "NaN or Infinity" in reason_of(state, report["run_id"])
    journal = json.loads((state.path / "agent" / "agent.json").read_text())
    assert journal["rejected"] == 3 and journal["failures"] == 0


def test_a_batch_the_collector_cannot_read_is_split_and_the_bad_report_set_aside(
    agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    """A lone surrogate is JSON to Python but not to the collector's strict reader:
    the whole batch is answered 400. The agent asks again in halves, sets the report
    the collector cannot read aside, and ships the rest in the same pass."""
    good = [make_report("surrogate", host="h") for _ in range(9)]
    bad = make_report("surrogate", host="h")
    premise = sqlite_collector.post_runs([json.loads(with_field(bad, '"\\ud800"'))])
    assert premise.status_code == 400, premise.text
    files = [(report, json.dumps(report)) for report in good]
    files.insert(6, (bad, with_field(bad, '"\\ud800"')))
    plant(state, files)
    agent.collector = sqlite_collector
    done = agent("once")  # one batch of 10, refused whole
    assert done.returncode == 0, done.stderr
    assert spool_names(state) == set()
    assert {r["run_id"] for r in stored_runs(sqlite_collector)} == {r["run_id"] for r in good}
    reason = reason_of(state, bad["run_id"])
    assert reason.startswith("the collector could not read it (400: body is not valid JSON")
    again = agent("once")
    assert again.returncode == 0 and again.stderr == "", again.stderr


def test_a_url_that_answers_400_to_everything_rejects_nothing(
    wrap: Wrap, agent: Agent, state: StateDir
) -> None:
    """Something else on the URL, answering 400 even to a body of no reports: the
    fault is the URL's, not the reports'. Nothing is set aside; the operator hears."""
    from tests.support.fake_collector import fake_collector

    for _ in range(3):
        assert wrap("--name", "kept", "--", "true").returncode == 0
    before = spool_names(state)
    with fake_collector(status=400, answer={"error": "bad request"}) as fake:
        done = agent("once", "--collector", fake.url, "--token", "t")
    assert done.returncode == 0
    assert "collector answered 400: bad request; check --collector" in done.stderr
    bodies = [request["body"] for request in fake.requests if request["path"] == "/api/v1/runs"]
    assert [len(body["runs"]) for body in bodies] == [3, 0], "the batch, then the probe"
    assert spool_names(state) == before
    assert not (state.path / "spool" / "rejected").exists()


def test_two_batches_are_in_flight_at_once_and_each_report_is_sent_once(
    wrap: Wrap, agent: Agent, state: StateDir
) -> None:
    """The collector stores one batch while it reads the next: the agent POSTs two at a
    time (ship.IN_FLIGHT), never more, and settles each by its own answer."""
    from tests.support.fake_collector import fake_collector

    for n in range(6):
        assert wrap("--name", f"job{n}", "--", "true").returncode == 0
    ids = {r["run_id"] for r in state.reports()}
    answer = {"accepted": 2, "duplicates": 0, "rejected": []}
    # Each answer trickles for about half a second: the next batch is sent meanwhile.
    with fake_collector(answer=answer, trickle_s=0.003) as fake:
        done = agent("once", "--collector", fake.url, "--token", "t", "--batch-size", "2")
        assert done.returncode == 0, done.stderr
        batches = [r for r in fake.requests if r["path"] == "/api/v1/runs"]
    assert spool_names(state) == set()
    sent = [report["run_id"] for request in batches for report in request["body"]["runs"]]
    assert sorted(sent) == sorted(ids), "each report once"
    assert max(r["at_once"] for r in batches) == 2, [r["at_once"] for r in batches]


def test_a_batch_taken_while_the_one_before_it_is_not_now_leaves_the_spool(
    wrap: Wrap, agent: Agent, state: StateDir
) -> None:
    """Two batches in flight; the collector answers the first to arrive 503 and takes
    the other: that one's reports leave the spool (settled after the "not now"), the
    first's stay, none is rejected, and the next pass sends those alone."""
    from tests.support.fake_collector import fake_collector

    for n in range(4):
        assert wrap("--name", f"job{n}", "--", "true").returncode == 0
    ids = {r["run_id"] for r in state.reports()}
    answer = {"accepted": 2, "duplicates": 0, "rejected": []}
    with fake_collector(answer=answer, trickle_s=0.003, statuses=[503]) as fake:
        done = agent("once", "--collector", fake.url, "--token", "t", "--batch-size", "2")
        assert done.returncode == 0, done.stderr
        assert "503" in done.stderr
        batches = [r for r in fake.requests if r["path"] == "/api/v1/runs"]
    assert [r["status"] for r in batches] == [503, 200]
    assert max(r["at_once"] for r in batches) == 2, "both were in flight"
    refused = {report["run_id"] for report in batches[0]["body"]["runs"]}
    assert {r["run_id"] for r in state.reports()} == refused
    assert not (state.path / "spool" / "rejected").exists()
    journal_path = state.path / "agent" / "agent.json"
    journal = json.loads(journal_path.read_text())
    assert journal["failures"] == 1
    # The pass was cut short, but what it shipped counts: the second batch's two.
    assert journal["shipped"] == 2 and journal["last_delivery_at"] is not None
    journal["next_attempt_at"] = 0.0  # the backoff over
    journal_path.write_text(json.dumps(journal))
    with fake_collector(answer=answer) as fake:
        again = agent("once", "--collector", fake.url, "--token", "t")
        assert again.returncode == 0, again.stderr
        sent = {report["run_id"] for report in fake.reports()}
    assert sent == refused and spool_names(state) == set()
    assert refused < ids
