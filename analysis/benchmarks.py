"""District benchmarks: rates per 1,000 dwellings (VOA 2025), ranks with uncertainty, changes, gaps to the county.

All post-processing of released estimates; nothing here adds noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from common.estimates import Estimate, difference, scale

RATE_BASE = "per 1,000 dwellings"  # every rate says which public denominator it divides by

__all__ = ["RATE_BASE", "RankRange", "change", "ordinal", "per_thousand", "rank_ranges", "vs_county"]


def ordinal(n: int) -> str:
    """English ordinal for a positive integer: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 112th."""
    if n < 1:
        raise ValueError(f"ordinals start at 1, got {n}")
    # 11, 12 and 13 (and 111, 212, ...) take "th" despite ending in 1, 2, 3.
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass(frozen=True)
class RankRange:
    """An area's rank (1 = highest need) with the range of ranks its interval allows.

    best is the smallest rank number (nearest the top, i.e. highest need) and worst the largest that
    the intervals leave open; best <= point <= worst.
    """

    point: int
    best: int
    worst: int

    @property
    def label(self) -> str:
        """'3rd' when the rank is certain, else the range such as '2nd–4th'."""
        if self.best == self.worst:
            return ordinal(self.best)
        return f"{ordinal(self.best)}–{ordinal(self.worst)}"


def per_thousand(e: Estimate, dwellings: int) -> Estimate:
    """Rate per 1,000 dwellings over a public dwelling count."""
    if dwellings <= 0:
        raise ValueError(f"dwelling count must be positive, got {dwellings}")
    return scale(e, 1000.0 / dwellings)


def rank_ranges(
    estimates: Mapping[str, Estimate], *, higher_is_worse: bool = True, level: float = 0.95
) -> dict[str, RankRange]:
    """Ranks with uncertainty: rank 1 = highest need (highest value when higher_is_worse).

    For area i, another area j is certainly ahead of i when j's interval lies entirely on the
    worse side of i's (no overlap; touching counts as overlap), and certainly behind when it lies
    entirely on the better side. best = 1 + #certainly ahead; worst = n − #certainly behind.
    The point rank orders the values, ties broken by key so the result is deterministic.
    """
    sign = 1.0 if higher_is_worse else -1.0
    # Map to "need" scale so that larger always means worse, then intervals are [lo, hi] in need.
    need = {}
    for key, e in estimates.items():
        low, high = e.ci(level)
        need[key] = (sign * e.value, min(sign * low, sign * high), max(sign * low, sign * high))
    order = sorted(need, key=lambda k: (-need[k][0], k))
    point = {key: i + 1 for i, key in enumerate(order)}
    n = len(need)
    out: dict[str, RankRange] = {}
    for key, (_, low, high) in need.items():
        ahead = sum(1 for other, (_, lo, _) in need.items() if other != key and lo > high)
        behind = sum(1 for other, (_, _, hi) in need.items() if other != key and hi < low)
        out[key] = RankRange(point=point[key], best=1 + ahead, worst=n - behind)
    return out


def change(current: Estimate, previous: Estimate) -> Estimate:
    """current − previous for two independent releases (e.g. this month vs last month)."""
    return difference(current, previous)


def vs_county(district_rate: Estimate, county_rate: Estimate, *, district_weight: float = 0.0) -> Estimate:
    """District rate minus county rate, with an interval.

    When the county rate includes the district, their noise is correlated: with w = the district's
    share of the county's (public) households, county = w·district + (1 − w)·rest, so
    cov = w·var(district) and var(gap) = (1 − 2w)·var(district) + var(county). The default w = 0 treats
    them as independent, which overstates the variance and so errs on the wide side.
    """
    if not 0.0 <= district_weight <= 1.0:
        raise ValueError(f"district_weight must be in [0, 1], got {district_weight}")
    variance = (1.0 - 2.0 * district_weight) * district_rate.variance + county_rate.variance
    return Estimate(district_rate.value - county_rate.value, max(variance, 0.0))
