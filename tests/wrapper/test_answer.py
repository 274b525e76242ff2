"""The one reader of the collector's answer to a POST of reports (wrapper/answer.py),
which the wrapper's delivery and the agent's shipping both use: each report's fate,
answers that are not ingest answers, and every kind of "not now"."""

from __future__ import annotations

import email.utils
import json

import pytest
from smartcron.wrapper.answer import (
    MAX_RETRY_AFTER_S,
    NOT_NOW,
    REFUSED_WHOLE,
    SETTLED,
    UNREADABLE,
    WRONG_REQUEST,
    read_batch_answer,
)

IDS = [f"{n}{n}{n}{n}{n}{n}{n}{n}-0000-4000-8000-000000000000" for n in range(1, 6)]


def body(**document: object) -> bytes:
    return json.dumps(document).encode()


def test_each_report_is_taken_or_rejected_with_its_reason() -> None:
    answer = read_batch_answer(200, body(accepted=2, duplicates=1, rejected=[
        {"index": 1, "run_id": IDS[1], "error": "runs[1].exit_code: too big"},
        {"index": 4, "run_id": IDS[4], "error": "runs[4].job: bad name"},
    ]), IDS)  # fmt: skip
    assert answer.kind == SETTLED and answer.duplicates == 1
    assert [answer.taken(i) for i in range(5)] == [True, False, True, True, False]
    assert answer.rejected == {1: "runs[1].exit_code: too big", 4: "runs[4].job: bad name"}


def test_every_report_rejected_is_a_422_that_still_settles_each() -> None:
    listed = [{"index": i, "run_id": IDS[i], "error": f"runs[{i}].x: bad"} for i in range(2)]
    answer = read_batch_answer(
        422, body(error="runs[0].x: bad (and 1 more)", accepted=0, duplicates=0, rejected=listed),
        IDS[:2],
    )  # fmt: skip
    assert answer.kind == SETTLED and answer.rejected == {0: "runs[0].x: bad", 1: "runs[1].x: bad"}


def test_duplicates_are_taken() -> None:
    answer = read_batch_answer(200, body(accepted=0, duplicates=3, rejected=[]), IDS[:3])
    assert answer.kind == SETTLED and answer.duplicates == 3
    assert all(answer.taken(i) for i in range(3))


def test_the_collector_before_per_report_results_is_read_too() -> None:
    taken = read_batch_answer(200, body(accepted=5, duplicates=0), IDS)
    assert taken.kind == SETTLED and all(taken.taken(i) for i in range(5))
    refused = read_batch_answer(422, body(error="runs[3].status: bad"), IDS)
    assert (refused.kind, refused.error) == (REFUSED_WHOLE, "runs[3].status: bad")
    assert not any(refused.taken(i) for i in range(5))  # none is gone: halves are asked


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"index": 2, "run_id": IDS[0], "error": "e"}, {2: "e"}),  # the index decides
        ({"index": 99, "run_id": IDS[3], "error": "e"}, {3: "e"}),  # then the run_id
        ({"index": "1", "run_id": IDS[1], "error": "e"}, {1: "e"}),
        ({"index": True, "run_id": None, "error": "e"}, {}),  # a bool is not an index
        ({"index": None, "run_id": ["not", "hashable"], "error": "e"}, {}),
        ({"index": None, "run_id": "someone else's", "error": "e"}, {}),
        ({"index": 0}, {0: "rejected without a reason"}),
        ({"index": 0, "error": "x" * 5000}, {0: "x" * 1000}),
        ("not an entry", {}),
    ],
)
def test_rejected_entries_are_input_too(entry: object, expected: dict[int, str]) -> None:
    answer = read_batch_answer(200, body(accepted=4, duplicates=0, rejected=[entry]), IDS)
    assert answer.kind == SETTLED and answer.rejected == expected


def test_a_lone_report_whose_id_the_collector_could_not_read_is_the_one_rejected() -> None:
    listed = [{"index": None, "run_id": None, "error": "runs[0]: not an object"}]
    answer = read_batch_answer(422, body(accepted=0, duplicates=0, rejected=listed), IDS[:1])
    assert answer.rejected == {0: "runs[0]: not an object"}


@pytest.mark.parametrize(
    "text",
    [b"", b"not json at all", b"<html>OK</html>", b"[]", b'{"rejected": []}',
     b'{"accepted": "2"}', b'{"accepted": true}', b"\xff\xfe"],
)  # fmt: skip
def test_a_2xx_that_is_not_an_ingest_answer_takes_nothing(text: bytes) -> None:
    # A proxy's page, or something else answering on the URL: nothing proves the
    # reports were stored, so none is deleted (and none rejected).
    for status in (200, 201, 204):
        answer = read_batch_answer(status, text, IDS[:2])
        assert answer.kind == WRONG_REQUEST and not answer.taken(0) and answer.rejected == {}
        assert answer.error.startswith("the answer is not an ingest answer")


def test_a_bad_duplicates_count_is_not_believed() -> None:
    for duplicates in (-1, "3", 2.5, None, True):
        answer = read_batch_answer(200, body(accepted=1, duplicates=duplicates), IDS[:1])
        assert answer.kind == SETTLED and answer.duplicates == 0


def test_400_is_a_body_the_collector_could_not_read() -> None:
    # A report's fault (found by halves) or a wrong URL's: the sender tells them apart.
    answer = read_batch_answer(400, body(error="body is not valid JSON: x"), IDS)
    assert (answer.kind, answer.error) == (UNREADABLE, "body is not valid JSON: x")
    assert not answer.taken(0) and answer.rejected == {}


@pytest.mark.parametrize("status", [401, 403, 404, 301, 302, 409, 418])
def test_other_4xx_are_about_the_request_and_reject_nothing(status: int) -> None:
    answer = read_batch_answer(status, body(error="invalid token"), IDS)
    assert (answer.kind, answer.error, answer.rejected) == (WRONG_REQUEST, "invalid token", {})


def test_413_is_a_batch_refused_whole() -> None:
    answer = read_batch_answer(413, body(error="over 1000 reports"), IDS)
    assert (answer.kind, answer.error) == (REFUSED_WHOLE, "over 1000 reports")


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_5xx_and_429_are_not_now_with_retry_after(status: int) -> None:
    now = 1_800_000_000.0
    seconds = read_batch_answer(status, b"", IDS, retry_after="120")
    assert (seconds.kind, seconds.retry_after, seconds.error) == (NOT_NOW, 120.0, "no reason given")
    date = email.utils.formatdate(now + 90, usegmt=True)
    dated = read_batch_answer(status, b"<html>busy</html>", IDS, retry_after=date, now=now)
    assert dated.kind == NOT_NOW and dated.retry_after == 90.0
    assert dated.error == "<html>busy</html>"
    past = email.utils.formatdate(now - 90, usegmt=True)
    assert read_batch_answer(status, b"", IDS, retry_after=past, now=now).retry_after == 0.0
    capped = read_batch_answer(status, b"", IDS, retry_after="999999")
    assert capped.retry_after == MAX_RETRY_AFTER_S
    for unreadable in (None, "", "soon", "²", "-5"):
        assert read_batch_answer(status, b"", IDS, retry_after=unreadable).retry_after is None
    # Even a 503 that carries an ingest-looking body is not a settlement.
    looks = read_batch_answer(status, body(accepted=5, duplicates=0, rejected=[]), IDS)
    assert looks.kind == NOT_NOW and not looks.taken(0)
