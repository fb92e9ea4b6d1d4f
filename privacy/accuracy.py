"""Accuracy of discrete-noise releases: confidence intervals, noise variance, scale for a target accuracy.

Accuracy follows OpenDP's definition: ``alpha = P[|noise| >= accuracy]``. Noise is integer, so the
closed interval ``value +/- a`` with ``a`` the largest whole number strictly below the accuracy covers the
true value with probability at least ``1 - alpha`` and is never wider than it needs to be.
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist

import opendp.accuracy as dpa

from privacy.mechanisms import Mechanism, privacy_loss
from privacy.sensitivity import Sensitivity

# Beyond this scale the discrete Gaussian's variance equals scale^2 to well below float precision: the
# gap shrinks like exp(-2 pi^2 scale^2), so summing the pmf would only cost time.
_GAUSSIAN_EXACT_SCALE_LIMIT = 50.0
# OpenDP's discrete Gaussian accuracy helpers take time linear in the scale (0.4 s at 1e6, 4 s at 1e7, and one
# query asked for 1e150). Up to this scale they take milliseconds and are used as they are; above it a closed-form
# bound that never understates the tail takes over (see _gaussian_tail_accuracy), so no input can stall a node.
OPENDP_GAUSSIAN_SCALE_LIMIT = 1e4
# Far beyond any scale a node releases at (node.engine.MAX_NOISE_SCALE is 2^56): larger is refused, not computed.
MAX_SCALE = 2.0**62
MAX_ACCURACY = 2.0**62


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def _check_scale(scale: float) -> float:
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"noise scale must be a positive finite number, got {scale!r}")
    if scale > MAX_SCALE:
        raise ValueError(f"noise scale {scale:.3g} is above the largest this library computes with ({MAX_SCALE:.3g})")
    return scale


def accuracy(mechanism: Mechanism, scale: float, alpha: float = 0.05) -> float:
    """OpenDP's accuracy: the noise reaches this magnitude with probability at most alpha (bounded time)."""
    return _accuracy(Mechanism(mechanism), _check_scale(scale), _check_alpha(alpha))


def _gaussian_tail_accuracy(scale: float, alpha: float) -> float:
    """An accuracy for the discrete Gaussian at a large scale, never smaller than the exact one, in O(1).

    For a >= 1, P[X >= a] <= (f(a) + integral_a^inf f) / Z with f(x) = exp(-x^2 / 2 scale^2); Z >= scale sqrt(2 pi)
    (Poisson summation), so P[X >= a] <= Q(a / scale) + 1 / (scale sqrt(2 pi)) with Q the normal tail. When alpha is
    too small for that, the discrete Gaussian's sub-Gaussian tail exp(-a^2 / 2 scale^2) (Canonne, Kamath, Steinke
    2020) bounds it instead."""
    slack = alpha / 2 - 1 / (scale * math.sqrt(2 * math.pi))
    if slack > 0:
        return scale * NormalDist().inv_cdf(1 - slack)
    return scale * math.sqrt(2 * math.log(2 / alpha))


@functools.lru_cache(maxsize=1024)
def _accuracy(mechanism: Mechanism, scale: float, alpha: float) -> float:
    # Cached: every cell of a release shares one scale, and OpenDP's Gaussian accuracy sums a pmf each call
    # (it was most of a ward query's time at a node).
    if mechanism is Mechanism.DISCRETE_LAPLACE:
        return float(dpa.discrete_laplacian_scale_to_accuracy(scale, alpha))
    if scale > OPENDP_GAUSSIAN_SCALE_LIMIT:
        return _gaussian_tail_accuracy(scale, alpha)
    return float(dpa.discrete_gaussian_scale_to_accuracy(scale, alpha))


def half_width(mechanism: Mechanism, scale: float, alpha: float = 0.05) -> int:
    """Largest whole number strictly below the accuracy: the half-width of the integer interval."""
    return max(math.ceil(accuracy(mechanism, scale, alpha)) - 1, 0)


def interval(value: float, mechanism: Mechanism, scale: float, alpha: float = 0.05) -> tuple[float, float]:
    """Closed (1 - alpha) confidence interval for the exact cell behind a noisy value."""
    a = half_width(mechanism, scale, alpha)
    return (value - a, value + a)


def noise_variance(mechanism: Mechanism, scale: float) -> float:
    """Exact variance of the discrete noise at this scale (for combining and weighting cells)."""
    scale = _check_scale(scale)
    if Mechanism(mechanism) is Mechanism.DISCRETE_LAPLACE:
        # pmf proportional to q^|x| with q = exp(-1/scale): variance 2q / (1 - q)^2. 1 - q is taken as -expm1(-1/scale):
        # computed as 1 - exp(...) it rounds to 0 once the scale passes ~1e16 (a ZeroDivisionError seen in fuzzing).
        q = math.exp(-1.0 / scale)
        return 2 * q / math.expm1(-1.0 / scale) ** 2
    if scale > _GAUSSIAN_EXACT_SCALE_LIMIT:
        return scale * scale
    # pmf proportional to exp(-x^2 / (2 scale^2)) on the integers; terms past 40 scales are below 1e-300.
    limit = int(40 * scale) + 2
    weights = [math.exp(-(x * x) / (2 * scale * scale)) for x in range(1, limit)]
    total = 1 + 2 * math.fsum(weights)
    second_moment = 2 * math.fsum(x * x * w for x, w in zip(range(1, limit), weights, strict=True))
    return second_moment / total


def scale_for_accuracy(mechanism: Mechanism, accuracy: float, alpha: float = 0.05) -> float:
    """Largest noise scale whose accuracy at level alpha is within the target (OpenDP's inverse)."""
    alpha = _check_alpha(alpha)
    target = float(accuracy)
    if not math.isfinite(target) or target <= 0:
        raise ValueError(f"target accuracy must be a positive number, got {accuracy!r}")
    if target > MAX_ACCURACY:
        raise ValueError(f"target accuracy {target:.3g} is above the largest a node plans for ({MAX_ACCURACY:.3g})")
    mechanism = Mechanism(mechanism)
    if mechanism is Mechanism.DISCRETE_LAPLACE:
        scale = float(dpa.accuracy_to_discrete_laplacian_scale(target, alpha))
    elif target <= 1.9 * OPENDP_GAUSSIAN_SCALE_LIMIT:
        # OpenDP's inverse is linear in the scale too: only used where the scale stays below the helper's limit.
        scale = float(dpa.accuracy_to_discrete_gaussian_scale(target, alpha))
    else:
        scale = _largest_scale_within(mechanism, target, alpha)
    scale = min(scale, MAX_SCALE)
    # Check the inverse round-trips; shrink the scale (more accurate) if rounding overshot.
    for _ in range(64):
        if _accuracy(mechanism, scale, alpha) <= target:
            return scale
        scale = math.nextafter(scale, 0.0) * (1 - 1e-12)
    raise ArithmeticError(f"no scale meets accuracy {target} at alpha {alpha} for {mechanism}")


def _largest_scale_within(mechanism: Mechanism, target: float, alpha: float) -> float:
    """Bisection on the scale with the bounded-time accuracy: at most 200 O(1) steps whatever the target."""
    lo, hi = 0.0, MAX_SCALE
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if _accuracy(mechanism, mid, alpha) <= target:
            lo = mid
        else:
            hi = mid
    return lo


def loss_for_accuracy(
    mechanism: Mechanism, accuracy: float, sens: Sensitivity, alpha: float = 0.05
) -> tuple[float, float]:
    """(scale, loss) meeting a per-cell accuracy at least cost: epsilon (Laplace) or rho (Gaussian)."""
    scale = scale_for_accuracy(mechanism, accuracy, alpha)
    return scale, privacy_loss(mechanism, scale, sens)


def sum_half_width(mechanism: Mechanism, scale: float, terms: int, alpha: float = 0.05) -> int:
    """Half-width of a (1 - alpha) interval for the sum of `terms` independent draws (a derived total).

    A guarantee, not an approximation: a Chernoff bound from the noise's moment generating function (discrete
    Gaussian noise is sigma^2-subgaussian; discrete Laplace's MGF is closed-form), never wider than the union
    bound over the terms."""
    if isinstance(terms, bool) or not isinstance(terms, int) or terms < 1:
        raise ValueError(f"terms must be a whole number >= 1, got {terms!r}")
    if terms == 1:
        return half_width(mechanism, scale, alpha)
    return _sum_half_width(Mechanism(mechanism), _check_scale(scale), terms, _check_alpha(alpha))


@functools.lru_cache(maxsize=1024)
def _sum_half_width(mechanism: Mechanism, scale: float, terms: int, alpha: float) -> int:
    union = terms * half_width(mechanism, scale, alpha / terms)
    if mechanism is Mechanism.DISCRETE_LAPLACE:
        chernoff = _laplace_sum_tail(scale, terms, alpha)
    else:
        chernoff = max(math.ceil(scale * math.sqrt(2 * terms * math.log(2 / alpha))) - 1, 0)
    return min(union, chernoff)


def _laplace_sum_tail(scale: float, terms: int, alpha: float) -> int:
    """Smallest a with 2 min_l E[e^(l S)] e^(-l a) <= alpha for S a sum of discrete Laplace draws (then a - 1)."""
    q = math.exp(-1.0 / scale)
    # E[e^(l X)] = (1-q)^2 / ((1 - q e^l)(1 - q e^-l)) for l < 1/scale; a grid of l is enough for a valid bound.
    best = math.inf
    for i in range(1, 400):
        lam = (i / 400) / scale
        log_mgf = 2 * math.log1p(-q) - math.log1p(-q * math.exp(lam)) - math.log1p(-q * math.exp(-lam))
        # 2 exp(n log M - l a) <= alpha  <=>  a >= (n log M + log(2/alpha)) / l
        best = min(best, (terms * log_mgf + math.log(2 / alpha)) / lam)
    return max(math.ceil(best) - 1, 0)
