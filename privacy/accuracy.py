"""Accuracy of discrete-noise releases: confidence intervals, noise variance, scale for a target accuracy.

Accuracy follows OpenDP's definition: ``alpha = P[|noise| >= accuracy]``. Noise is integer, so the
closed interval ``value +/- a`` with ``a`` the largest whole number strictly below the accuracy covers the
true value with probability at least ``1 - alpha`` and is never wider than it needs to be.
"""

from __future__ import annotations

import functools
import math

import opendp.accuracy as dpa

from privacy.mechanisms import Mechanism, privacy_loss
from privacy.sensitivity import Sensitivity

# Beyond this scale the discrete Gaussian's variance equals scale^2 to well below float precision: the
# gap shrinks like exp(-2 pi^2 scale^2), so summing the pmf would only cost time.
_GAUSSIAN_EXACT_SCALE_LIMIT = 50.0


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def accuracy(mechanism: Mechanism, scale: float, alpha: float = 0.05) -> float:
    """OpenDP's accuracy: the noise reaches this magnitude with probability at most alpha."""
    return _accuracy(Mechanism(mechanism), float(scale), _check_alpha(alpha))


@functools.lru_cache(maxsize=1024)
def _accuracy(mechanism: Mechanism, scale: float, alpha: float) -> float:
    # Cached: every cell of a release shares one scale, and OpenDP's Gaussian accuracy sums a pmf each call
    # (it was most of a ward query's time at a node).
    if mechanism is Mechanism.DISCRETE_LAPLACE:
        return float(dpa.discrete_laplacian_scale_to_accuracy(scale, alpha))
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
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"noise scale must be a positive finite number, got {scale!r}")
    if Mechanism(mechanism) is Mechanism.DISCRETE_LAPLACE:
        # pmf proportional to q^|x| with q = exp(-1/scale): variance 2q / (1 - q)^2.
        q = math.exp(-1.0 / scale)
        return 2 * q / (1 - q) ** 2
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
    to_scale, to_accuracy = (
        (dpa.accuracy_to_discrete_laplacian_scale, dpa.discrete_laplacian_scale_to_accuracy)
        if Mechanism(mechanism) is Mechanism.DISCRETE_LAPLACE
        else (dpa.accuracy_to_discrete_gaussian_scale, dpa.discrete_gaussian_scale_to_accuracy)
    )
    scale = float(to_scale(target, alpha))
    # Check the inverse round-trips; shrink the scale (more accurate) if rounding overshot.
    for _ in range(64):
        if to_accuracy(scale, alpha) <= target:
            return scale
        scale = math.nextafter(scale, 0.0) * (1 - 1e-12)
    raise ArithmeticError(f"no scale meets accuracy {target} at alpha {alpha} for {Mechanism(mechanism)}")


def loss_for_accuracy(
    mechanism: Mechanism, accuracy: float, sens: Sensitivity, alpha: float = 0.05
) -> tuple[float, float]:
    """(scale, loss) meeting a per-cell accuracy at least cost: epsilon (Laplace) or rho (Gaussian)."""
    scale = scale_for_accuracy(mechanism, accuracy, alpha)
    return scale, privacy_loss(mechanism, scale, sens)
