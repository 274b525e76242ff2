"""The spool read back oldest first, a window at a time (wrapper/spool.py's
oldest_reports): the agent never holds a list of every file, and still ships them
oldest first, each once per pass, whatever happens to the directory meanwhile."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from smartcron.wrapper.spool import count_rejected, oldest_reports, pending_reports, spool_depth
from smartcron.wrapper.state import StateDir as Spool

SECOND = 10**9


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    (tmp_path / "state" / "spool").mkdir(parents=True)
    return Spool(str(tmp_path / "state"))


def put(spool: Spool, mtime_ns: int, name: str | None = None) -> str:
    path = os.path.join(spool.path("spool"), f"{name or uuid.uuid4()}.json")
    Path(path).write_text("{}")
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def by_age(paths: list[str]) -> list[str]:
    return sorted(paths, key=lambda path: (os.stat(path).st_mtime_ns, os.path.basename(path)))


@pytest.mark.parametrize("window", [1, 3, 7, 50])
def test_every_report_comes_once_oldest_first_whatever_the_window(
    spool: Spool, window: int
) -> None:
    # Ages in no order, with ties (one second, several names) across window edges.
    paths = [put(spool, (n * 7919 % 13) * SECOND) for n in range(40)]
    assert list(oldest_reports(spool, window)) == by_age(paths)


def test_reports_shipped_while_reading_do_not_stop_the_rest(spool: Spool) -> None:
    paths = by_age([put(spool, n * SECOND) for n in range(10)])
    given = []
    for path in oldest_reports(spool, 3):
        given.append(path)
        os.unlink(path)  # shipped: gone before the next window is scanned
    assert given == paths
    assert pending_reports(spool) == []


def test_a_report_left_behind_is_not_given_twice_in_one_call(spool: Spool) -> None:
    # A file that could not be deleted stays; the next window must not bring it back,
    # or a pass would send it again and again.
    paths = by_age([put(spool, n * SECOND) for n in range(9)])
    given = list(oldest_reports(spool, 2))
    assert given == paths


def test_a_report_written_meanwhile_comes_in_this_call_or_the_next(spool: Spool) -> None:
    early = by_age([put(spool, n * SECOND) for n in range(1, 7)])
    stream = oldest_reports(spool, 2)
    given = [next(stream), next(stream)]
    newer = put(spool, 100 * SECOND)  # as a wrapper finishing a run now
    older = put(spool, 0)  # older than what was given: waits for the next call
    given += list(stream)
    assert given == [*early, newer]
    assert list(oldest_reports(spool, 2)) == by_age([*early, newer, older])


def test_links_fifos_and_other_names_are_not_reports(spool: Spool, tmp_path: Path) -> None:
    real = put(spool, SECOND)
    directory = spool.path("spool")
    os.symlink(real, os.path.join(directory, f"{uuid.uuid4()}.json"))
    os.mkfifo(os.path.join(directory, f"{uuid.uuid4()}.json"))
    Path(directory, f"{uuid.uuid4()}.json.tmp").write_text("{}")
    os.mkdir(os.path.join(directory, f"{uuid.uuid4()}.json"))
    assert list(oldest_reports(spool, 1)) == [real]
    assert spool_depth(spool) == (1, 1.0)


def test_depth_counts_every_report_and_finds_the_oldest(spool: Spool, tmp_path: Path) -> None:
    assert spool_depth(spool) == (0, None)
    assert spool_depth(Spool(str(tmp_path / "nowhere"))) == (0, None)
    for n in (5, 3, 9, 4):
        put(spool, n * SECOND + 250_000_000)
    assert spool_depth(spool) == (4, 3.25)


def test_rejected_reports_are_counted_without_the_rest(spool: Spool) -> None:
    assert count_rejected(spool) == 0
    rejected = Path(spool.path("spool"), "rejected")
    rejected.mkdir()
    for n in range(3):
        (rejected / f"{n}.json").write_text("{}")
        (rejected / f"{n}.reason").write_text("{}")
    assert count_rejected(spool) == 3
