"""Accounting for a secure sum of discrete Gaussian shares: each district's share scale and its charge.

Each of n districts adds N_Z(0, sigma_s^2) with sigma_s = sigma / sqrt(t), t = n - d_max, so any t or more
contributors carry at least the target noise sigma^2. The sum of m discrete Gaussians is not exactly a discrete
Gaussian: Kairouz, Liu and Steinke (ICML 2021, Prop. 14) bound the released sum's loss by
Delta2^2 / (2 m sigma_s^2) + tau_m * d, with tau_m = 10 * sum_{k=1}^{m-1} exp(-2 pi^2 sigma_s^2 k / (k + 1)).
The charge takes m = t (the fewest contributors a node accepts) for the first term and tau_n (tau grows with m)
for the second, and both are charged: the tau term is never assumed away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from privacy.mechanisms import Mechanism, charge_rho
from privacy.sensitivity import Sensitivity

# Below this share scale the tau term stops being negligible (0.16 at sigma_s = 1 for 300 cells); a node refuses
# rather than charge a large surcharge the analyst did not expect.
MIN_SHARE_SCALE = 1.5
MIN_THRESHOLD = 2


@dataclass(frozen=True)
class SecureShape:
    """The secure sum a share is for: `parties` districts asked, at least `threshold` of whom must contribute."""

    parties: int
    threshold: int

    def __post_init__(self) -> None:
        if not MIN_THRESHOLD <= self.threshold <= self.parties:
            raise ValueError(
                f"a secure sum needs a threshold between {MIN_THRESHOLD} and the number of districts "
                f"({self.parties}), got {self.threshold}"
            )

    @property
    def max_dropouts(self) -> int:
        """How many districts may drop out at any step and still leave a total."""
        return self.parties - self.threshold


def share_scale(target_scale: float, shape: SecureShape) -> float:
    """Each district's share scale: the target's divided by sqrt(threshold)."""
    return float(target_scale) / math.sqrt(shape.threshold)


def tau(share_scale_: float, parties: int) -> float:
    """KLS21's per-coordinate surcharge for summing `parties` discrete Gaussians of this scale."""
    s2 = float(share_scale_) ** 2
    return 10 * math.fsum(math.exp(-2 * math.pi**2 * s2 * k / (k + 1)) for k in range(1, parties))


def secure_rho(share_scale_: float, sens: Sensitivity, shape: SecureShape, cells: int) -> float:
    """zCDP rho of the decoded sum: OpenDP's map at the threshold's combined scale, plus tau_n per cell."""
    if share_scale_ < MIN_SHARE_SCALE:
        raise ValueError(
            f"the share scale {share_scale_:.3g} is below {MIN_SHARE_SCALE}: ask for a smaller loss or fewer "
            "districts' tolerance, so each district's share carries enough noise"
        )
    combined = share_scale_ * math.sqrt(shape.threshold)
    return charge_rho(Mechanism.DISCRETE_GAUSSIAN, combined, sens) + tau(share_scale_, shape.parties) * cells


def local_rho(share_scale_: float, sens: Sensitivity) -> float:
    """What one district's share alone would reveal if the secrecy failed (the fallback guarantee)."""
    return charge_rho(Mechanism.DISCRETE_GAUSSIAN, share_scale_, sens)
