"""Small inline SVG charts for the page: no JavaScript, no external assets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

FAILED = {"failed", "timeout", "killed_memory", "error", "lost"}


def sparkline(points: Sequence[dict[str, Any]], width: int = 120, height: int = 28) -> Markup:
    """Durations as a line, failed runs as red dots."""
    if not points:
        return Markup('<span class="muted">no runs</span>')
    values = [float(p["duration_s"]) for p in points]
    top = max(values) or 1.0
    step = width / max(len(values) - 1, 1)
    coords = [
        (round(i * step, 1), round(height - 2 - (v / top) * (height - 4), 1))
        for i, v in enumerate(values)
    ]
    line = " ".join(f"{x},{y}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x}" cy="{y}" r="2.5" class="bad"/>'
        for (x, y), p in zip(coords, points, strict=True)
        if p["status"] in FAILED
    )
    label = escape(f"last {len(values)} durations, longest {top:.1f}s")
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{label}"><polyline points="{line}"/>{dots}</svg>'
    )


def duration_memory_chart(
    runs: Sequence[dict[str, Any]], width: int = 720, height: int = 180
) -> Markup:
    """Bars of duration (coloured by status) with a line of peak memory, oldest left."""
    if not runs:
        return Markup('<p class="muted">No runs yet.</p>')
    pad = 30
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    durations = [float(r["duration_s"]) for r in runs]
    memory = [float(r["peak_rss_bytes"] or 0) for r in runs]
    top_d = max(durations) or 1.0
    top_m = max(memory) or 1.0
    slot = inner_w / len(runs)
    bars, points = [], []
    for i, run in enumerate(runs):
        h = durations[i] / top_d * inner_h
        x = pad + i * slot
        css = "bad" if run["status"] in FAILED else "ok"
        title = escape(f"{run['started_at']}: {run['status']}, {durations[i]:.2f}s")
        bars.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{pad + inner_h - h:.1f}" '
            f'width="{max(slot * 0.7, 1):.1f}" height="{max(h, 1):.1f}" class="{css}">'
            f"<title>{title}</title></rect>"
        )
        if memory[i]:
            points.append(f"{x + slot / 2:.1f},{pad + inner_h - memory[i] / top_m * inner_h:.1f}")
    mem_line = f'<polyline class="mem" points="{" ".join(points)}"/>' if points else ""
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="duration and memory of the last {len(runs)} runs">'
        f'<text x="{pad}" y="{pad - 10}" class="axis">duration (bars), max {top_d:.1f}s</text>'
        f'<text x="{width - pad}" y="{pad - 10}" class="axis end">'
        f"peak memory (line), max {top_m / 2**20:.0f} MiB</text>"
        f'<line x1="{pad}" y1="{pad + inner_h}" x2="{width - pad}" y2="{pad + inner_h}" '
        f'class="base"/>{"".join(bars)}{mem_line}</svg>'
    )
