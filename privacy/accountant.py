"""Plans a release: the noise scale and the charge (zCDP rho, with epsilon at delta for reports).

The ledger's currency is rho. Laplace releases are pure epsilon-DP and are charged eps^2/2 via OpenDP's
pure-DP to zCDP conversion. Every figure comes from an OpenDP privacy map, never a hand formula: the
closed forms in `privacy.mechanisms` only seed a search that OpenDP's maps then check.

A Charge's ``epsilon`` is what that one release costs at ``delta``: for the discrete Laplace that is its
pure epsilon with ``delta = 0`` (tighter than converting rho back); for the discrete Gaussian it is OpenDP's
zCDP to (epsilon, delta) conversion at the node's delta. Budget totals are always reported from summed rho.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import opendp.combinators as dpc
import opendp.domains as dpd
import opendp.measurements as dpm
import opendp.metrics as dpmet
from opendp.mod import Measurement, OpenDPException, enable_features

from privacy.accuracy import scale_for_accuracy
from privacy.mechanisms import Mechanism, charge_rho, privacy_loss, scale_for_loss
from privacy.sensitivity import Sensitivity

enable_features("contrib")


@dataclass(frozen=True)
class Charge:
    """Privacy cost of one release: rho for the ledger, (epsilon, delta) for people."""

    rho: float
    epsilon: float
    delta: float
    mechanism: str
    scale: float


@dataclass(frozen=True)
class Plan:
    """Noise scale, its cost, and the mechanism and sensitivity it was planned for."""

    scale: float
    charge: Charge
    mechanism: Mechanism
    sensitivity: Sensitivity


@lru_cache(maxsize=1)
def _unit_gaussian() -> Measurement:
    return dpm.make_gaussian(dpd.atom_domain(T="f64", nan=False), dpmet.absolute_distance(T="f64"), scale=1.0)


def _check_delta(delta: float) -> float:
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie strictly between 0 and 1, got {delta!r}")
    return float(delta)


@lru_cache(maxsize=4096)
def rho_to_epsilon(rho: float, delta: float) -> float:
    """Epsilon at delta implied by rho-zCDP, from OpenDP's zCDP to approximate-DP conversion."""
    delta = _check_delta(delta)
    if not math.isfinite(rho) or rho < 0:
        raise ValueError(f"rho must be a non-negative finite number, got {rho!r}")
    if rho == 0:
        return 0.0
    # A unit Gaussian at input distance d is (d^2/2)-zCDP; choose d so OpenDP's own map gives at least rho
    # (never less: rounding down would understate the epsilon), then ask OpenDP to convert that profile.
    meas = _unit_gaussian()
    d = math.sqrt(2 * rho)
    while meas.map(d) < rho:
        d = math.nextafter(d, math.inf)
    try:
        return float(dpc.make_zCDP_to_approxDP(meas).map(d).epsilon(delta=delta))
    except OpenDPException:
        # OpenDP's exact conversion overflows for very large rho (a budget nobody should publish, but a report
        # must still print); the classic bound (Bun & Steinke 2016, Prop. 1.3) is larger, so never understates.
        return rho + 2 * math.sqrt(rho * math.log(1 / delta))


class EpsilonFigures(NamedTuple):
    """A rho budget's total, spent and remaining epsilon at one delta."""

    total: float
    spent: float
    remaining: float


def epsilon_figures(total_rho: float, spent_rho: float, delta: float) -> EpsilonFigures:
    """Total and spent rho as epsilon at delta; remaining is total minus spent epsilon, as every budget reports it."""
    total, spent = rho_to_epsilon(total_rho, delta), rho_to_epsilon(spent_rho, delta)
    return EpsilonFigures(total, spent, max(total - spent, 0.0))


@lru_cache(maxsize=256)
def epsilon_to_rho(epsilon: float, delta: float) -> float:
    """Smallest rho whose OpenDP (epsilon, delta) conversion is within epsilon (for zCDP budgets)."""
    if not math.isfinite(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon must be a positive finite number, got {epsilon!r}")
    _check_delta(delta)
    # Bracket: the classic bound eps <= rho + 2 sqrt(rho ln(1/delta)) is looser than OpenDP's conversion,
    # so solving it for rho gives a rho that OpenDP maps to at most epsilon.
    log_term = math.log(1 / delta)
    lo = (math.sqrt(log_term + epsilon) - math.sqrt(log_term)) ** 2
    if rho_to_epsilon(lo, delta) > epsilon:
        lo = 0.0
    hi = max(2 * lo, epsilon)
    while rho_to_epsilon(hi, delta) <= epsilon:
        hi *= 2
    for _ in range(200):  # bisection to float resolution; rho_to_epsilon is increasing in rho
        mid = (lo + hi) / 2
        if mid in (lo, hi) or hi - lo <= 1e-15 * hi:
            break
        if rho_to_epsilon(mid, delta) <= epsilon:
            lo = mid
        else:
            hi = mid
    if lo == 0:
        raise ValueError(f"epsilon {epsilon} is unreachable at delta {delta}")
    return lo


# Cached: a charge depends only on these four (never on data), and building OpenDP's measurement to map it was a
# fifth of a node's answer. Charge is frozen, so sharing one is safe.
@lru_cache(maxsize=4096)
def make_charge(mechanism: Mechanism, scale: float, sens: Sensitivity, delta: float) -> Charge:
    """The charge of releasing at this scale, every figure from OpenDP's maps."""
    mechanism = Mechanism(mechanism)
    delta = _check_delta(delta)
    rho = charge_rho(mechanism, scale, sens)
    if mechanism is Mechanism.DISCRETE_LAPLACE:
        return Charge(
            rho=rho,
            epsilon=privacy_loss(mechanism, scale, sens),
            delta=0.0,
            mechanism=mechanism.value,
            scale=float(scale),
        )
    return Charge(
        rho=rho,
        epsilon=rho_to_epsilon(rho, delta),
        delta=delta,
        mechanism=mechanism.value,
        scale=float(scale),
    )


@lru_cache(maxsize=1024)  # a pure function of the loss and the sensitivity (Plan is frozen)
def plan_release(
    mechanism: Mechanism,
    sens: Sensitivity,
    *,
    epsilon: float | None = None,
    rho: float | None = None,
    accuracy: float | None = None,
    alpha: float = 0.05,
    delta: float,
) -> Plan:
    """Scale and charge for one release, from exactly one target: epsilon, rho or per-cell accuracy."""
    mechanism = Mechanism(mechanism)
    if sum(x is not None for x in (epsilon, rho, accuracy)) != 1:
        raise ValueError("give exactly one of epsilon, rho or accuracy")
    if accuracy is not None:
        scale = scale_for_accuracy(mechanism, accuracy, alpha)
    elif mechanism is Mechanism.DISCRETE_GAUSSIAN and epsilon is not None:
        # The Gaussian is not pure-DP: meet epsilon at the node's delta through the zCDP conversion.
        scale = scale_for_loss(mechanism, rho=epsilon_to_rho(epsilon, delta), sens=sens)
    else:
        scale = scale_for_loss(mechanism, epsilon=epsilon, rho=rho, sens=sens)
    return Plan(scale=scale, charge=make_charge(mechanism, scale, sens, delta), mechanism=mechanism, sensitivity=sens)


@lru_cache(maxsize=1024)
def plan_mean(
    mechanism: Mechanism,
    sum_sens: Sensitivity,
    count_sens: Sensitivity,
    *,
    epsilon: float | None = None,
    rho: float | None = None,
    delta: float,
) -> tuple[Plan, Plan]:
    """(sum plan, count plan) for a mean, the loss split evenly; their rho add up to the charge.

    A pure-DP mean asked for at epsilon is two Laplace releases at epsilon/2, so together they are epsilon-DP
    as asked (splitting the rho instead would make them sqrt(2) x epsilon)."""
    mechanism = Mechanism(mechanism)
    if (epsilon is None) == (rho is None):
        raise ValueError("give exactly one of epsilon or rho for a mean")
    if rho is None:
        assert epsilon is not None  # exactly one of the two was given (checked just above)
        if mechanism is Mechanism.DISCRETE_LAPLACE:
            return (
                plan_release(mechanism, sum_sens, epsilon=epsilon / 2, delta=delta),
                plan_release(mechanism, count_sens, epsilon=epsilon / 2, delta=delta),
            )
        # Pure-DP epsilon states the whole mean's budget; in zCDP currency that is eps^2/2.
        total = (
            charge_rho_for_epsilon(epsilon)
            if mechanism is Mechanism.DISCRETE_LAPLACE
            else epsilon_to_rho(epsilon, delta)
        )
    else:
        total = rho
    half = total / 2
    return (
        plan_release(mechanism, sum_sens, rho=half, delta=delta),
        plan_release(mechanism, count_sens, rho=half, delta=delta),
    )


def charge_rho_for_epsilon(epsilon: float) -> float:
    """rho of a pure epsilon-DP budget (eps^2/2), from OpenDP's pure-DP to zCDP conversion."""
    if not math.isfinite(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon must be a positive finite number, got {epsilon!r}")
    # A Laplace at scale 1 and sensitivity epsilon is exactly epsilon-DP.
    lap = dpm.make_laplace(dpd.atom_domain(T="f64", nan=False), dpmet.absolute_distance(T="f64"), scale=1.0)
    return float(dpc.make_pureDP_to_zCDP(lap).map(float(epsilon)))
