"""spool/rejected/: a report the collector refuses as invalid leaves the queue, with
its reason beside it, and is never sent again as it is (DESIGN.md, "Delivery").

The wrapper sends one report per POST: a 422, or a 200 whose `rejected` names the
report, means rejected; 5xx, 429 and a collector out of reach mean "keep it", and so
do 400/401/403/413, which are about the envelope or the token, not the report.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from smartcron.wrapper.spool import (
    count_rejected,
    pending_reports,
    reject_report,
    rejected_reports,
    rejection_reason,
    spool_report,
)
from smartcron.wrapper.state import StateDir

from tests.support.fake_collector import fake_collector

JOB = [sys.executable, "-c", "print('hi')"]
ERROR = "runs[0].status: Input should be 'success', 'failed' or …"


def rejected_dir(state: Any) -> Path:
    return Path(state.path) / "spool" / "rejected"


def run_against(wrap: Any, status: int, answer: Any) -> tuple[Any, Any]:
    with fake_collector(status=status, answer=answer) as server:
        done = wrap("--name", "nightly", "--collector", server.url, "--token", "sct_t",
                    "--", *JOB)  # fmt: skip
    [sent] = server.reports()
    return done, sent


PER_REPORT = {
    "accepted": 0,
    "duplicates": 0,
    "rejected": [{"index": 0, "run_id": None, "error": ERROR}],
}


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (422, {"error": ERROR}),  # the collector before per-report results
        (422, PER_REPORT),  # every report of the batch rejected
        (200, PER_REPORT),
    ],
)
def test_a_rejected_report_moves_to_rejected_with_its_reason(
    wrap: Any, state: Any, status: int, answer: Any
) -> None:
    done, sent = run_against(wrap, status, answer)
    assert done.returncode == 0 and done.stdout == "hi\n"
    assert done.stderr == "", "the agent counts rejected reports; cron mails nothing"
    assert state.spool_files() == [], "never sent again as it is"
    moved = rejected_dir(state) / f"{sent['run_id']}.json"
    assert json.loads(moved.read_text()) == sent, "the report is moved whole"
    reason = json.loads((rejected_dir(state) / f"{sent['run_id']}.reason").read_text())
    assert reason["reason"] == ERROR
    [entry] = state.log_with_deliveries("nightly")
    assert entry["delivery"] == {"result": "rejected", "reason": ERROR}


def test_a_rejection_that_names_another_report_is_not_ours(wrap: Any, state: Any) -> None:
    other = {"index": 1, "run_id": "00000000-0000-4000-8000-000000000000", "error": ERROR}
    done, _sent = run_against(wrap, 200, {"accepted": 1, "duplicates": 0, "rejected": [other]})
    assert done.returncode == 0 and done.stderr == ""
    assert state.spool_files() == [] and not rejected_dir(state).exists()
    assert state.log_with_deliveries("nightly")[0]["delivery"]["result"] == "delivered"


@pytest.mark.parametrize("answer", [{"accepted": 1, "duplicates": 0, "rejected": []},
                                    {"accepted": 0, "duplicates": 1, "rejected": []}])  # fmt: skip
def test_accepted_or_duplicate_leaves_the_spool(wrap: Any, state: Any, answer: Any) -> None:
    done, _sent = run_against(wrap, 200, answer)
    assert done.returncode == 0 and done.stderr == ""
    assert state.spool_files() == [] and not rejected_dir(state).exists()
    assert state.log_with_deliveries("nightly")[0]["delivery"] == {
        "result": "delivered",
        "reason": None,
    }


@pytest.mark.parametrize("status", [400, 401, 403, 413, 429, 500, 503])
def test_a_refusal_that_is_not_about_the_report_keeps_it_spooled(
    wrap: Any, state: Any, status: int
) -> None:
    done, sent = run_against(wrap, status, {"error": "not today"})
    assert done.returncode == 0
    assert done.stderr == "", "safely spooled: nothing to print"
    assert state.report() == sent
    assert not rejected_dir(state).exists()
    [entry] = state.log_with_deliveries("nightly")
    assert entry["delivery"] == {
        "result": "kept",
        "reason": f"collector answered {status}: not today",
    }


# ---------------------------------------------------------------- the API the agent reuses


def a_report(run_id: str) -> dict[str, object]:
    return {"run_id": run_id, "job": "nightly"}


def test_reject_report_keeps_the_report_and_its_reason(tmp_path: Path) -> None:
    state = StateDir(str(tmp_path / "state"))
    first = spool_report(state, a_report("11111111-1111-4111-8111-111111111111"))
    second = spool_report(state, a_report("22222222-2222-4222-8222-222222222222"))
    assert count_rejected(state) == 0 and rejected_reports(state) == []

    moved = reject_report(state, first, "runs[0].job: too long")
    assert pending_reports(state) == [second], "a rejected report is no longer queued"
    assert Path(moved).parent == tmp_path / "state" / "spool" / "rejected"
    assert json.loads(Path(moved).read_text()) == a_report("11111111-1111-4111-8111-111111111111")
    assert rejected_reports(state) == [(moved, "runs[0].job: too long")]
    assert count_rejected(state) == 1

    reject_report(state, second, "runs[0].status: unknown")
    assert count_rejected(state) == 2 and pending_reports(state) == []
    assert [reason for _path, reason in rejected_reports(state)] == [
        "runs[0].job: too long", "runs[0].status: unknown"]  # fmt: skip


def test_a_rejected_report_without_a_readable_reason_says_so(tmp_path: Path) -> None:
    state = StateDir(str(tmp_path / "state"))
    moved = reject_report(
        state, spool_report(state, a_report("33333333-3333-4333-8333-333333333333")), "bad"
    )
    Path(moved[: -len(".json")] + ".reason").write_text("{not json")
    assert rejection_reason(moved).startswith("reason unknown")
    Path(moved[: -len(".json")] + ".reason").unlink()
    assert rejection_reason(moved).startswith("reason unknown")
    assert count_rejected(state) == 1


# ---------------------------------------------------------------- what an answer means

OURS = "44444444-4444-4444-8444-444444444444"


@pytest.mark.parametrize(
    ("status", "body", "result"),
    [
        (200, b'{"accepted": 1, "duplicates": 0, "rejected": []}', "delivered"),
        # A 2xx that is no ingest answer (a proxy's page) proves nothing was stored.
        (201, b"", "kept"),
        (200, b"not json at all", "kept"),
        (200, b'{"rejected": []}', "kept"),
        (200, b'{"accepted": 1, "rejected": "not a list"}', "delivered"),
        (
            200,
            b'{"accepted": 0, "rejected": [{"index": 0, "run_id": "' + OURS.encode() + b'"}]}',
            "rejected",
        ),
        (200, b'{"accepted": 1, "rejected": [{"index": 3, "run_id": "other"}]}', "delivered"),
        (422, b'{"error": "runs[0].job: bad"}', "rejected"),
        (422, b"<html>unprocessable</html>", "rejected"),
        (400, b'{"error": "malformed JSON"}', "kept"),
        (401, b'{"error": "invalid token"}', "kept"),
        (403, b"{}", "kept"),
        (413, b'{"error": "too large"}', "kept"),
        (429, b"", "kept"),
        (404, b"", "kept"),
        (502, b"<html>bad gateway</html>", "kept"),
    ],
)
def test_what_an_ingest_answer_means_for_the_one_report_sent(
    status: int, body: bytes, result: str
) -> None:
    from smartcron.wrapper.deliver import judge_answer

    outcome = judge_answer(status, body, OURS)
    assert outcome.result == result, (status, body, outcome.reason)
    if result != "delivered":
        assert outcome.reason, "a report that stays or moves says why"
