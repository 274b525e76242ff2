"""Small inline SVG charts for the page: no JavaScript, no external assets.

Text (scales, times, the legend) stays in HTML around the SVG, so it keeps its
size on a phone while the shapes stretch to the width they are given.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape
from smartcron.wrapper.schema import FAILED_STATUSES, SKIPPED_STATUSES

FAILED = frozenset(FAILED_STATUSES)
SKIPPED = frozenset(SKIPPED_STATUSES)
SPARK_SLOTS = 30  # runs a sparkline has room for; fewer runs sit at its right end


def parse_time(value: Any) -> dt.datetime | None:
    """A stored or API time (naive UTC, ISO text with or without Z) as naive UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.timezone.utc)
        return moment.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value).rstrip("Z").replace("T", " "))


def short_time(value: Any, now: dt.datetime | None = None) -> str:
    """'16:30 UTC' today, 'Nov 22 16:30 UTC' this year, else with the year."""
    moment = parse_time(value)
    if moment is None:
        return "-"
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if moment.date() == now.date():
        return moment.strftime("%H:%M UTC")
    if moment.year == now.year:
        return moment.strftime("%b %d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def mebibytes(value: float) -> str:
    return f"{value / 2**30:.1f} GiB" if value >= 2**30 else f"{value / 2**20:.0f} MiB"


def plural(noun: str, count: Any) -> str:
    """The noun as a count of it reads: 1 host, 2 hosts (every noun on the page takes -s)."""
    return noun if count == 1 else f"{noun}s"


def last_runs(count: int) -> str:
    """'last run', 'last 5 runs': how the page names a job's most recent runs."""
    return "last run" if count == 1 else f"last {count} runs"


def _kind(status: str) -> str:
    return "bad" if status in FAILED else "skip" if status in SKIPPED else "ok"


@functools.lru_cache(maxsize=64)
def _bar_starts(width: int, height: int, count: int) -> list[str]:
    """ "M x,bottom v-" of each of `count` bars, right-aligned in SPARK_SLOTS slots."""
    slot = width / SPARK_SLOTS
    offset = width - slot * count
    return [f"M{offset + i * slot + 0.5:g},{height}v-" for i in range(count)]


def sparkline(points: Sequence[dict[str, Any]], width: int = 150, height: int = 30) -> Markup:
    """Recent durations as bars, oldest left, failed runs in red.

    The bars of one kind make one <path> ("M x,bottom v-h h w V bottom z" per bar): the
    summary draws one per job, and a <rect> per bar made them most of the page's bytes.
    Drawn from (duration, status) pairs and remembered: between two refreshes of the
    page most jobs have not run, and their bars are the same.
    """
    recent = tuple((float(p["duration_s"]), str(p["status"])) for p in points)
    return _sparkline(recent[-SPARK_SLOTS:], width, height)


@functools.lru_cache(maxsize=2048)
def _sparkline(points: tuple[tuple[float, str], ...], width: int, height: int) -> Markup:
    if not points:
        return Markup('<span class="muted">no runs</span>')
    values = [value for value, _status in points]
    top = max(values) or 1.0
    starts = _bar_starts(width, height, len(points))
    scale = (height - 2) / top
    tail = f"h{width / SPARK_SLOTS - 1:g}V{height}z"
    bars: dict[str, list[str]] = {}
    for start, (value, status) in zip(starts, points, strict=True):
        # The per-bar work is kept to one number to format.
        bars.setdefault(_kind(status), []).append(f"{start}{max(value * scale, 1.5):.1f}{tail}")
    failed = sum(1 for _value, status in points if status in FAILED)
    label = escape(
        f"durations of the {last_runs(len(points))}, oldest first: "
        f"{seconds(min(values))} to {seconds(top)}; "
        + (f"{failed} failed" if failed else "none failed")
    )
    paths = "".join(f'<path class="{kind}" d="{"".join(d)}"/>' for kind, d in bars.items())
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{label}"><title>{label}</title>'
        f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" class="base"/>'
        f"{paths}</svg>"
    )


def duration_memory_chart(runs: Sequence[dict[str, Any]]) -> Markup:
    """Duration bars (coloured by outcome) over a peak-memory line, oldest left."""
    if not runs:
        return Markup('<p class="muted">No runs yet.</p>')
    n = len(runs)
    slot = 10  # viewBox units per run; the SVG stretches to the page's width
    width = n * slot
    durations = [float(r["duration_s"] or 0) for r in runs]
    memory = [float(r["peak_rss_bytes"]) if r["peak_rss_bytes"] else None for r in runs]
    top_d = max(durations) or 1.0
    top_m = max((m for m in memory if m), default=0.0)
    bars = []
    for i, run in enumerate(runs):
        h = max(durations[i] / top_d * 98, 1.0)
        peak = memory[i]
        title = escape(
            f"{short_time(run['started_at'])}: {run['status']}, {seconds(durations[i])}"
            + (f", {mebibytes(peak)}" if peak else "")
        )
        bars.append(
            f'<rect x="{i * slot + 1.5}" y="{100 - h:.1f}" width="{slot - 3}" height="{h:.1f}" '
            f'class="{_kind(run["status"])}"><title>{title}</title></rect>'
        )
    fixed = 'vector-effect="non-scaling-stroke"'  # lines stay 1px however the SVG stretches
    grid = (
        f'<line x1="0" y1="50" x2="{width}" y2="50" class="grid" {fixed}/>'
        f'<line x1="0" y1="99.5" x2="{width}" y2="99.5" class="base" {fixed}/>'
    )
    failed = sum(1 for r in runs if r["status"] in FAILED)
    duration_svg = (
        f'<svg class="bars" viewBox="0 0 {width} 100" preserveAspectRatio="none" role="img" '
        f'aria-label="duration of the {last_runs(n)}, oldest first: longest '
        f'{seconds(top_d)}, {failed} failed">{grid}{"".join(bars)}</svg>'
    )
    memory_panel = ""
    if top_m:
        points = " ".join(
            f"{i * slot + slot / 2},{100 - m / top_m * 92:.1f}" for i, m in enumerate(memory) if m
        )
        memory_panel = (
            f'<div class="panel mem"><span class="scale">peak memory · max {mebibytes(top_m)}'
            f'</span><svg viewBox="0 0 {width} 100" preserveAspectRatio="none" role="img" '
            f'aria-label="peak memory of the {last_runs(n)}: at most {mebibytes(top_m)}">'
            f'{grid}<polyline points="{points}" class="mem" {fixed}/></svg></div>'
        )
    first, last = short_time(runs[0]["started_at"]), short_time(runs[-1]["started_at"])
    return Markup(
        f'<figure class="chart">'
        f'<figcaption><ul class="legend">'
        f'<li><span class="swatch ok"></span>succeeded</li>'
        f'<li><span class="swatch bad"></span>failed, timed out or killed</li>'
        f'<li><span class="swatch skip"></span>skipped</li>'
        f'<li><span class="swatch mem"></span>peak memory</li></ul></figcaption>'
        f'<div class="panel"><span class="scale">duration · max {seconds(top_d)}</span>'
        f"{duration_svg}</div>{memory_panel}"
        f'<div class="xaxis"><span>{escape(first)}</span><span>{last_runs(n)}</span>'
        f"<span>{escape(last)}</span></div></figure>"
    )


def run_timeline(
    start: dt.datetime,
    end: dt.datetime,
    runs: Sequence[tuple[dt.datetime, str]],
    missed: Sequence[dt.datetime],
) -> Markup:
    """A strip from `start` to `end` (naive UTC): each run a tick where it started,
    coloured by outcome, each missed slot a taller mark of its own below the line."""
    span = max((end - start).total_seconds(), 1.0)
    width = 1000

    def x(moment: dt.datetime) -> float:
        return round(min(max((moment - start).total_seconds() / span, 0.0), 1.0) * width, 1)

    ticks = "".join(
        f'<rect x="{x(moment) - 1.5}" y="4" width="3" height="18" class="{_kind(status)}">'
        f"<title>{escape(short_time(moment))}: {escape(status)}</title></rect>"
        for moment, status in runs
    )
    marks = "".join(
        f'<path d="M{x(moment)},26l-5,10h10z" class="missed">'
        f"<title>missed: {escape(short_time(moment))}</title></path>"
        for moment in missed
    )
    fixed = 'vector-effect="non-scaling-stroke"'
    label = escape(
        f"runs from {short_time(start)} to {short_time(end)}: {len(runs)} "
        f"{plural('run', len(runs))}, {len(missed)} missed {plural('slot', len(missed))}"
    )
    return Markup(
        f'<svg class="timeline" viewBox="0 0 {width} 40" preserveAspectRatio="none" '
        f'role="img" aria-label="{label}"><line x1="0" y1="23" x2="{width}" y2="23" '
        f'class="base" {fixed}/>{ticks}{marks}</svg>'
    )


def load_grid(hours: Sequence[Sequence[int | None]], start: dt.datetime) -> Markup:
    """Starts per minute as a grid, a clock hour a row (from the hour of `start`, UTC) and
    a minute a column, so that jobs piled on the same minute of every hour stand out as
    a dark column. None: a minute outside the window, drawn apart."""
    top = max((count or 0 for row in hours for count in row), default=0)
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    left, head = 34, 12  # room for the hour labels and the minute labels
    parts = [
        f'<text x="{left + minute * 10}" y="8" class="axis">:{minute:02d}</text>'
        for minute in (0, 15, 30, 45)
    ]
    for row, counts in enumerate(hours):
        hour = first_hour + dt.timedelta(hours=row)
        y = head + row * 10
        parts.append(f'<text x="0" y="{y + 8}" class="axis">{hour:%H:%M}</text>')
        for column, count in enumerate(counts):
            x = left + column * 10
            if count is None:
                parts.append(f'<rect x="{x}" y="{y}" width="9" height="9" class="out"/>')
                continue
            if not count:
                parts.append(f'<rect x="{x}" y="{y}" width="9" height="9" class="l0"/>')
                continue
            level = 1 + 3 * (count - 1) // max(top - 1, 1) if top > 1 else 4  # 1..4
            moment = hour + dt.timedelta(minutes=column)
            parts.append(
                f'<rect x="{x}" y="{y}" width="9" height="9" class="l{level}">'
                f"<title>{moment:%H:%M} UTC: {count} {plural('job', count)}</title></rect>"
            )
    height = head + max(len(hours), 1) * 10
    label = escape(
        f"job starts per minute from {start:%H:%M} UTC, a clock hour a row and a minute a "
        f"column; at most {top} in one minute"
    )
    return Markup(
        f'<svg class="load" viewBox="0 0 {left + 600} {height}" role="img" '
        f'aria-label="{label}">{"".join(parts)}</svg>'
    )
