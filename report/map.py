"""The ward choropleth of the index: sequential colours, hatched where no data, context areas greyed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup

from common.estimates import Estimate
from reference.geography import active, county_name, outside_codes
from report.colour import RAMP, ramp_colour
from report.formatting import LEVEL, fmt
from report.geometry import MAP_WIDTH, district_label_points, map_geometry, map_wards

M = Markup  # every piece below is a trusted template filled by .format, which escapes its arguments

DEFS = M(
    '<defs><pattern id="nodata" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#aaaaaa" stroke-width="2"/></pattern>'
    '<linearGradient id="ramp" x1="0" x2="1">{}</linearGradient></defs>'
).format(
    M("").join(M('<stop offset="{:.3f}" stop-color="{}"/>').format(i / (len(RAMP) - 1), c) for i, c in enumerate(RAMP))
)


def colour_range(values: Mapping[str, Estimate]) -> tuple[float, float]:
    """The index range the ramp spans: the in-scope wards' values, widened when they are all equal."""
    scope_codes = {wd.ward_code for wd in map_wards() if wd.in_scope}
    in_scope = [v.value for code, v in values.items() if code in scope_codes]
    lo, hi = (min(in_scope), max(in_scope)) if in_scope else (99.0, 101.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    return lo, hi


# The dashboard's ramp ends at these percentiles of the values, so one noisy outlier cannot wash every other
# ward into the middle colour; wards beyond take the end colours (the legend says so).
CLIP_PERCENTILES = (2.0, 98.0)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of values, linearly interpolated between the nearest ranks."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    i = math.floor(pos)
    j = min(i + 1, len(xs) - 1)
    return xs[i] + (xs[j] - xs[i]) * (pos - i)


def centred_range(
    values: Mapping[str, Estimate], centre: float = 100.0, clip: tuple[float, float] | None = None
) -> tuple[float, float]:
    """A range symmetric about `centre` (the base month's 100), so 100 is mid-ramp, spanning every value or,
    with `clip` (low and high percentiles), the values between those percentiles."""
    xs = [v.value for v in values.values()]
    if not xs:
        return centre - 1.0, centre + 1.0
    lo, hi = (percentile(xs, clip[0]), percentile(xs, clip[1])) if clip else (min(xs), max(xs))
    spread = max(abs(lo - centre), abs(hi - centre)) or 1.0
    return centre - spread, centre + spread


def ward_fill(e: Estimate, lo: float, hi: float) -> str:
    """A ward's colour on the ramp spanning [lo, hi]."""
    return ramp_colour((e.value - lo) / (hi - lo))


def ward_tip(name: str, lad: str, e: Estimate | None) -> str:
    """A ward's hover text: its index and 95% interval, or that it has no data."""
    if e is None:
        return f"{name}, {lad}: no data"
    low, high = e.ci(LEVEL)
    return f"{name}, {lad}: index {fmt(e.value, 1)} (95% interval {fmt(low, 1)} to {fmt(high, 1)})"


def ward_map(
    values: Mapping[str, Estimate], span: tuple[float, float] | None = None, *, clipped: bool = False
) -> Markup:
    """Choropleth of the ward index: sequential colours, hatched where no data, context areas greyed.

    `span` fixes the ramp's range (the dashboard keeps one range across months); by default it is the values'.
    `clipped`: the span ends at CLIP_PERCENTILES, and the legend says wards beyond take the end colours."""
    proj, paths, outline = map_geometry()
    w, h = int(MAP_WIDTH), math.ceil(proj.height) + 70
    lo, hi = span or colour_range(values)
    out = [
        M('<svg viewBox="0 0 {} {}" class="map" role="img" aria-label="Ward map of {}">').format(w, h, county_name()),
        DEFS,
    ]
    for wd, d in zip(map_wards(), paths, strict=True):
        if not wd.in_scope:
            tip = f"{wd.ward_name}, {wd.lad_name}: not in scope (not in the {county_name()} index)"
            out.append(M('<path class="out" d="{}"><title>{}</title></path>').format(d, tip))
            continue
        e = values.get(wd.ward_code)
        fill = "url(#nodata)" if e is None else ward_fill(e, lo, hi)
        tip = ward_tip(wd.ward_name, wd.lad_name, e)
        out.append(
            M('<path class="ward" data-ward="{}" fill="{}" d="{}"><title>{}</title></path>').format(
                wd.ward_code, fill, d, tip
            )
        )
    out.append(M('<path class="lad" d="{}"/>').format(outline))
    for code, (name, lon, lat) in district_label_points().items():
        px, py = proj(lon, lat)
        cls = "ladname out-label" if code in outside_codes() else "ladname"
        out.append(M('<text class="{}" x="{:g}" y="{:g}" text-anchor="middle">{}</text>').format(cls, px, py, name))
    out.append(legend(h - 46, lo, hi, clipped=clipped))
    out.append(M("</svg>"))
    return M("").join(out)


def _outside_names() -> str:
    return ", ".join(o.name for o in active().outside)


def legend(ly: int, lo: float, hi: float, *, clipped: bool = False) -> Markup:
    """The ramp with its low, middle and high values, and keys for no data and out of scope."""
    out = [
        M('<text class="legendhead" x="20" y="{}">Living Standards Index (ward)</text>').format(ly - 6),
        M('<rect x="20" y="{}" width="260" height="14" fill="url(#ramp)" stroke="#999"/>').format(ly),
    ]
    for frac, anchor, mark in ((0.0, "start", "≤ "), (0.5, "middle", ""), (1.0, "end", "≥ ")):
        out.append(
            M('<text class="tick" x="{:.1f}" y="{}" text-anchor="{}">{}{}</text>').format(
                20 + 260 * frac, ly + 28, anchor, mark if clipped else "", fmt(lo + (hi - lo) * frac, 1)
            )
        )
    low_q, high_q = CLIP_PERCENTILES
    note = (
        f"; ends at the {_ordinal(low_q)} and {_ordinal(high_q)} percentiles, wards beyond take the end colours"
        if clipped
        else ""
    )
    out += [
        M('<text class="tick legend-note" x="20" y="{}">darker = lower index = worse living standards{}</text>').format(
            ly + 42, note
        ),
        M('<rect x="320" y="{}" width="22" height="14" fill="url(#nodata)" stroke="#999"/>').format(ly),
        M('<text class="tick" x="348" y="{}">no data</text>').format(ly + 11),
    ]
    if _outside_names():  # areas the pack draws for context only
        out += [
            M('<rect x="420" y="{}" width="22" height="14" class="out"/>').format(ly),
            M('<text class="tick" x="448" y="{}">{}: not in scope</text>').format(ly + 11, _outside_names()),
        ]
    return M("").join(out)


def _ordinal(q: float) -> str:
    n = round(q)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
