"""The summary's sparkline: one bar per recent run, oldest left, failures in red."""

from __future__ import annotations

import re

from smartcron.collector.charts import SPARK_SLOTS, sparkline


def bars(svg: str) -> dict[str, list[tuple[float, float]]]:
    """(x, height) of every bar, by kind, read back from the paths' data."""
    found: dict[str, list[tuple[float, float]]] = {}
    for kind, data in re.findall(r'<path class="(\w+)" d="([^"]*)"', svg):
        found[kind] = [
            (float(x), float(h)) for x, h in re.findall(r"M([\d.]+),30v-([\d.]+)h4V30z", data)
        ]
    return found


def runs(*pairs: tuple[float, str]) -> list[dict[str, object]]:
    return [{"duration_s": duration, "status": status} for duration, status in pairs]


def test_bars_are_as_tall_as_their_duration_and_coloured_by_outcome() -> None:
    svg = str(sparkline(runs((1, "success"), (2, "failed"), (4, "success"), (3, "skipped_locked"))))
    drawn = bars(svg)
    # Fewer runs than slots sit at the right end, oldest first; the longest is full height.
    assert drawn["ok"] == [(130.5, 7.0), (140.5, 28.0)]
    assert drawn["bad"] == [(135.5, 14.0)]
    assert drawn["skip"] == [(145.5, 21.0)]
    assert (
        'aria-label="durations of the last 4 runs, oldest first: 1.0 s to 4.0 s; 1 failed"' in svg
    )


def test_only_the_last_slots_are_drawn_and_a_zero_still_shows() -> None:
    svg = str(sparkline(runs(*[(0.0, "success")] * 5, *[(2.0, "timeout")] * SPARK_SLOTS)))
    drawn = bars(svg)
    assert "ok" not in drawn and len(drawn["bad"]) == SPARK_SLOTS
    assert drawn["bad"][0] == (0.5, 28.0)
    assert bars(str(sparkline(runs((0.0, "success")))))["ok"] == [(145.5, 1.5)]


def test_no_runs_says_so() -> None:
    assert "no runs" in str(sparkline([]))
