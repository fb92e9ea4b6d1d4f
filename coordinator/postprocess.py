"""Consistency post-processing: make noisy group cells add up to a noisy total.

A node releases, per month, noisy group cells y_g (wards; variance v_g) and a noisy district total t
(variance v_t), all with independent noise. Summing the ward cells gives a second, noisier estimate
of the total; weighted least squares combines both and spreads the disagreement over the wards in
proportion to their variances. This is post-processing of released values: no budget, no new noise.

Minimise Σ_g (x_g − y_g)²/v_g + (Σ_g x_g − t)²/v_t. With S = Σ y_g and V = Σ v_g the solution is

    x_g = y_g + a_g (t − S),   a_g = v_g / (V + v_t)
    T*  = Σ x_g = S + V/(V + v_t) · (t − S)            (the inverse-variance mean of S and t)

and, because every x_g is a linear function of independent inputs, its variance is exact:

    var T* = V·v_t / (V + v_t)                          (= 1 / (1/V + 1/v_t))
    var x_g = (1 − a_g)² v_g + a_g² (V − v_g) + a_g² v_t.

The forms above avoid 1/v, so a public (zero-variance) total or group is handled without special cases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from common.estimates import Estimate

__all__ = ["Reconciled", "county_total", "reconcile"]


@dataclass(frozen=True)
class Reconciled:
    """Group estimates that add up to the total estimate."""

    groups: dict[str, Estimate]
    total: Estimate


def reconcile(groups: Mapping[str, Estimate], total: Estimate) -> Reconciled:
    """Weighted-least-squares reconciliation of independent noisy group cells with a noisy total."""
    if not groups:
        raise ValueError("reconcile needs at least one group")
    s = math.fsum(g.value for g in groups.values())
    v_groups = math.fsum(g.variance for g in groups.values())
    denom = v_groups + total.variance
    if denom == 0.0:
        # Everything is exact: there is nothing to reconcile, only a contradiction to report.
        if s != total.value:
            raise ValueError(f"exact groups sum to {s} but the exact total is {total.value}")
        return Reconciled(dict(groups), Estimate(s, 0.0))
    gap = total.value - s
    out: dict[str, Estimate] = {}
    for key, g in groups.items():
        a = g.variance / denom
        var = (1.0 - a) ** 2 * g.variance + a * a * (v_groups - g.variance) + a * a * total.variance
        # Clamp tiny negative round-off (v_groups − v_g can dip below zero by an ulp).
        out[key] = Estimate(g.value + a * gap, max(var, 0.0))
    # The reported total is the exact float sum of the reconciled groups, so "the wards add up to the
    # district" holds bit-for-bit for anyone who sums them with math.fsum (it equals T* up to round-off).
    t_value = math.fsum(x.value for x in out.values())
    t_var = v_groups * total.variance / denom
    return Reconciled(out, Estimate(t_value, t_var))


def county_total(districts: Mapping[str, Estimate]) -> Estimate:
    """Sum of district estimates; nodes add noise independently, so the variances add."""
    return Estimate(
        math.fsum(d.value for d in districts.values()),
        math.fsum(d.variance for d in districts.values()),
    )
