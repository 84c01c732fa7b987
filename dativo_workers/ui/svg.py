"""Inline SVG plots: a run's partition timeline and a job's runs over time (no scripts, no CDN)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

STATE_COLOURS = {
    "done": "#2e7d32",
    "failed": "#c62828",
    "running": "#1565c0",
    "pending": "#9e9e9e",
    "cancelled": "#6d4c41",
}


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f}ms"
    return f"{value:.1f}s" if value < 60 else f"{value / 60:.1f}m"


def timeline(partitions: list[dict[str, Any]], origin: float) -> Markup:
    """One bar per partition: from its start to its end (now while running) on a shared time axis
    from the run's creation; a partition that never started is a short grey mark at the origin."""
    now = time.time()
    started = [p["started_at"] for p in partitions if p["started_at"]]
    delay = min(started) - origin if started else 0.0
    origin = min(started) if started else origin  # the axis starts with the first partition
    ends = [p["finished_at"] or (now if p["started_at"] else origin) for p in partitions]
    span = max([e - origin for e in ends] + [0.001])
    # one bar per partition always; a large run gets thinner rows (and no labels below 12 px) so
    # the timeline stays about 2,700 px tall at most
    label_w, plot_w = 150, 620
    row_h = 18 if len(partitions) <= 150 else max(1, 2700 // len(partitions))
    labelled = row_h >= 12
    height = row_h * len(partitions) + 30 + 16
    out = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 40}" '
        f'height="{height}" role="img" aria-label="partition timeline">'
    ]
    out.append(
        f'<text x="{label_w}" y="11" font-size="11" fill="#555">time from the first partition\'s start '
        f"({_seconds(max(0.0, delay))} after the run was planned)</text>"
    )
    out.append('<g transform="translate(0,16)">')
    for tick in range(5):
        x = label_w + plot_w * tick / 4
        out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 34}" stroke="#ddd"/>')
        stamp = _seconds(span * tick / 4)
        out.append(f'<text x="{x:.1f}" y="{height - 20}" font-size="10" text-anchor="middle">{stamp}</text>')
    for row, (p, end) in enumerate(zip(partitions, ends, strict=True)):
        y = row * row_h + (2 if labelled else 0)
        start = p["started_at"] or origin
        x = label_w + plot_w * max(0.0, start - origin) / span
        width = max(3.0, plot_w * max(0.0, end - start) / span)
        colour = STATE_COLOURS.get(p["state"], "#757575")
        title = f"partition {p['idx']} {p['label']}: {p['state']}, {p['attempts']} attempt(s)"
        if p["duration_s"] is not None:
            title += f", {_seconds(p['duration_s'])}"
        if p["error"]:
            title += f"\n{p['error']}"
        if labelled:
            label = p["label"] if len(p["label"]) <= 22 else "…" + p["label"][-21:]
            out.append(f'<text x="{label_w - 6}" y="{y + 12}" font-size="11" text-anchor="end">{escape(label)}</text>')
        out.append(
            f'<rect class="partition-bar state-{escape(p["state"])}" data-idx="{p["idx"]}" x="{x:.1f}" y="{y}" '
            f'width="{width:.1f}" height="{row_h - 4 if labelled else row_h}" rx="{2 if labelled else 0}" '
            f'fill="{colour}"><title>{escape(title)}</title></rect>'
        )
        if labelled and p["attempts"] > 1:
            out.append(f'<text x="{x + width + 4:.1f}" y="{y + 12}" font-size="10">x{p["attempts"]}</text>')
    out.append("</g></svg>")
    return Markup("".join(out))


def series(runs: list[dict[str, Any]], key: str, title: str, unit: str) -> Markup:
    """A line of ``key`` over the runs' start times, one dot per run (red: failed)."""
    width, height, left, bottom = 720, 200, 60, 30
    points = [(r["created_at"], float(r[key] or 0), r) for r in runs]
    out = [
        f'<svg class="series" data-key="{escape(key)}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{left}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
    ]
    if not points:
        out.append(f'<text x="{left}" y="60" font-size="12">no runs</text></svg>')
        return Markup("".join(out))
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    top = max(p[1] for p in points) or 1.0
    plot_w, plot_h = width - left - 20, height - bottom - 24

    def xy(t: float, v: float) -> tuple[float, float]:
        x = left + (plot_w * (t - t0) / (t1 - t0) if t1 > t0 else plot_w / 2)
        return x, 24 + plot_h - plot_h * v / top

    for frac in (0, 0.5, 1):
        y = 24 + plot_h - plot_h * frac
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{top * frac:,.1f}</text>')
    for t in {t0, t1}:
        x, _ = xy(t, 0)
        stamp = datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M:%S")
        anchor = "start" if t == t0 and t1 > t0 else ("end" if t1 > t0 else "middle")
        out.append(f'<text x="{x:.1f}" y="{height - 6}" font-size="10" text-anchor="{anchor}">{stamp} UTC</text>')
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v, _ in points))
    out.append(f'<polyline points="{line}" fill="none" stroke="#1565c0" stroke-width="1.5"/>')
    for t, v, r in points:
        x, y = xy(t, v)
        colour = "#c62828" if r["state"] == "failed" else "#1565c0"
        out.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
            f"<title>{escape(r['run_id'])} {escape(r['state'])}: {v:,.1f} {escape(unit)}</title></circle>"
        )
    out.append("</svg>")
    return Markup("".join(out))
