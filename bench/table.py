"""What every benchmark prints: rows of figures against a peer or a target."""

from __future__ import annotations

from dataclasses import dataclass


class BenchError(Exception):
    """Something the benchmark needs did not work; the run stops."""


@dataclass(frozen=True)
class Row:
    metric: str
    ours: str
    peer: str
    ratio: str
    target: str
    passed: bool | None  # None: the row carries no target


def print_table(rows: list[Row], peer_header: str = "peer") -> None:
    header = ("metric", "smartcron", peer_header, "ratio", "target", "result")
    cells = [header] + [
        (r.metric, r.ours, r.peer, r.ratio, r.target,
         "-" if r.passed is None else ("PASS" if r.passed else "MISS"))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))
