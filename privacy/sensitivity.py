"""The one place where the sensitivity of a node's released vector is derived.

Unit of privacy: one household (add/remove neighbouring). A household contributes one row per monthly
snapshot, so a query over k months sees it up to k times (``contributions``). Within one month it sits in
exactly one group cell (ward), and the node may also release a district-total cell, so each contribution
touches ``cells_per_contribution`` cells (1, or 2 with the total).

Two layouts of the released vector matter for L2 (L1 is the same in both):

- ``months_in_separate_cells=True``: cells are indexed by month (month x ward, month x total), so the
  household's k x cells touched cells are all distinct: l2 = sqrt(k * cells) * c.
- ``months_in_separate_cells=False`` (the default, safe for any layout): months are pooled into the same
  cells (e.g. household-months per ward over a year). A household that stays in one ward moves that cell
  by k * c, so l2 = k * sqrt(cells) * c. Using the per-month formula on pooled cells would under-charge a
  Gaussian release by a factor of k in rho, which is why the safe formula is the default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Measure = Literal["count", "sum"]


@dataclass(frozen=True)
class Sensitivity:
    """How far one household can move the released vector: L1 (Laplace) and L2 (Gaussian)."""

    l1: int | float
    l2: float


def per_cell_bound(measure: Measure, lower: float, upper: float) -> int:
    """Most one contribution can move one cell: 1 for counts, the clamp's largest magnitude for sums."""
    if measure == "count":
        return 1
    if measure != "sum":
        raise ValueError(f"unknown measure {measure!r}: expected 'count' or 'sum'")
    for name, bound in (("lower", lower), ("upper", upper)):
        if not math.isfinite(bound):
            raise ValueError(f"sum clamp bound {name}={bound!r} must be a finite number of pounds")
    if lower > upper:
        raise ValueError(f"sum clamp bounds are reversed: lower={lower} is above upper={upper}")
    c = max(abs(lower), abs(upper))
    if c == 0:
        raise ValueError("sum clamp bounds [0, 0] make every sum zero: state the indicator's real bounds")
    # Releases are over whole pounds: the node clamps each household's value to [lower, upper] and then
    # rounds it, and rounding can reach the next whole pound above a fractional bound. Rounding the
    # bound up keeps the sensitivity a true bound on what the integer vector can move.
    return int(math.ceil(c))


def sensitivity(
    measure: Measure,
    lower: float,
    upper: float,
    contributions: int,
    cells_per_contribution: int,
    *,
    months_in_separate_cells: bool = False,
) -> Sensitivity:
    """Sensitivity of a released vector of counts or clamped sums to one household's records."""
    if isinstance(contributions, bool) or not isinstance(contributions, int) or contributions < 1:
        raise ValueError(f"contributions (months in the query) must be a whole number >= 1, got {contributions!r}")
    if (
        isinstance(cells_per_contribution, bool)
        or not isinstance(cells_per_contribution, int)
        or cells_per_contribution < 1
    ):
        raise ValueError(f"cells_per_contribution must be a whole number >= 1, got {cells_per_contribution!r}")
    c = per_cell_bound(measure, lower, upper)
    l1 = contributions * cells_per_contribution * c
    # Squared L2 norm of the worst-case change, as an exact integer.
    if months_in_separate_cells:
        squared = contributions * cells_per_contribution * c * c
    else:
        squared = contributions * contributions * cells_per_contribution * c * c
    return Sensitivity(l1=l1, l2=sqrt_up(squared))


def sqrt_up(n: int) -> float:
    """Smallest float whose square is at least the integer n (a privacy map must never see less)."""
    root = math.sqrt(n)
    # math.sqrt rounds to nearest, which can land one ulp below the true root.
    while Fraction(root) ** 2 < n:
        root = math.nextafter(root, math.inf)
    return root
