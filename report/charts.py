"""The report's SVG charts, each a function of released estimates returning safe markup.

Every value is interpolated with Markup.format, which escapes it; only the fixed element templates are trusted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup

from analysis.report_data import BenchmarkRow, SeriesPoint
from common.estimates import Estimate
from report.formatting import LEVEL, bounds, fmt, nice_ticks

M = Markup  # every piece below is a trusted template filled by .format, which escapes its arguments


def series_chart(points: Sequence[SeriesPoint]) -> Markup:
    """County index over time: line with a shaded 95% interval band and a base = 100 line (points non-empty)."""
    w, h, left, right, top, bottom = 960, 300, 56, 36, 16, 40
    lows_highs = [p.estimate.ci(LEVEL) for p in points]
    lo = min([lw for lw, _ in lows_highs] + [100.0])
    hi = max([hg for _, hg in lows_highs] + [100.0])
    ticks = nice_ticks(lo, hi)
    y0, y1 = ticks[0], ticks[-1]
    n = len(points)

    def x(i: int) -> float:
        return left + (w - left - right) * (0.5 if n == 1 else i / (n - 1))

    def y(v: float) -> float:
        return top + (h - top - bottom) * (y1 - v) / (y1 - y0)

    out = [M('<svg viewBox="0 0 {} {}" class="chart" role="img" aria-label="County index over time">').format(w, h)]
    for t in ticks:
        out.append(
            M('<line class="grid" x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}"/>').format(left, w - right, y(t), y(t))
        )
        out.append(
            M('<text class="tick" x="{}" y="{:.1f}" text-anchor="end">{}</text>').format(left - 6, y(t) + 4, fmt(t, 1))
        )
    band = [f"{x(i):.1f},{y(hg):.1f}" for i, (_, hg) in enumerate(lows_highs)]
    band += [f"{x(i):.1f},{y(lw):.1f}" for i, (lw, _) in reversed(list(enumerate(lows_highs)))]
    if n > 1:
        out.append(M('<polygon class="band" points="{}"/>').format(" ".join(band)))
    out.append(
        M('<line class="base" x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}"/>').format(left, w - right, y(100), y(100))
    )
    out.append(
        M('<text class="baselabel" x="{}" y="{:.1f}" text-anchor="end">base = 100</text>').format(w - right, y(100) - 5)
    )
    line = " ".join(f"{x(i):.1f},{y(p.estimate.value):.1f}" for i, p in enumerate(points))
    out.append(M('<polyline class="line" points="{}"/>').format(line))
    step = max(1, math.ceil(n / 12))
    for i, (p, (lw, hg)) in enumerate(zip(points, lows_highs, strict=True)):
        tip = f"{p.month}: {fmt(p.estimate.value, 1)} (95% interval {fmt(lw, 1)} to {fmt(hg, 1)})"
        out.append(
            M('<line class="whisker" x1="{0:.1f}" x2="{0:.1f}" y1="{1:.1f}" y2="{2:.1f}"/>').format(x(i), y(lw), y(hg))
        )
        out.append(
            M('<circle class="dot" cx="{:.1f}" cy="{:.1f}" r="4"><title>{}</title></circle>').format(
                x(i), y(p.estimate.value), tip
            )
        )
        if i % step == 0 or i == n - 1:
            out.append(
                M('<text class="tick" x="{:.1f}" y="{}" text-anchor="middle">{}</text>').format(x(i), h - 14, p.month)
            )
    out.append(M("</svg>"))
    return M("").join(out)


def latest_headline(points: Sequence[SeriesPoint]) -> Markup:
    """The latest month's index and interval as a headline line (points non-empty)."""
    latest = points[-1]
    low, high = latest.estimate.ci(LEVEL)
    return M('<p class="headline">Latest ({}): <b>{}</b> <span class="ci">(95% interval {} to {})</span></p>').format(
        latest.month, fmt(latest.estimate.value, 1), fmt(low, 1), fmt(high, 1)
    )


def benchmark_chart(rows: Sequence[BenchmarkRow]) -> Markup:
    """Districts as horizontal interval bars, highest need first, with rank ranges and changes (rows non-empty)."""
    rows = sorted(rows, key=lambda r: (r.rank.point, r.name))
    row_h, head = 30, 34
    w, name_w, bar_l, bar_r = 960, 190, 200, 560
    h = head + row_h * len(rows) + 26
    top_value = max(bounds(r.rate, 0.0)[1] for r in rows)
    ticks = nice_ticks(0.0, top_value or 1.0)
    xmax = ticks[-1]

    def x(v: float) -> float:
        return bar_l + (bar_r - bar_l) * v / xmax

    out = [M('<svg viewBox="0 0 {} {}" class="chart" role="img" aria-label="District benchmarks">').format(w, h)]
    for label, xpos, anchor in (
        ("rate (95% interval)", (bar_l + bar_r) / 2, "middle"),
        ("rank", 610, "middle"),
        ("change on month", 735, "middle"),
        ("change on year", 885, "middle"),
    ):
        out.append(M('<text class="colhead" x="{}" y="16" text-anchor="{}">{}</text>').format(xpos, anchor, label))
    for t in ticks:
        out.append(M('<line class="grid" x1="{0:.1f}" x2="{0:.1f}" y1="{1}" y2="{2}"/>').format(x(t), head - 8, h - 22))
        out.append(
            M('<text class="tick" x="{:.1f}" y="{}" text-anchor="middle">{}</text>').format(x(t), h - 6, fmt(t, 0))
        )
    for i, r in enumerate(rows):
        cy = head + row_h * i + row_h / 2
        low, high = bounds(r.rate, 0.0)
        tip = f"{r.name}: {fmt(r.rate.value, 1)} per 1,000 (95% interval {fmt(low, 1)} to {fmt(high, 1)})"
        if i % 2 == 0:
            out.append(
                M('<rect class="stripe" x="0" y="{:.1f}" width="{}" height="{}"/>').format(cy - row_h / 2, w, row_h)
            )
        out.append(M('<text class="name" x="{}" y="{:.1f}" text-anchor="end">{}</text>').format(name_w, cy + 4, r.name))
        out.append(
            M(
                '<g><title>{}</title><rect class="ibar" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="12" rx="6"/>'
                '<circle class="dot" cx="{:.1f}" cy="{:.1f}" r="4.5"/></g>'
            ).format(tip, x(low), cy - 6, max(x(high) - x(low), 1), x(max(r.rate.value, 0.0)), cy)
        )
        out.append(
            M('<text class="val" x="{:.1f}" y="{:.1f}">{}</text>').format(x(high) + 6, cy + 4, fmt(r.rate.value, 1))
        )
        out.append(
            M('<text class="rank" x="610" y="{:.1f}" text-anchor="middle">{}</text>').format(cy + 4, r.rank.label)
        )
        for e, xpos in ((r.change_month, 735), (r.change_year, 885)):
            out.append(
                M('<text class="chg" x="{}" y="{:.1f}" text-anchor="middle">{}</text>').format(
                    xpos, cy + 4, change_text(e)
                )
            )
    out.append(M("</svg>"))
    return M("").join(out)


def change_text(e: Estimate | None) -> Markup:
    """Signed change with interval for SVG text; marks changes whose interval excludes zero."""
    if e is None:
        return M('<tspan class="na">n/a</tspan>')
    low, high = e.ci(LEVEL)
    sure = low > 0 or high < 0
    head = M('<tspan class="sure">{}</tspan>') if sure else M("<tspan>{}</tspan>")
    return head.format(fmt(e.value, 1, signed=True)) + M('<tspan class="ci"> ({} to {})</tspan>').format(
        fmt(low, 1, signed=True), fmt(high, 1, signed=True)
    )


def mini_bar(e: Estimate, top: float) -> Markup:
    """Small inline bar (value) with a whisker (95% interval) on a shared column scale."""
    w, h = 140, 14
    low, high = bounds(e, 0.0)
    top = top or 1.0

    def x(v: float) -> float:
        return 1 + (w - 2) * min(v, top) / top

    return M(
        '<svg class="mini" viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-hidden="true">'
        '<rect class="minibar" x="1" y="3" width="{bar:.1f}" height="8"/>'
        '<line class="miniwhisker" x1="{lo:.1f}" x2="{hi:.1f}" y1="7" y2="7"/>'
        '<line class="miniwhisker" x1="{lo:.1f}" x2="{lo:.1f}" y1="3" y2="11"/>'
        '<line class="miniwhisker" x1="{hi:.1f}" x2="{hi:.1f}" y1="3" y2="11"/></svg>'
    ).format(w=w, h=h, bar=x(max(e.value, 0.0)) - 1, lo=x(low), hi=x(high))


def budget_level(fraction: float) -> str:
    """How worrying a spent fraction is: ok below 70%, warn below 90%, high above."""
    return "ok" if fraction < 0.7 else "warn" if fraction < 0.9 else "high"


def budget_bar(fraction: float) -> Markup:
    """A rounded bar of the budget spent, coloured by budget_level."""
    width = 260
    return M(
        '<svg class="budget" viewBox="0 0 {w} 16" width="{w}" height="16" aria-hidden="true">'
        '<rect class="track" x="0" y="2" width="{w}" height="12" rx="6"/>'
        '<rect class="spent {level}" x="0" y="2" width="{spent:.1f}" height="12" rx="6"/></svg>'
    ).format(w=width, level=budget_level(fraction), spent=width * min(max(fraction, 0.0), 1.0))
