"""Ring simplification and planar measures for ward boundaries, in pure Python (no GEOS on the machines).

Douglas-Peucker keeps a ring's shape to within a tolerance in degrees; it works ring by ring, so edges two
wards share may simplify slightly differently (fine for a display map; take areas from the full geometry).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]  # (lon, lat)
KM_PER_DEGREE_LAT = 110.574
KM_PER_DEGREE_LON_AT_EQUATOR = 111.320


def _offset(p: Point, a: Point, b: Point) -> float:
    """Distance from p to the segment a-b (in degrees, planar)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    if length2 == 0:  # also when a tiny segment's square underflows
        return math.hypot(p[0] - a[0], p[1] - a[1])
    t = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
    return math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy))


def douglas_peucker(points: Sequence[Point], tolerance: float) -> list[Point]:
    """The polyline's points that keep it within ``tolerance`` of the original (ends always kept)."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:  # iterative: ward rings can have thousands of points
        first, last = stack.pop()
        worst, at = 0.0, -1
        for i in range(first + 1, last):
            d = _offset(points[i], points[first], points[last])
            if d > worst:
                worst, at = d, i
        if at >= 0 and worst > tolerance:
            keep[at] = True
            stack += [(first, at), (at, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def simplify_ring(ring: Sequence[Point], tolerance: float, digits: int = 5) -> list[Point]:
    """A closed ring simplified and rounded, still closed with at least 4 points (else the rounded original)."""
    rounded = [(round(x, digits), round(y, digits)) for x, y in ring]
    if len(rounded) < 4:
        return rounded
    # Split at the point farthest from the start so the closed ring's two halves simplify independently.
    far = max(
        range(len(rounded)), key=lambda i: math.hypot(rounded[i][0] - rounded[0][0], rounded[i][1] - rounded[0][1])
    )
    out = douglas_peucker(rounded[: far + 1], tolerance)[:-1] + douglas_peucker(rounded[far:], tolerance)
    if out[0] != out[-1]:
        out.append(out[0])
    return out if len(out) >= 4 else rounded


def _local_km(ring: Sequence[Point], lat0: float) -> list[Point]:
    kx = KM_PER_DEGREE_LON_AT_EQUATOR * math.cos(math.radians(lat0))
    return [(x * kx, y * KM_PER_DEGREE_LAT) for x, y in ring]


def _signed_area_and_moment(ring: Sequence[Point]) -> tuple[float, float, float]:
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False):
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    return a / 2, cx / 6, cy / 6


def area_and_centroid(polygons: Sequence[Sequence[Sequence[Point]]]) -> tuple[float, float, float]:
    """Area in km² and area centroid (lat, lon) of polygons (exterior ring first, then holes), planar locally."""
    lats = [y for poly in polygons for ring in poly for _, y in ring]
    lat0 = (min(lats) + max(lats)) / 2 if lats else 0.0
    kx = KM_PER_DEGREE_LON_AT_EQUATOR * math.cos(math.radians(lat0))
    total = mx = my = 0.0
    for poly in polygons:
        for k, ring in enumerate(poly):
            a, cx, cy = _signed_area_and_moment(_local_km(ring, lat0))
            if a == 0:
                continue
            weight = abs(a) if k == 0 else -abs(a)  # exterior adds, holes subtract, whatever the winding
            total += weight
            mx += weight * cx / a
            my += weight * cy / a
    if total <= 0:
        x, y = (sum(p[0] for poly in polygons for p in poly[0]), sum(p[1] for poly in polygons for p in poly[0]))
        n = max(sum(len(poly[0]) for poly in polygons), 1)
        return 0.0, y / n, x / n
    return total, (my / total) / KM_PER_DEGREE_LAT, (mx / total) / kx
