"""What the ledger charges for and runs: exact integer vectors, each with the noise planned for it.

The store is handed draws, never a charge: it derives the charge from OpenDP's privacy map of exactly the
measurements it then runs (`privacy.mechanisms.build_measurement`), so what is charged and what noise is
drawn cannot disagree. Exact cells are checked to be 64-bit integers when a draw is made, before any lock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from privacy.accountant import Charge, make_charge, rho_to_epsilon
from privacy.distributed import SecureShape, secure_rho
from privacy.mechanisms import Mechanism, as_i64, d_in, release
from privacy.sensitivity import Sensitivity


@dataclass(frozen=True)
class Draw:
    """One vector of exact integer cells and the noise (mechanism, scale, sensitivity) to release it with."""

    mechanism: Mechanism
    scale: float
    sensitivity: Sensitivity
    exact: tuple[int, ...]
    # Set for a share of a secure sum: the noise drawn is the share's, the charge is the decoded sum's.
    secure: SecureShape | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mechanism", Mechanism(self.mechanism))
        if self.secure is not None and self.mechanism is not Mechanism.DISCRETE_GAUSSIAN:
            raise ValueError(
                "secure sums add discrete Gaussian shares only (discrete Laplace is not closed under sums)"
            )
        scale = float(self.scale)
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"noise scale must be a positive finite number, got {self.scale!r}")
        object.__setattr__(self, "scale", scale)
        d_in(self.mechanism, self.sensitivity)  # a nonsensical sensitivity fails here, not under the lock
        object.__setattr__(self, "exact", tuple(as_i64(self.exact)))


def make_draw(mechanism: Mechanism, scale: float, sens: Sensitivity, exact: Sequence[int]) -> Draw:
    """A draw of these exact cells at this noise."""
    return Draw(Mechanism(mechanism), scale, sens, tuple(exact))


def draw_charge(d: Draw, delta: float) -> Charge:
    """One draw's charge: OpenDP's map of its measurement, or of the secure sum it is a share of."""
    if d.secure is None:
        return make_charge(d.mechanism, d.scale, d.sensitivity, delta)
    rho = secure_rho(d.scale, d.sensitivity, d.secure, len(d.exact))
    return Charge(rho=rho, epsilon=rho_to_epsilon(rho, delta), delta=delta, mechanism=d.mechanism.value, scale=d.scale)


def charge_of(draws: Sequence[Draw], delta: float) -> Charge:
    """What running these draws costs together, from OpenDP's maps: rho adds up; pure-DP epsilons add up too."""
    if not draws:
        raise ValueError("a release needs at least one draw")
    charges = [draw_charge(d, delta) for d in draws]
    if len(charges) == 1:
        return charges[0]
    first = charges[0]
    rho = sum(c.rho for c in charges)
    pure = all(c.delta == 0 for c in charges)
    epsilon = sum(c.epsilon for c in charges) if pure else rho_to_epsilon(rho, delta)
    return Charge(rho=rho, epsilon=epsilon, delta=0.0 if pure else delta, mechanism=first.mechanism, scale=first.scale)


def run(draws: Sequence[Draw]) -> tuple[tuple[int, ...], ...]:
    """The noisy vectors, one per draw, from the same OpenDP measurements the charge was mapped from."""
    return tuple(tuple(release(d.exact, d.mechanism, d.scale, d.sensitivity)) for d in draws)
