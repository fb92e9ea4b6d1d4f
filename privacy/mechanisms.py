"""OpenDP measurements that add discrete noise to a node's vector of exact integer aggregates.

Why whole numbers: OpenDP's integer mechanisms sample discrete Laplace / discrete Gaussian noise exactly,
so there is no floating-point leakage (Mironov 2012) and the released cells are integers an IG officer can
read. The node therefore rounds money to whole pounds per household (after clamping) before aggregating;
`privacy.sensitivity` accounts for that rounding.

Values are 64-bit (``T="i64"``): OpenDP's ``T=int`` is 32-bit and would overflow on county-scale sums.
Distances are ``f64`` so that non-integer L2 sensitivities (sqrt(2) * c) reach the privacy map exactly.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from functools import lru_cache

import opendp.combinators as dpc
import opendp.domains as dpd
import opendp.measurements as dpm
import opendp.metrics as dpmet
from opendp.mod import Domain, Measurement, Metric, enable_features

from privacy.sensitivity import Sensitivity

# The mechanism names are the wire vocabulary's; re-exported for the privacy package's callers.
from protos.serde import Mechanism as Mechanism

enable_features("contrib")

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
# Defence in depth beside the node's per-query loss floor (node.query / policy): a loss this small asks for noise
# no 64-bit release can carry, so it is refused before any scale is searched for.
MIN_LOSS = 1e-30
# Relative headroom over a closed-form scale for OpenDP's upward rounding: 2^-50, about four units in the last place.
_ROUNDING_ALLOWANCE = 2.0**-50


def _check_scale(scale: float) -> float:
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"noise scale must be a positive finite number, got {scale!r}")
    return scale


def d_in(mechanism: Mechanism, sens: Sensitivity) -> float:
    """The sensitivity OpenDP's map takes: L1 for Laplace, L2 for Gaussian."""
    value = float(sens.l1) if Mechanism(mechanism) is Mechanism.DISCRETE_LAPLACE else float(sens.l2)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"sensitivity must be a positive finite number, got {value!r}")
    return value


def build_measurement(mechanism: Mechanism, scale: float, sens: Sensitivity) -> Measurement:
    """OpenDP measurement adding discrete noise of this scale to an i64 vector; `sens` is checked."""
    mechanism = Mechanism(mechanism)
    scale = _check_scale(scale)
    d_in(mechanism, sens)  # fail early on a nonsensical sensitivity
    return _measurement(mechanism, scale)


@lru_cache(maxsize=1)
def _domain() -> Domain:
    # Building the domain or a metric costs more than building the measurement on them (about 0.2 ms each through
    # OpenDP's bindings), and neither ever changes.
    return dpd.vector_domain(dpd.atom_domain(T="i64"))


@lru_cache(maxsize=2)
def _metric(mechanism: Mechanism) -> Metric:
    return dpmet.l1_distance(T="f64") if mechanism is Mechanism.DISCRETE_LAPLACE else dpmet.l2_distance(T="f64")


@lru_cache(maxsize=1024)
def _measurement(mechanism: Mechanism, scale: float) -> Measurement:
    # Building one costs about as much as drawing from it, and analysts ask with a few usual losses; a measurement
    # is immutable (its draws come from OpenDP's own generator on every call), so one per scale serves them all.
    if mechanism is Mechanism.DISCRETE_LAPLACE:
        return dpm.make_laplace(_domain(), _metric(mechanism), scale=scale)
    return dpm.make_gaussian(_domain(), _metric(mechanism), scale=scale)


@lru_cache(maxsize=4096)
def _mapped(mechanism: Mechanism, scale: float, distance: float, as_zcdp: bool) -> float:
    # OpenDP's map is a pure function of these, and one call through its bindings costs about 0.2 ms: planning a new
    # loss maps the same scale up to three times (scale search, epsilon, rho), so each is computed once.
    meas = _measurement(mechanism, scale)
    if as_zcdp:
        meas = dpc.make_pureDP_to_zCDP(meas)
    return float(meas.map(distance))


def privacy_loss(mechanism: Mechanism, scale: float, sens: Sensitivity) -> float:
    """OpenDP's privacy map: epsilon (pure DP) for Laplace, rho (zCDP) for Gaussian."""
    mechanism = Mechanism(mechanism)
    return _mapped(mechanism, _check_scale(scale), d_in(mechanism, sens), False)


def charge_rho(mechanism: Mechanism, scale: float, sens: Sensitivity) -> float:
    """The ledger's charge in zCDP rho; Laplace is converted by OpenDP (eps-DP implies eps^2/2-zCDP)."""
    mechanism = Mechanism(mechanism)
    return _mapped(mechanism, _check_scale(scale), d_in(mechanism, sens), mechanism is Mechanism.DISCRETE_LAPLACE)


def scale_for_loss(
    mechanism: Mechanism,
    *,
    epsilon: float | None = None,
    rho: float | None = None,
    sens: Sensitivity,
) -> float:
    """Smallest noise scale (to a few parts in 1e15) whose OpenDP map is within the loss (epsilon for Laplace; rho
    for either)."""
    mechanism = Mechanism(mechanism)
    if (epsilon is None) == (rho is None):
        raise ValueError("give exactly one of epsilon or rho")
    target = float(epsilon if epsilon is not None else rho)  # type: ignore[arg-type]
    if not math.isfinite(target) or target <= 0:
        raise ValueError(f"privacy loss must be a positive finite number, got {target!r}")
    if target < MIN_LOSS:
        raise ValueError(f"privacy loss {target:.3g} is below the smallest a node plans for ({MIN_LOSS:g})")
    if mechanism is Mechanism.DISCRETE_LAPLACE:
        # eps = l1 / scale; a rho target means eps = sqrt(2 rho) under the pure-DP to zCDP conversion.
        loss_fn = privacy_loss if epsilon is not None else charge_rho
        scale = d_in(mechanism, sens) / (target if epsilon is not None else math.sqrt(2 * target))
    else:
        if epsilon is not None:
            raise ValueError(
                "the discrete Gaussian is not pure-DP: state its loss as rho, or plan it at a delta "
                "with privacy.accountant.plan_release"
            )
        loss_fn = privacy_loss
        scale = d_in(mechanism, sens) / math.sqrt(2 * target)  # rho = l2^2 / (2 scale^2)
    # The closed form is checked against OpenDP's own map, which rounds each step up: starting a few parts in 1e15
    # above it passes at the first check almost always (each further check builds a new OpenDP measurement).
    scale *= 1 + _ROUNDING_ALLOWANCE
    for _ in range(64):
        if loss_fn(mechanism, scale, sens) <= target:
            return scale
        scale = math.nextafter(scale, math.inf) * (1 + 1e-15)
    raise ArithmeticError(f"could not find a scale meeting loss {target} for {mechanism.value}")


def as_i64(values: Sequence[int]) -> list[int]:
    """The cells as Python ints within 64 bits; the error names the cell, never its value."""
    out = []
    # Messages name the cell, never its exact value: an error must not become a way round the noise.
    for i, v in enumerate(values):
        if isinstance(v, bool | float):
            raise TypeError(
                f"cell {i} is a {type(v).__name__}: releases take whole numbers (round money to whole pounds first)"
            )
        try:
            n = operator.index(v)
        except TypeError:
            raise TypeError(f"cell {i} is a {type(v).__name__}: releases take whole numbers") from None
        if not _I64_MIN <= n <= _I64_MAX:
            raise OverflowError(f"cell {i} does not fit in a 64-bit integer")
        out.append(n)
    return out


def release(exact: Sequence[int], mechanism: Mechanism, scale: float, sens: Sensitivity) -> list[int]:
    """Noisy copy of the exact integer cells, drawn by the OpenDP measurement (the only noise source)."""
    # A plain list of Python ints: OpenDP refuses read-only numpy arrays and 32-bit-only types.
    cells = as_i64(exact)
    return [int(v) for v in build_measurement(mechanism, scale, sens)(cells)]
