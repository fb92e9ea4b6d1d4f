"""A noisy estimate and the arithmetic done on it, by the county server and the analysts' library alike.

Every number the coordinator and the library handle is a differentially private release (or something computed from
releases), so it travels with its variance. All functions here are post-processing: they spend no
privacy budget and never add noise.

Independence: the helpers assume their inputs carry independent noise. That holds for separate OpenDP
releases (each draws its own noise); it does not hold for two numbers derived from the same release,
and callers who combine such numbers must account for the covariance themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

__all__ = ["Estimate", "add", "difference", "exact", "ratio", "scale", "z_value"]


def z_value(level: float) -> float:
    """Two-sided standard normal quantile for a confidence level, e.g. 1.96 for 0.95."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


@dataclass(frozen=True)
class Estimate:
    """A noisy value and the variance of its noise (zero for a public, exact number)."""

    value: float
    variance: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"estimate value must be finite, got {self.value}")
        if not (math.isfinite(self.variance) and self.variance >= 0.0):
            raise ValueError(f"estimate variance must be finite and >= 0, got {self.variance}")

    @property
    def sd(self) -> float:
        """Standard deviation of the noise."""
        return math.sqrt(self.variance)

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Normal-approximation interval value ± z·sd.

        The noise is discrete Laplace or discrete Gaussian, and sums or ratios of several releases;
        the normal approximation is exact for Gaussian noise, close for sums of many cells, and
        slightly narrow for a single Laplace cell (a nominal 95% interval covers about 94% there).
        """
        half = z_value(level) * self.sd
        return (self.value - half, self.value + half)


def exact(value: float) -> Estimate:
    """A public number (e.g. a Census household count) as a zero-variance estimate."""
    return Estimate(float(value), 0.0)


def add(a: Estimate, b: Estimate) -> Estimate:
    """Sum of two independent estimates."""
    return Estimate(a.value + b.value, a.variance + b.variance)


def difference(a: Estimate, b: Estimate) -> Estimate:
    """a − b for independent estimates (variances add)."""
    return Estimate(a.value - b.value, a.variance + b.variance)


def scale(e: Estimate, k: float) -> Estimate:
    """Multiply an estimate by a public constant k."""
    return Estimate(e.value * k, e.variance * k * k)


def ratio(num: Estimate, den: Estimate) -> Estimate:
    """num / den with a first-order (delta-method) variance, noise independent.

    var(n/d) ≈ (var n + r² var d) / d² with r = n/d. The approximation is good while the
    denominator's relative standard error is small; it is exact when den is public.
    """
    if den.value == 0.0:
        raise ValueError("ratio with a zero denominator")
    r = num.value / den.value
    return Estimate(r, (num.variance + r * r * den.variance) / (den.value * den.value))
