"""The county report: one self-contained HTML file (inline CSS and SVG, no scripts, no fetches).

Everything shown is a differentially private estimate or post-processing of one; this module only draws.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources

from coordinator.benchmarks import RankRange
from coordinator.estimates import Estimate, add

__all__ = [
    "ATTRIBUTION",
    "LICENCE_URL",
    "BenchmarkRow",
    "BudgetRow",
    "CampaignRow",
    "ReportData",
    "SeriesPoint",
    "UnclaimedRow",
    "render_report",
]

# From reference/WARDS_SOURCE.md: the boundaries are adapted ONS data under OGL v3.0.
LICENCE_URL = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
ATTRIBUTION = (
    "Adapted from data from the Office for National Statistics licensed under the Open Government "
    "Licence v.3.0. Contains OS data © Crown copyright and database right 2025."
)
OUT_OF_SCOPE_LADS = frozenset({"E06000035"})  # Medway: a unitary council, not one of the 12 districts
LEVEL = 0.95

# ---------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class SeriesPoint:
    """One month of the county index."""

    month: str
    estimate: Estimate


@dataclass(frozen=True)
class BenchmarkRow:
    """One district's benchmark rate (per 1,000 households), rank range and changes."""

    district_code: str
    name: str
    rate: Estimate
    rank: RankRange
    change_month: Estimate | None = None
    change_year: Estimate | None = None
    vs_county: Estimate | None = None  # district rate minus the county rate


@dataclass(frozen=True)
class UnclaimedRow:
    """Unclaimed support found in one district's records."""

    district_code: str
    name: str
    pc_households: Estimate
    pc_value: Estimate  # £ a year
    fsm_children: Estimate


@dataclass(frozen=True)
class CampaignRow:
    """Results of one take-up campaign."""

    district_code: str
    name: str
    campaign: str
    contacted: Estimate
    claimed: Estimate
    gained: Estimate  # £ a year


@dataclass(frozen=True)
class BudgetRow:
    """A node's privacy budget use for the period."""

    district_code: str
    name: str
    spent_rho: float
    total_rho: float
    epsilon_spent: float
    delta: float


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows; all estimates are already released (noisy) values."""

    title: str
    generated_at: datetime
    county_series: list[SeriesPoint] = field(default_factory=list)
    district_rows: list[BenchmarkRow] = field(default_factory=list)
    ward_index: dict[str, Estimate] = field(default_factory=dict)
    unclaimed: list[UnclaimedRow] = field(default_factory=list)
    campaigns: list[CampaignRow] = field(default_factory=list)
    budgets: list[BudgetRow] = field(default_factory=list)
    missing_districts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    benchmark_measure: str = "Households in crisis per 1,000 households"


# ------------------------------------------------------------------------------------------ formatting

MINUS = "\u2212"


def esc(text: object) -> str:
    """HTML-escape any value for text or a quoted attribute."""
    return html.escape(str(text), quote=True)


def fmt(x: float, decimals: int = 0, *, signed: bool = False) -> str:
    """Thousands separators, a true minus sign, optional explicit plus."""
    text = f"{abs(x):,.{decimals}f}"
    if round(x, decimals) == 0:
        return text
    if x < 0:
        return MINUS + text
    return "+" + text if signed else text


def fmt_money(x: float, ref: float | None = None) -> str:
    """£ in a compact unit chosen from ref (default x): £850, £12,300, £223k, £1.23m.

    Pass the interval's largest magnitude as ref so a value and its interval share one unit.
    """
    sign, a, r = (MINUS if x < 0 else ""), abs(x), abs(x if ref is None else ref)
    if r >= 1e6:
        return f"{sign}£{a / 1e6:,.2f}m"
    if r >= 1e5:
        return f"{sign}£{a / 1e3:,.0f}k"
    return f"{sign}£{a:,.0f}"


Formatter = Callable[[float, float], str]  # (number, magnitude of the figure it belongs to) -> text


def count_fmt(v: float, ref: float = 0.0) -> str:
    """Whole number with thousands separators (ref unused; keeps the Formatter shape)."""
    return fmt(v, 0)


def bounds(e: Estimate, floor: float | None) -> tuple[float, float]:
    """The 95% interval, cut at floor for quantities that cannot be negative (still covers the truth)."""
    low, high = e.ci(LEVEL)
    if floor is not None:
        low, high = max(low, floor), max(high, floor)
    return low, high


def with_interval(e: Estimate, fmt_one: Formatter, *, floor: float | None = 0.0) -> str:
    """'12.3 (10.1 to 14.5)' as HTML, the interval in a muted span; cut at floor (None: no cut)."""
    low, high = bounds(e, floor)
    value = max(e.value, floor) if floor is not None else e.value
    ref = max(abs(value), abs(low), abs(high))
    head = fmt_one(value, ref)
    return f'{esc(head)} <span class="ci">({esc(fmt_one(low, ref))} to {esc(fmt_one(high, ref))})</span>'


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round-number axis ticks covering [low, high]."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(low / step) * step
    return [start + i * step for i in range(int(math.ceil((high - start) / step)) + 1)]


# ----------------------------------------------------------------------------------------- geography


@dataclass(frozen=True)
class Ward:
    """One ward's identity and outline (rings of lon/lat)."""

    ward_code: str
    ward_name: str
    lad_code: str
    lad_name: str
    rings: tuple[tuple[tuple[float, float], ...], ...]


@cache
def wards() -> tuple[Ward, ...]:
    """The reference ward boundaries, read once."""
    with resources.files("reference").joinpath("kent_wards.geojson").open(encoding="utf-8") as f:
        geo = json.load(f)
    out = []
    for feat in geo["features"]:
        p, g = feat["properties"], feat["geometry"]
        polygons = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        rings = tuple(tuple((float(x), float(y)) for x, y in ring) for poly in polygons for ring in poly)
        out.append(Ward(p["ward_code"], p["ward_name"], p["lad_code"], p["lad_name"], rings))
    return tuple(out)


@cache
def district_label_points() -> dict[str, tuple[str, float, float]]:
    """Area-weighted mean of ward centroids per district (lad_code -> name, lon, lat), for labels."""
    acc: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    names: dict[str, str] = {}
    with resources.files("reference").joinpath("kent_wards.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            a = float(row["area_km2"])
            s = acc[row["lad_code"]]
            s[0] += a
            s[1] += a * float(row["centroid_lon"])
            s[2] += a * float(row["centroid_lat"])
            names[row["lad_code"]] = row["lad_name"]
    return {code: (names[code], s[1] / s[0], s[2] / s[0]) for code, s in acc.items()}


@dataclass(frozen=True)
class Projection:
    """Equirectangular projection, x stretched by cos(mean latitude) so shapes are not squashed."""

    lon0: float
    lat1: float
    k: float
    kx: float
    width: float
    height: float

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return (round((lon - self.lon0) * self.kx, 1), round((self.lat1 - lat) * self.k, 1))

    def tenths(self, lon: float, lat: float) -> tuple[int, int]:
        """Projected point in integer tenths of an SVG unit (the 1-decimal grid the paths are drawn on)."""
        return (round((lon - self.lon0) * self.kx * 10), round((self.lat1 - lat) * self.k * 10))


def fit_projection(items: Sequence[Ward], width: float) -> Projection:
    """Projection that fits the wards' bounding box to the given width."""
    lons = [x for w in items for r in w.rings for x, _ in r]
    lats = [y for w in items for r in w.rings for _, y in r]
    stretch = math.cos(math.radians((min(lats) + max(lats)) / 2))
    k = width / ((max(lons) - min(lons)) * stretch)
    return Projection(min(lons), max(lats), k, k * stretch, width, (max(lats) - min(lats)) * k)


def _num(tenths: int) -> str:
    """A coordinate in tenths as the shortest SVG number: 12 -> '1.2', -3 -> '-.3', 40 -> '4'."""
    sign, a = ("-" if tenths < 0 else ""), abs(tenths)
    whole, frac = divmod(a, 10)
    text = (str(whole) if whole else "") + (f".{frac}" if frac else "")
    return sign + (text or "0")


def _pair(dx: int, dy: int) -> str:
    # A minus sign separates numbers by itself; otherwise a comma is needed.
    y = _num(dy)
    return _num(dx) + ("" if y.startswith("-") else ",") + y


def _polyline(points: Sequence[tuple[int, int]]) -> str:
    """Absolute move to the first point, then relative lines: exact, since deltas are whole tenths."""
    (x0, y0), out = points[0], []
    out.append(f"M{_pair(x0, y0)}")
    if len(points) > 1:
        steps = [_pair(b[0] - a[0], b[1] - a[1]) for a, b in zip(points, points[1:], strict=False)]
        out.append("l" + " ".join(steps))
    return "".join(out)


def ring_path(ring: Iterable[tuple[float, float]], proj: Projection) -> str:
    """SVG subpath for one ring on the 0.1-unit grid, dropping points that round onto the previous one."""
    pts: list[tuple[int, int]] = []
    for lon, lat in ring:
        p = proj.tenths(lon, lat)
        if not pts or p != pts[-1]:
            pts.append(p)
    return _polyline(pts) + "Z"


def district_outline(items: Sequence[Ward], proj: Projection) -> str:
    """Path of edges on a district border or the coast: edges not shared by two wards of one district."""
    owners: dict[tuple[tuple[float, float], tuple[float, float]], list[str]] = defaultdict(list)

    def key(
        a: tuple[float, float], b: tuple[float, float]
    ) -> tuple[tuple[float, float], tuple[float, float]]:
        return (a, b) if a <= b else (b, a)

    for w in items:
        for ring in w.rings:
            for a, b in zip(ring, ring[1:], strict=False):
                owners[key(a, b)].append(w.lad_code)
    runs: list[list[tuple[int, int]]] = []
    drawn: set[tuple[tuple[float, float], tuple[float, float]]] = set()
    for w in items:
        for ring in w.rings:
            open_run = False
            for a, b in zip(ring, ring[1:], strict=False):
                k = key(a, b)
                lads = owners[k]
                border = len(lads) == 1 or lads[0] != lads[1]
                if not border or k in drawn:
                    open_run = False
                    continue
                drawn.add(k)
                # Continue the current polyline while edges follow on, to keep the path short.
                if not open_run:
                    runs.append([proj.tenths(*a)])
                pb = proj.tenths(*b)
                if pb != runs[-1][-1]:
                    runs[-1].append(pb)
                open_run = True
    parts = [_polyline(run) for run in runs if len(run) > 1]
    return " ".join(parts)


# --------------------------------------------------------------------------------------------- colour

# Sequential, colour-blind-safe ramp (ColorBrewer OrRd), dark = low index = worse living standards.
RAMP = ("#7f0000", "#b30000", "#d7301f", "#ef6548", "#fc8d59", "#fdbb84", "#fdd49e", "#fee8c8", "#fff7ec")


def ramp_colour(t: float) -> str:
    """Colour at position t in [0, 1] of RAMP, linearly interpolated in RGB."""
    t = min(max(t, 0.0), 1.0) * (len(RAMP) - 1)
    i = min(int(t), len(RAMP) - 2)
    f = t - i
    a, b = RAMP[i], RAMP[i + 1]
    rgb = [round(int(a[j : j + 2], 16) * (1 - f) + int(b[j : j + 2], 16) * f) for j in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


# ------------------------------------------------------------------------------------------- sections


def section(title: str, body: str, intro: str = "") -> str:
    """A titled card."""
    lead = f'<p class="lead">{esc(intro)}</p>' if intro else ""
    return f"<section><h2>{esc(title)}</h2>{lead}{body}</section>"


def empty(text: str) -> str:
    """Placeholder for a section with nothing to show."""
    return f'<p class="empty">{esc(text)}</p>'


def series_chart(points: Sequence[SeriesPoint]) -> str:
    """County index over time: line with a shaded 95% interval band and a base = 100 line."""
    if not points:
        return empty("No index values yet.")
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

    out = [f'<svg viewBox="0 0 {w} {h}" class="chart" role="img" aria-label="County index over time">']
    for t in ticks:
        out.append(f'<line class="grid" x1="{left}" x2="{w - right}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>')
        out.append(
            f'<text class="tick" x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{fmt(t, 1)}</text>'
        )
    band = [f"{x(i):.1f},{y(hg):.1f}" for i, (_, hg) in enumerate(lows_highs)]
    band += [f"{x(i):.1f},{y(lw):.1f}" for i, (lw, _) in reversed(list(enumerate(lows_highs)))]
    if n > 1:
        out.append(f'<polygon class="band" points="{" ".join(band)}"/>')
    out.append(f'<line class="base" x1="{left}" x2="{w - right}" y1="{y(100):.1f}" y2="{y(100):.1f}"/>')
    out.append(
        f'<text class="baselabel" x="{w - right}" y="{y(100) - 5:.1f}" text-anchor="end">base = 100</text>'
    )
    line = " ".join(f"{x(i):.1f},{y(p.estimate.value):.1f}" for i, p in enumerate(points))
    out.append(f'<polyline class="line" points="{line}"/>')
    step = max(1, math.ceil(n / 12))
    for i, (p, (lw, hg)) in enumerate(zip(points, lows_highs, strict=True)):
        tip = f"{p.month}: {fmt(p.estimate.value, 1)} (95% interval {fmt(lw, 1)} to {fmt(hg, 1)})"
        out.append(
            f'<line class="whisker" x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(lw):.1f}" y2="{y(hg):.1f}"/>'
        )
        out.append(
            f'<circle class="dot" cx="{x(i):.1f}" cy="{y(p.estimate.value):.1f}" r="4">'
            f"<title>{esc(tip)}</title></circle>"
        )
        if i % step == 0 or i == n - 1:
            out.append(
                f'<text class="tick" x="{x(i):.1f}" y="{h - 14}" text-anchor="middle">{esc(p.month)}</text>'
            )
    out.append("</svg>")
    latest = points[-1]
    summary = (
        f'<p class="headline">Latest ({esc(latest.month)}): <b>{fmt(latest.estimate.value, 1)}</b> '
        f'<span class="ci">(95% interval {esc(fmt(latest.estimate.ci(LEVEL)[0], 1))} to '
        f"{esc(fmt(latest.estimate.ci(LEVEL)[1], 1))})</span></p>"
    )
    return summary + "".join(out)


def benchmark_chart(rows: Sequence[BenchmarkRow]) -> str:
    """Districts as horizontal interval bars, highest need first, with rank ranges and changes."""
    if not rows:
        return empty("No district benchmarks yet.")
    rows = sorted(rows, key=lambda r: (r.rank.point, r.name))
    row_h, head = 30, 34
    w, name_w, bar_l, bar_r = 960, 190, 200, 560
    h = head + row_h * len(rows) + 26
    top_value = max(bounds(r.rate, 0.0)[1] for r in rows)
    ticks = nice_ticks(0.0, top_value or 1.0)
    xmax = ticks[-1]

    def x(v: float) -> float:
        return bar_l + (bar_r - bar_l) * v / xmax

    out = [f'<svg viewBox="0 0 {w} {h}" class="chart" role="img" aria-label="District benchmarks">']
    for label, xpos, anchor in (
        ("rate (95% interval)", (bar_l + bar_r) / 2, "middle"),
        ("rank", 610, "middle"),
        ("change on month", 735, "middle"),
        ("change on year", 885, "middle"),
    ):
        out.append(f'<text class="colhead" x="{xpos}" y="16" text-anchor="{anchor}">{label}</text>')
    for t in ticks:
        out.append(f'<line class="grid" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{head - 8}" y2="{h - 22}"/>')
        out.append(f'<text class="tick" x="{x(t):.1f}" y="{h - 6}" text-anchor="middle">{fmt(t, 0)}</text>')
    for i, r in enumerate(rows):
        cy = head + row_h * i + row_h / 2
        low, high = bounds(r.rate, 0.0)
        tip = f"{r.name}: {fmt(r.rate.value, 1)} per 1,000 (95% interval {fmt(low, 1)} to {fmt(high, 1)})"
        if i % 2 == 0:
            out.append(f'<rect class="stripe" x="0" y="{cy - row_h / 2:.1f}" width="{w}" height="{row_h}"/>')
        out.append(f'<text class="name" x="{name_w}" y="{cy + 4:.1f}" text-anchor="end">{esc(r.name)}</text>')
        out.append(
            f"<g><title>{esc(tip)}</title>"
            f'<rect class="ibar" x="{x(low):.1f}" y="{cy - 6:.1f}" width="{max(x(high) - x(low), 1):.1f}" '
            f'height="12" rx="6"/>'
            f'<circle class="dot" cx="{x(max(r.rate.value, 0.0)):.1f}" cy="{cy:.1f}" r="4.5"/></g>'
        )
        out.append(f'<text class="val" x="{x(high) + 6:.1f}" y="{cy + 4:.1f}">{fmt(r.rate.value, 1)}</text>')
        out.append(
            f'<text class="rank" x="610" y="{cy + 4:.1f}" text-anchor="middle">{esc(r.rank.label)}</text>'
        )
        for e, xpos in ((r.change_month, 735), (r.change_year, 885)):
            out.append(
                f'<text class="chg" x="{xpos}" y="{cy + 4:.1f}" text-anchor="middle">{change_text(e)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def change_text(e: Estimate | None) -> str:
    """Signed change with interval for SVG text; marks changes whose interval excludes zero."""
    if e is None:
        return '<tspan class="na">n/a</tspan>'
    low, high = e.ci(LEVEL)
    sure = low > 0 or high < 0
    cls = ' class="sure"' if sure else ""
    return (
        f"<tspan{cls}>{esc(fmt(e.value, 1, signed=True))}</tspan>"
        f'<tspan class="ci"> ({esc(fmt(low, 1, signed=True))} to {esc(fmt(high, 1, signed=True))})</tspan>'
    )


MAP_WIDTH = 900.0


@cache
def map_geometry() -> tuple[Projection, tuple[str, ...], str]:
    """Projection, one path per ward (in wards() order) and the district outline, computed once."""
    items = wards()
    proj = fit_projection(items, MAP_WIDTH)
    paths = tuple("".join(ring_path(r, proj) for r in wd.rings) for wd in items)
    return proj, paths, district_outline(items, proj)


def ward_map(values: dict[str, Estimate]) -> str:
    """Choropleth of the ward index: sequential colours, hatched where no data, Medway greyed."""
    items = wards()
    proj, paths, outline = map_geometry()
    w, h = int(MAP_WIDTH), math.ceil(proj.height) + 70
    scope_codes = {wd.ward_code for wd in items if wd.lad_code not in OUT_OF_SCOPE_LADS}
    in_scope = [v.value for code, v in values.items() if code in scope_codes]
    lo, hi = (min(in_scope), max(in_scope)) if in_scope else (99.0, 101.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    out = [
        f'<svg viewBox="0 0 {w} {h}" class="map" role="img" aria-label="Ward map of Kent">',
        '<defs><pattern id="nodata" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#aaaaaa" stroke-width="2"/></pattern>'
        '<linearGradient id="ramp" x1="0" x2="1">'
        + "".join(f'<stop offset="{i / (len(RAMP) - 1):.3f}" stop-color="{c}"/>' for i, c in enumerate(RAMP))
        + "</linearGradient></defs>",
    ]
    for wd, d in zip(items, paths, strict=True):
        if wd.lad_code in OUT_OF_SCOPE_LADS:
            tip = f"{wd.ward_name}, {wd.lad_name}: not in scope (not one of the 12 Kent districts)"
            out.append(f'<path class="out" d="{d}"><title>{esc(tip)}</title></path>')
            continue
        e = values.get(wd.ward_code)
        if e is None:
            fill, tip = "url(#nodata)", f"{wd.ward_name}, {wd.lad_name}: no data"
        else:
            low, high = e.ci(LEVEL)
            fill = ramp_colour((e.value - lo) / (hi - lo))
            tip = (
                f"{wd.ward_name}, {wd.lad_name}: index {fmt(e.value, 1)} "
                f"(95% interval {fmt(low, 1)} to {fmt(high, 1)})"
            )
        out.append(
            f'<path class="ward" data-ward="{esc(wd.ward_code)}" fill="{fill}" d="{d}">'
            f"<title>{esc(tip)}</title></path>"
        )
    out.append(f'<path class="lad" d="{outline}"/>')
    for code, (name, lon, lat) in district_label_points().items():
        px, py = proj(lon, lat)
        cls = "ladname out-label" if code in OUT_OF_SCOPE_LADS else "ladname"
        out.append(f'<text class="{cls}" x="{px:g}" y="{py:g}" text-anchor="middle">{esc(name)}</text>')
    ly = h - 46
    out.append(f'<text class="legendhead" x="20" y="{ly - 6}">Living Standards Index (ward)</text>')
    out.append(f'<rect x="20" y="{ly}" width="260" height="14" fill="url(#ramp)" stroke="#999"/>')
    for frac, anchor in ((0.0, "start"), (0.5, "middle"), (1.0, "end")):
        out.append(
            f'<text class="tick" x="{20 + 260 * frac:.1f}" y="{ly + 28}" text-anchor="{anchor}">'
            f"{fmt(lo + (hi - lo) * frac, 1)}</text>"
        )
    out.append(
        f'<text class="tick" x="20" y="{ly + 42}">darker = lower index = worse living standards</text>'
    )
    out.append(f'<rect x="320" y="{ly}" width="22" height="14" fill="url(#nodata)" stroke="#999"/>')
    out.append(f'<text class="tick" x="348" y="{ly + 11}">no data</text>')
    out.append(f'<rect x="420" y="{ly}" width="22" height="14" class="out"/>')
    out.append(f'<text class="tick" x="448" y="{ly + 11}">Medway: not in scope</text>')
    out.append("</svg>")
    return "".join(out)


def mini_bar(e: Estimate, top: float) -> str:
    """Small inline bar (value) with a whisker (95% interval) on a shared column scale."""
    w, h = 140, 14
    low, high = bounds(e, 0.0)
    top = top or 1.0

    def x(v: float) -> float:
        return 1 + (w - 2) * min(v, top) / top

    return (
        f'<svg class="mini" viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-hidden="true">'
        f'<rect class="minibar" x="1" y="3" width="{x(max(e.value, 0.0)) - 1:.1f}" height="8"/>'
        f'<line class="miniwhisker" x1="{x(low):.1f}" x2="{x(high):.1f}" y1="7" y2="7"/>'
        f'<line class="miniwhisker" x1="{x(low):.1f}" x2="{x(low):.1f}" y1="3" y2="11"/>'
        f'<line class="miniwhisker" x1="{x(high):.1f}" x2="{x(high):.1f}" y1="3" y2="11"/></svg>'
    )


def estimate_cells(
    rows: Sequence[Sequence[Estimate]], formatters: Sequence[Formatter]
) -> list[list[str]]:
    """Table cells with a bar per column, bars scaled to that column's widest interval."""
    tops = [max((bounds(r[j], 0.0)[1] for r in rows), default=1.0) for j in range(len(formatters))]
    return [
        [f"{mini_bar(e, tops[j])}<br>{with_interval(e, formatters[j])}" for j, e in enumerate(r)]
        for r in rows
    ]


def table(headers: Sequence[str], body: Sequence[Sequence[str]], foot: Sequence[str] | None = None) -> str:
    """An HTML table; cells are already-escaped HTML."""
    th = "".join(f"<th>{esc(x)}</th>" for x in headers)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    tf = "<tfoot><tr>" + "".join(f"<td>{c}</td>" for c in foot) + "</tr></tfoot>" if foot else ""
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody>{tf}</table>"


def total(es: Iterable[Estimate]) -> Estimate:
    """Sum of independent estimates (separate releases)."""
    acc = Estimate(0.0, 0.0)
    for e in es:
        acc = add(acc, e)
    return acc


def unclaimed_section(rows: Sequence[UnclaimedRow]) -> str:
    """Unclaimed Pension Credit and free school meals by district, with a county total."""
    if not rows:
        return empty("No unclaimed-support estimates yet.")
    values = [[r.pc_households, r.pc_value, r.fsm_children] for r in rows]
    formatters = [count_fmt, fmt_money, count_fmt]
    cells = estimate_cells(values, formatters)
    body = [[esc(r.name), *c] for r, c in zip(rows, cells, strict=True)]
    totals = [total(col) for col in zip(*values, strict=True)]
    foot = ["<b>All reporting districts</b>"] + [
        with_interval(t, f) for t, f in zip(totals, formatters, strict=True)
    ]
    return table(
        [
            "District",
            "Pension Credit: households missing out",
            "Pension Credit: £ a year",
            "Free school meals: children missing out",
        ],
        body,
        foot,
    )


def campaign_section(rows: Sequence[CampaignRow]) -> str:
    """Take-up campaign results with totals."""
    if not rows:
        return empty("No campaign results yet.")
    values = [[r.contacted, r.claimed, r.gained] for r in rows]
    formatters = [count_fmt, count_fmt, fmt_money]
    cells = estimate_cells(values, formatters)
    body = [[esc(r.name), esc(r.campaign), *c] for r, c in zip(rows, cells, strict=True)]
    totals = [total(col) for col in zip(*values, strict=True)]
    foot = ["<b>All campaigns</b>", ""] + [
        with_interval(t, f) for t, f in zip(totals, formatters, strict=True)
    ]
    return table(
        ["District", "Campaign", "Households contacted", "Households helped", "£ a year gained"], body, foot
    )


def fmt_delta(delta: float) -> str:
    """δ in short scientific form: 1e-6, 2.5e-7."""
    mantissa, exponent = f"{delta:.2g}".partition("e")[::2] if "e" in f"{delta:.2g}" else (f"{delta:.2g}", "")
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def budget_section(rows: Sequence[BudgetRow]) -> str:
    """Each node's privacy budget: spent against total (zCDP rho), with epsilon at the node's delta."""
    if not rows:
        return empty("No budget information from the nodes.")
    body = []
    for r in rows:
        frac = r.spent_rho / r.total_rho if r.total_rho > 0 else 1.0
        level = "ok" if frac < 0.7 else "warn" if frac < 0.9 else "high"
        width = 260
        bar = (
            f'<svg class="budget" viewBox="0 0 {width} 16" width="{width}" height="16" aria-hidden="true">'
            f'<rect class="track" x="0" y="2" width="{width}" height="12" rx="6"/>'
            f'<rect class="spent {level}" x="0" y="2" width="{width * min(max(frac, 0.0), 1.0):.1f}" '
            f'height="12" rx="6"/></svg>'
        )
        body.append(
            [
                esc(r.name),
                bar,
                f"{esc(fmt(100 * frac, 0))}%",
                f"{r.spent_rho:.3g} of {r.total_rho:.3g}",
                f"{r.epsilon_spent:.3g} at δ = {esc(fmt_delta(r.delta))}",
            ]
        )
    return table(["Node", "Budget used", "", "ρ (zCDP) spent of total", "ε spent"], body)


CSS = """
:root{--ink:#1f2933;--muted:#5f6b7a;--line:#d9dee5;--accent:#0b6e99;--bg:#f6f7f9}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#123247;color:#fff;padding:28px 40px 22px}
header h1{margin:0 0 4px;font-size:28px}
header .when{color:#c9d6e2;font-size:14px}
main{max-width:1060px;margin:0 auto;padding:20px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin:18px 0}
h2{margin:0 0 6px;font-size:20px}
.lead{color:var(--muted);margin:0 0 10px}
.howto{background:#eaf4fa;border-left:5px solid var(--accent)}
.missing{background:#fff4e5;border-left:5px solid #e08a00}
.empty{color:var(--muted);font-style:italic}
.headline{font-size:17px;margin:4px 0 8px}
.ci{color:var(--muted);font-size:.88em}
svg.chart,svg.map{width:100%;height:auto;display:block}
svg text{font-family:inherit}
.grid{stroke:#e6e9ee;stroke-width:1}
.tick{fill:var(--muted);font-size:12px}
.band{fill:#0b6e99;fill-opacity:.18}
.line{fill:none;stroke:#0b6e99;stroke-width:2.5}
.whisker{stroke:#0b6e99;stroke-opacity:.35;stroke-width:1}
.dot{fill:#0b6e99;stroke:#fff;stroke-width:1.5}
.base{stroke:#444;stroke-dasharray:5 4;stroke-width:1}
.baselabel{fill:#444;font-size:12px}
.colhead{fill:var(--muted);font-size:12px;font-weight:600}
.stripe{fill:#f3f5f8}
.name{fill:var(--ink);font-size:14px}
.ibar{fill:#0b6e99;fill-opacity:.25;stroke:#0b6e99;stroke-opacity:.5}
.val{fill:var(--ink);font-size:12px}
.rank{fill:var(--ink);font-size:13px;font-weight:600}
.chg{fill:var(--ink);font-size:12.5px}
.chg .ci{fill:var(--muted);font-size:11px}
.chg .sure{font-weight:700}
.na{fill:#9aa5b1}
.ward{stroke:#ffffff;stroke-width:.35}
.ward:hover{stroke:#000;stroke-width:1.2}
.out{fill:#e3e3e3;stroke:#ffffff;stroke-width:.35}
.lad{fill:none;stroke:#1f2933;stroke-width:1.1;stroke-linejoin:round}
.ladname{font-size:12px;font-weight:600;fill:#1f2933;stroke:#fff;stroke-width:3;paint-order:stroke}
.out-label{fill:#777;font-weight:400;font-style:italic}
.legendhead{fill:var(--ink);font-size:12px;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:14px}
th{text-align:left;color:var(--muted);font-weight:600;border-bottom:2px solid var(--line);padding:6px 8px}
td{border-bottom:1px solid var(--line);padding:7px 8px;vertical-align:top}
tfoot td{border-top:2px solid var(--line);border-bottom:none}
.minibar{fill:#0b6e99;fill-opacity:.55}
.miniwhisker{stroke:#123247;stroke-width:1.2}
.track{fill:#e6e9ee}
.spent.ok{fill:#2a9d8f}.spent.warn{fill:#e9a23b}.spent.high{fill:#d1495b}
footer{max-width:1060px;margin:0 auto;padding:10px 20px 40px;color:var(--muted);font-size:13px}
footer a{color:var(--accent)}
"""


def district_name(code_or_name: str) -> str:
    """A district's name from its ONS code where known, else the text as given."""
    return district_label_points().get(code_or_name, (code_or_name, 0.0, 0.0))[0]


def render_report(data: ReportData) -> str:
    """The whole report as one self-contained HTML document."""
    when = data.generated_at.isoformat(timespec="minutes")
    howto = section(
        "How to read this",
        "<p>Every figure is a <b>differentially private estimate</b>: each district adds calibrated random "
        "noise to its answers before they leave the council, so no household can be picked out. Each figure "
        "comes with a <b>95% interval</b>, the range that should contain the true value 19 times in 20; "
        "for quantities that cannot be negative, estimates and interval ends below zero are shown as "
        "zero. Where intervals overlap, the difference may be noise. Ranks are given as ranges for the "
        "same reason. The Living Standards Index is 100 in its base month; above 100 is better, "
        "below is worse.</p>",
    ).replace("<section>", '<section class="howto">', 1)
    parts = [howto]
    if data.missing_districts:
        names = ", ".join(district_name(m) for m in data.missing_districts)
        parts.append(
            '<section class="missing"><h2>Districts missing from this report</h2>'
            f"<p>No answer from: <b>{esc(names)}</b>. County figures cover the districts that answered.</p>"
            "</section>"
        )
    parts.append(
        section(
            "Living Standards Index, Kent",
            series_chart(data.county_series),
            "County index by month with its 95% interval (shaded). Above 100: better than the base month.",
        )
    )
    parts.append(
        section(
            "District benchmarks",
            benchmark_chart(data.district_rows),
            f"{data.benchmark_measure}. Bars are 95% intervals; rank 1 = highest need. "
            "Changes in bold have intervals that exclude zero.",
        )
    )
    parts.append(
        section(
            "Living Standards Index by ward",
            ward_map(data.ward_index),
            "Hover over a ward for its name, district, index and interval. Hatched: no data.",
        )
    )
    parts.append(
        section(
            "Unclaimed support",
            unclaimed_section(data.unclaimed),
            "Households in the councils' own records that appear to miss out on Pension Credit "
            "(value a year) and children who appear to miss out on free school meals.",
        )
    )
    parts.append(section("Take-up campaigns", campaign_section(data.campaigns)))
    parts.append(
        section(
            "Privacy budget by node",
            budget_section(data.budgets),
            "Each council's privacy loss this period, in zCDP ρ (the ledger's currency), "
            "with ε at the node's δ.",
        )
    )
    if data.notes:
        parts.append(section("Notes", "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in data.notes) + "</ul>"))
    footer = (
        f"<footer><p>Ward boundaries: {esc(ATTRIBUTION)} "
        f'Licence: <a href="{esc(LICENCE_URL)}">{esc(LICENCE_URL)}</a></p>'
        "<p>Produced by kent-lsi. All figures are post-processed differentially private releases."
        "</p></footer>"
    )
    return (
        '<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(data.title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{esc(data.title)}</h1><div class="when">Generated {esc(when)}</div></header>'
        f"<main>{''.join(parts)}</main>{footer}</body></html>\n"
    )
