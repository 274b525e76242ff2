"""Whether redacting a long unbroken word costs time linear in its length.

    .venv/bin/python bench/redact.py [--rounds N]

A report's tails are up to 64 KiB and are redacted on every run: one pattern that
backtracks over a long word (a base64 blob, a minified document) would cost the wrapper
seconds after the job has ended. Each kind of word is redacted at 16 KiB and at 64 KiB,
alternated in every round; the figure is the median of the per-round ratios, 4 when the
cost is linear, 16 when it is quadratic. The peer is the same word at a quarter of the
length, measured in the same round. Prints figures and a PASS/MISS; it never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from smartcron.wrapper.redact import redact

from bench.table import Row, print_table

SMALL, LARGE = 16 * 1024, 64 * 1024
TARGET_RATIO = 6.0  # linear is 4; what a quadratic pattern gives (16) is far above
# Unbroken words the patterns look into: letters (key names), base64, URL schemes, the
# separators of key: value, and flags' dashes.
WORDS = {"letters": "x", "base64": "aZ09+/", "schemes": "http", "colons": "a:", "dashes": "-"}


def word(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def time_once(text: str) -> float:
    started = time.perf_counter()
    redact(text)
    return time.perf_counter() - started


def measure(unit: str, rounds: int) -> tuple[float, float, float]:
    """Medians of the 16 KiB and the 64 KiB times, and of the per-round ratios."""
    small, large = word(unit, SMALL), word(unit, LARGE)
    smalls, larges, ratios = [], [], []
    for index in range(rounds):
        # Alternated: which goes first changes every round, so a warm cache favours neither.
        if index % 2:
            big, little = time_once(large), time_once(small)
        else:
            little, big = time_once(small), time_once(large)
        smalls.append(little)
        larges.append(big)
        ratios.append(big / little)
    return statistics.median(smalls), statistics.median(larges), statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="rounds per word (default 21)")
    args = parser.parse_args(argv)
    rows = []
    for name, unit in WORDS.items():
        small_s, large_s, ratio = measure(unit, args.rounds)
        rows.append(Row(
            metric=f"redact 64 KiB of {name}", ours=f"{large_s * 1000:.2f} ms",
            peer=f"{small_s * 1000:.2f} ms at 16 KiB", ratio=f"{ratio:.1f}",
            target=f"ratio <= {TARGET_RATIO:g}", passed=ratio <= TARGET_RATIO,
        ))  # fmt: skip
    print_table(rows, peer_header="peer (same word)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
