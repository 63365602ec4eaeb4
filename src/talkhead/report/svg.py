"""Plots as inline SVG: histograms and line charts that a browser draws with no script and no network.

The size of a plot depends on its bins and points, never on how many clips went into it, so a report
over 100,000 clips is as small as one over ten. Colours: accepted / rejected and the line series use
a fixed palette readable on white.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import numpy as np

WIDTH, HEIGHT = 360, 200
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 10, 26, 34
MAX_POINTS = 400  # a line chart keeps at most this many evenly spaced points of a long curve
PALETTE = ("#2b7bba", "#d1495b", "#edae49", "#00798c", "#6a4c93", "#66a182", "#8d8d8d", "#30638e")


def _fmt(value: float) -> str:
    """A tick label: short, no trailing zeros."""
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.3g}"
    return f"{value:.1e}"


LEGEND_COLUMNS, LEGEND_ROW = 3, 13


def _frame(title: str, x_label: str, lo: float, hi: float, top: float, y_label: str, legend: int) -> list[str]:
    """The SVG's opening (room for `legend` names below the plot), title, axes and their end ticks
    (x: lo..hi, y: 0..top)."""
    x0, x1, y0, y1 = PAD_LEFT, WIDTH - PAD_RIGHT, HEIGHT - PAD_BOTTOM, PAD_TOP
    height = HEIGHT + LEGEND_ROW * -(-legend // LEGEND_COLUMNS) + 4
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(title)}" class="plot">',
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" class="plot-title">{escape(title)}</text>',
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" class="axis"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" class="axis"/>',
        f'<text x="{x0}" y="{y0 + 14}" text-anchor="start" class="tick">{_fmt(lo)}</text>',
        f'<text x="{x1}" y="{y0 + 14}" text-anchor="end" class="tick">{_fmt(hi)}</text>',
        f'<text x="{(x0 + x1) / 2}" y="{HEIGHT - 4}" text-anchor="middle" class="tick">{escape(x_label)}</text>',
        f'<text x="{x0 - 4}" y="{y1 + 4}" text-anchor="end" class="tick">{_fmt(top)}</text>',
        f'<text x="{x0 - 4}" y="{y0}" text-anchor="end" class="tick">0</text>',
        f'<text x="10" y="{(y0 + y1) / 2}" text-anchor="middle" class="tick" '
        f'transform="rotate(-90 10 {(y0 + y1) / 2})">{escape(y_label)}</text>',
    ]


def _legend(names: Sequence[str]) -> list[str]:
    """Coloured names under the plot, LEGEND_COLUMNS per row."""
    out = []
    column_w = (WIDTH - PAD_LEFT) / LEGEND_COLUMNS
    for k, name in enumerate(names):
        x = PAD_LEFT + column_w * (k % LEGEND_COLUMNS)
        y = HEIGHT + 8 + LEGEND_ROW * (k // LEGEND_COLUMNS)
        out.append(f'<rect x="{x:.0f}" y="{y - 7}" width="8" height="8" fill="{PALETTE[k % len(PALETTE)]}"/>')
        out.append(f'<text x="{x + 11:.0f}" y="{y}" class="tick">{escape(name[:20])}</text>')
    return out


def histogram(series: Mapping[str, Sequence[float]], title: str, x_label: str, bins: int = 30,
              marks: Mapping[str, float] | None = None) -> str:
    """Stacked histogram of each named series (e.g. accepted, rejected) over shared bins, with vertical
    marks (e.g. a threshold) labelled by name. NaN values are left out; an empty plot says so."""
    clean = {name: np.asarray(v, dtype=float) for name, v in series.items()}
    clean = {name: v[np.isfinite(v)] for name, v in clean.items()}
    values = np.concatenate(list(clean.values())) if clean else np.zeros(0)
    marks = {k: float(v) for k, v in (marks or {}).items() if v is not None and np.isfinite(v)}
    if not values.size:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="60" class="plot" role="img" '
                f'aria-label="{escape(title)}"><text x="10" y="20" class="plot-title">{escape(title)}</text>'
                '<text x="10" y="44" class="tick">no measured values</text></svg>')
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    counts = {name: np.histogram(v, bins=edges)[0] for name, v in clean.items()}  # (bins,) each
    top = float(max(1, np.sum(list(counts.values()), axis=0).max()))
    out = _frame(title, x_label, lo, hi, top, "clips", len(counts))
    x0, plot_w, y0, plot_h = PAD_LEFT, WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_BOTTOM, HEIGHT - PAD_BOTTOM - PAD_TOP
    bar_w = plot_w / bins
    below = np.zeros(bins)
    for k, (name, c) in enumerate(counts.items()):
        colour = PALETTE[k % len(PALETTE)]
        for b in np.flatnonzero(c):
            h = c[b] / top * plot_h
            y = y0 - below[b] / top * plot_h - h
            out.append(f'<rect x="{x0 + b * bar_w:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                       f'height="{h:.1f}" fill="{colour}"><title>{escape(name)}: {int(c[b])} in '
                       f'[{_fmt(edges[b])}, {_fmt(edges[b + 1])})</title></rect>')
        below += c
    for name, at in marks.items():
        if lo <= at <= hi:
            x = x0 + (at - lo) / (hi - lo) * plot_w
            out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{PAD_TOP}" class="mark"/>')
            out.append(f'<text x="{x + 2:.1f}" y="{PAD_TOP + 8}" class="tick mark-label">{escape(name)}</text>')
    out += _legend(list(counts)) + ["</svg>"]
    return "\n".join(out)


def lines(x: Sequence[float], series: Mapping[str, Sequence[float]], title: str, x_label: str,
          y_label: str = "") -> str:
    """Line chart of each named series against x (shared y axis from 0 or the lowest value); '' when there is
    nothing to draw (fewer than two points)."""
    xs = np.asarray(x, dtype=float)
    keep = np.unique(np.linspace(0, xs.size - 1, min(xs.size, MAX_POINTS)).round().astype(int)) if xs.size else []
    xs = xs[keep]
    ys = {name: np.asarray(v, dtype=float)[keep] for name, v in series.items()}
    finite = np.concatenate([v[np.isfinite(v)] for v in ys.values()]) if ys else np.zeros(0)
    if xs.size < 2 or not finite.size:
        return ""
    lo_x, hi_x = float(np.nanmin(xs)), float(np.nanmax(xs))
    hi_x = hi_x if hi_x > lo_x else lo_x + 1
    lo_y, hi_y = min(0.0, float(finite.min())), float(finite.max())
    hi_y = hi_y if hi_y > lo_y else lo_y + 1
    out = _frame(title, x_label, lo_x, hi_x, hi_y, y_label, len(ys))
    if lo_y < 0:
        out.append(f'<text x="{PAD_LEFT - 4}" y="{HEIGHT - PAD_BOTTOM - 10}" text-anchor="end" class="tick">'
                   f'{_fmt(lo_y)}</text>')
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_BOTTOM - PAD_TOP
    for k, (name, v) in enumerate(ys.items()):
        ok = np.isfinite(v) & np.isfinite(xs)
        px = PAD_LEFT + (xs[ok] - lo_x) / (hi_x - lo_x) * plot_w
        py = HEIGHT - PAD_BOTTOM - (v[ok] - lo_y) / (hi_y - lo_y) * plot_h
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py))
        out.append(f'<polyline points="{points}" fill="none" stroke="{PALETTE[k % len(PALETTE)]}" '
                   f'stroke-width="1.5"><title>{escape(name)}</title></polyline>')
    out += _legend(list(ys)) + ["</svg>"]
    return "\n".join(out)
