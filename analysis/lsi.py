"""The Living Standards Index (LSI): a composite of released indicators, base month = 100.

Definition, weights and the reasoning behind the normalisation are in docs/lsi.md. In short:

    LSI = 100 · (1 + Σ_i w_i · d_i · (c_i − b_i) / N_i)

with c_i the current estimate of component i, b_i its base-month estimate, d_i = −1 when higher is worse
(+1 otherwise), and N_i the normaliser: 1 − b_i for a share of households in some hardship (the base
share *free* of it) and a fixed public amount in £ for a money component. Higher LSI = better.

The interval comes from the delta method on independent inputs (every component of every month is its
own OpenDP release, so current and base noise are independent: covariance zero). Pure post-processing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from common.estimates import Estimate
from reference.rates import tax_year_of

__all__ = [
    "COMPONENTS",
    "SURPLUS_REFERENCE_GBP",
    "Component",
    "area_month_index",
    "index_series",
    "rates_year_breaks",
]

# A £ change in mean monthly surplus is measured against the 2025/26 Universal Credit standard allowance
# for a single adult aged 25+ (£400.14 a month; reference/kent.md): the state's own yardstick of a month's
# essential living costs. It is a fixed normaliser, not re-read each year, so the series stays comparable.
SURPLUS_REFERENCE_GBP = 400.14


@dataclass(frozen=True)
class Component:
    """One LSI input: its release name, weight, direction, and (money components only) £ normaliser."""

    name: str
    weight: float
    higher_is_worse: bool
    reference: float | None = None  # None: a share of households; else the £ amount one unit stands for

    def __post_init__(self) -> None:
        if not self.weight > 0.0:
            raise ValueError(f"{self.name}: weight must be positive")
        if self.reference is None and not self.higher_is_worse:
            # Shares are normalised by the base share *free of* the hardship; that only reads sensibly
            # for shares of a bad outcome.
            raise ValueError(f"{self.name}: share components must be shares of a hardship")
        if self.reference is not None and not self.reference > 0.0:
            raise ValueError(f"{self.name}: reference amount must be positive")


COMPONENTS: tuple[Component, ...] = (
    Component("cash_shortfall", 0.30, higher_is_worse=True),
    Component("households_in_crisis", 0.20, higher_is_worse=True),
    Component("fuel_poverty", 0.125, higher_is_worse=True),
    Component("food_poverty", 0.125, higher_is_worse=True),
    Component("water_poverty", 0.10, higher_is_worse=True),
    Component("mean_monthly_surplus", 0.15, higher_is_worse=False, reference=SURPLUS_REFERENCE_GBP),
)


def _term(component: Component, current: Estimate, base: Estimate) -> tuple[float, float]:
    """Signed normalised change of one component and its delta-method variance."""
    sign = -1.0 if component.higher_is_worse else 1.0
    if component.reference is None:
        room = 1.0 - base.value
        if room <= 0.0:
            raise ValueError(f"{component.name}: base share {base.value} leaves no households free of it")
        # t = (c − b)/(1 − b); ∂t/∂c = 1/(1 − b), ∂t/∂b = −(1 − c)/(1 − b)².
        value = (current.value - base.value) / room
        d_cur, d_base = 1.0 / room, -(1.0 - current.value) / room**2
    else:
        # Linear in both inputs, so this part of the variance is exact.
        value = (current.value - base.value) / component.reference
        d_cur, d_base = 1.0 / component.reference, -1.0 / component.reference
    # Current and base are separate releases: covariance zero, so the variance is a plain sum.
    variance = d_cur**2 * current.variance + d_base**2 * base.variance
    return sign * value, variance


def _pick(shares: Mapping[str, Estimate], what: str) -> list[Estimate]:
    missing = [c.name for c in COMPONENTS if c.name not in shares]
    if missing:
        raise KeyError(f"{what} lacks LSI components: {', '.join(missing)}")
    return [shares[c.name] for c in COMPONENTS]


def area_month_index(shares: Mapping[str, Estimate], base_shares: Mapping[str, Estimate]) -> Estimate:
    """LSI of one area and month against its base month (independent releases); 100 = no change."""
    current, base = _pick(shares, "month"), _pick(base_shares, "base month")
    terms = [_term(c, cur, b) for c, cur, b in zip(COMPONENTS, current, base, strict=True)]
    value = 100.0 * (1.0 + math.fsum(c.weight * t for c, (t, _) in zip(COMPONENTS, terms, strict=True)))
    variance = 100.0**2 * math.fsum(c.weight**2 * v for c, (_, v) in zip(COMPONENTS, terms, strict=True))
    return Estimate(value, variance)


def index_series(per_month: Mapping[str, Mapping[str, Estimate]], base_month: str) -> dict[str, Estimate]:
    """LSI for every month of one area against base_month; the base month itself is exactly 100.

    The base month is compared with itself (the same release, not an independent one), so its index is
    100 with zero variance. Every other month carries the base month's noise too, which makes the
    points of a series positively correlated: do not difference two of them as if independent.
    """
    if base_month not in per_month:
        raise KeyError(f"base month {base_month!r} not in series")
    base = per_month[base_month]
    return {
        month: Estimate(100.0, 0.0) if month == base_month else area_month_index(shares, base)
        for month, shares in per_month.items()
    }


def rates_year_breaks(months: Sequence[str]) -> tuple[str, ...]:
    """Months (of a sorted series) that start a new rates year: the index has a break there, not a change.

    Each April the nodes re-derive every measure with the new tax year's rates (benefit uprating, bills, the
    poverty line), so a household whose life did not change can cross a line. A step at a break is the
    rates file, not living standards; compare months within one rates year, or the same month a year apart
    (docs/lsi.md).
    """
    years = [tax_year_of(m) for m in months]
    return tuple(m for m, prev, year in zip(months[1:], years, years[1:], strict=False) if year != prev)
