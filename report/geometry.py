"""Ward geometry for the map: which wards to draw, the projection, compact SVG paths, district outlines.

The boundaries and names come from reference/ (read once there); this module only projects and encodes them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from reference.geography import Geography, Ring, active, outside_codes, reference_wards, ward_outlines

MAP_WIDTH = 900.0


@dataclass(frozen=True)
class MapWard:
    """One ward as the map draws it: identity, district and outline (rings of lon/lat)."""

    ward_code: str
    ward_name: str
    lad_code: str
    lad_name: str
    rings: tuple[Ring, ...]

    @property
    def in_scope(self) -> bool:
        """Whether the ward belongs to one of the pack's districts (context areas' are drawn greyed)."""
        return self.lad_code not in outside_codes()


def map_wards() -> tuple[MapWard, ...]:
    """Every reference ward of the active pack with its outline, in the boundary file's order."""
    return _map_wards(active())


@cache  # keyed by the pack, so switching packs never draws another area's wards
def _map_wards(_geo: Geography) -> tuple[MapWard, ...]:
    named = {w.code: w for w in reference_wards()}
    return tuple(
        MapWard(o.code, named[o.code].name, named[o.code].district_code, named[o.code].district_name, o.rings)
        for o in ward_outlines()
    )


def district_label_points() -> dict[str, tuple[str, float, float]]:
    """Area-weighted mean of ward centroids per district (lad_code -> name, lon, lat), for labels."""
    return _district_label_points(active())


@cache
def _district_label_points(_geo: Geography) -> dict[str, tuple[str, float, float]]:
    acc: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    names: dict[str, str] = {}
    for w in reference_wards():
        s = acc[w.district_code]
        s[0] += w.area_km2
        s[1] += w.area_km2 * w.lon
        s[2] += w.area_km2 * w.lat
        names[w.district_code] = w.district_name
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


def fit_projection(items: Sequence[MapWard], width: float) -> Projection:
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


def district_outline(items: Sequence[MapWard], proj: Projection) -> str:
    """Path of edges on a district border or the coast: edges not shared by two wards of one district."""
    owners: dict[tuple[tuple[float, float], tuple[float, float]], list[str]] = defaultdict(list)

    def key(a: tuple[float, float], b: tuple[float, float]) -> tuple[tuple[float, float], tuple[float, float]]:
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


def map_geometry() -> tuple[Projection, tuple[str, ...], str]:
    """Projection, one path per ward (in wards() order) and the district outline, computed once per pack."""
    return _map_geometry(active())


@cache
def _map_geometry(_geo: Geography) -> tuple[Projection, tuple[str, ...], str]:
    items = map_wards()
    proj = fit_projection(items, MAP_WIDTH)
    paths = tuple("".join(ring_path(r, proj) for r in wd.rings) for wd in items)
    return proj, paths, district_outline(items, proj)
