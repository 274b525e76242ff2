"""Reading the spool back (what the agent ships, as root): every file in spool/ is
input. A link planted there must not make root read (and send off) a file of its
choosing, a FIFO must not block the reader, and a huge file must not be read into
memory whole; yet the largest report the wrapper writes must still be readable.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from smartcron.wrapper.spool import pending_reports, read_report
from smartcron.wrapper.state import StateDir as Spool

from tests.conftest import StateDir, Wrap


@pytest.fixture
def planted(tmp_path: Path) -> Spool:
    """A state directory for planted files (not the `state` fixture, whose teardown
    reads every spool file as a report)."""
    (tmp_path / "planted" / "spool").mkdir(parents=True)
    return Spool(str(tmp_path / "planted"))


def spool_dir(spool: Spool) -> Path:
    return Path(spool.path("spool"))


def test_a_link_in_the_spool_is_neither_listed_nor_read(planted: Spool, tmp_path: Path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"root": "only"}))
    link = spool_dir(planted) / f"{uuid.uuid4()}.json"
    link.symlink_to(secret)
    assert pending_reports(planted) == []
    with pytest.raises(OSError) as refused:
        read_report(str(link))
    assert refused.value.errno == errno.ELOOP


def test_a_fifo_in_the_spool_never_blocks_the_reader(planted: Spool):
    fifo = spool_dir(planted) / f"{uuid.uuid4()}.json"
    os.mkfifo(fifo)
    assert pending_reports(planted) == []
    with pytest.raises(OSError):
        read_report(str(fifo))  # opened without a writer: refused, not waited on


def test_a_huge_file_in_the_spool_is_refused_unread(planted: Spool):
    huge = spool_dir(planted) / f"{uuid.uuid4()}.json"
    with huge.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: 64 MiB of nothing
    with pytest.raises(ValueError, match="larger than"):
        read_report(str(huge))


def test_the_largest_report_the_wrapper_writes_reads_back(wrap: Wrap, state: StateDir):
    # Control characters in both tails and in the command: each byte is six bytes of
    # JSON (\u0001), so the report is over a megabyte, larger than any state file.
    job = [sys.executable, "-c",
           "import os; os.write(1, b'\\x01' * 70000); os.write(2, b'\\x01' * 70000)",
           "\x01" * 60_000]  # fmt: skip
    result = wrap("--name", "big", "--", *job)
    assert result.returncode == 0, result.stderr
    [path] = pending_reports(Spool(str(state.path)))
    assert os.path.getsize(path) > 1024 * 1024, "the premise: larger than a state file"
    report = read_report(path)
    assert report == state.report()
