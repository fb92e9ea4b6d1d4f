"""Splitting one privacy loss across the releases a weighted sum is built from, to minimise the sum's noise.

The index refresh (analysis/index_refresh.py) asks several queries and combines them linearly (to first order)
into one figure per area. Each query i is released with discrete Gaussian noise; under zCDP a release of
L2 sensitivity Δ_i at loss ρ_i has noise variance σ_i² = Δ_i² / (2 ρ_i). The combined figure's noise is then

    V(ρ) = Σ_i g_i² σ_i² = Σ_i a_i / ρ_i,     a_i = (g_i Δ_i)² / 2,

with g_i the figure's derivative with respect to query i's value (its *weight*). Minimise V subject to
Σ_i ρ_i = ρ (zCDP losses of separate releases add):

    L = Σ_i a_i / ρ_i + λ (Σ_i ρ_i − ρ),   ∂L/∂ρ_i = −a_i / ρ_i² + λ = 0   ⇒   ρ_i = √(a_i / λ) ∝ |g_i| Δ_i.

V is convex in each ρ_i > 0 (second derivative 2 a_i / ρ_i³ > 0), so this stationary point is the minimum:

    ρ_i* = ρ · |g_i| Δ_i / Σ_j |g_j| Δ_j,      V* = (Σ_i |g_i| Δ_i)² / (2 ρ).

The even split ρ_i = ρ / n gives V_even = n Σ_i (g_i Δ_i)² / (2 ρ), and by Cauchy-Schwarz
(Σ_i |g_i| Δ_i)² ≤ n Σ_i (g_i Δ_i)², with equality only when every |g_i| Δ_i is the same: the optimal split is
never worse, and strictly better whenever the inputs differ. (Under pure ε-DP with Laplace noise the variance
is 2 b_i² = 2 Δ_i² / ε_i², and the same Lagrangian gives ε_i ∝ (|g_i| Δ_i)^(2/3) instead: the cube root of
a_i. The refresh is charged in zCDP, so the first form is the one used.)

The weights must not depend on the private data, or the split itself would leak it: they are public (the
index's published weights and normalisers, the clamping bounds, and planning values set out where they are
built). A planning value that is off changes how well the split does, never what it costs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Input", "even_split", "optimal_split", "split_variance"]


@dataclass(frozen=True)
class Input:
    """One release in a weighted sum: its weight (∂figure/∂value, public) and its L2 sensitivity."""

    name: str
    weight: float
    sensitivity: float

    def __post_init__(self) -> None:
        for label, value in (("weight", self.weight), ("sensitivity", self.sensitivity)):
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{self.name}: {label} must be a positive finite number, got {value!r}")

    @property
    def cost(self) -> float:
        """|g| Δ: the optimal split gives each input rho in proportion to this."""
        return abs(self.weight) * self.sensitivity


def _checked(inputs: Sequence[Input], rho: float) -> None:
    if not (math.isfinite(rho) and rho > 0.0):
        raise ValueError(f"rho must be a positive finite number, got {rho!r}")
    if not inputs:
        raise ValueError("nothing to split rho across: no inputs")
    names = [i.name for i in inputs]
    if len(set(names)) != len(names):
        raise ValueError(f"input names must be distinct, got {names}")


def optimal_split(inputs: Sequence[Input], rho: float) -> dict[str, float]:
    """rho split in proportion to |weight| × sensitivity: the least-variance split (derivation in the module doc)."""
    _checked(inputs, rho)
    costs = [i.cost for i in inputs]
    total = math.fsum(costs)
    shares = {i.name: rho * c / total for i, c in zip(inputs, costs, strict=True)}
    # Rounding can leave the shares a few ulps over rho; the ledger must never see more than was allowed.
    excess = math.fsum(shares.values()) - rho
    if excess > 0.0:
        largest = max(shares, key=shares.__getitem__)
        shares[largest] -= excess
    return shares


def even_split(inputs: Sequence[Input], rho: float) -> dict[str, float]:
    """rho split evenly: the baseline the optimal split is measured against."""
    _checked(inputs, rho)
    return {i.name: rho / len(inputs) for i in inputs}


def split_variance(inputs: Sequence[Input], split: Mapping[str, float]) -> float:
    """The weighted sum's noise variance, Σ (g Δ)² / (2 ρ), for a given split."""
    return math.fsum(i.cost**2 / (2.0 * split[i.name]) for i in inputs)
