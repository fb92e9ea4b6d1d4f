"""Draws for ledger tests: a release whose OpenDP-mapped charge is the rho a test states (never more)."""

from __future__ import annotations

from privacy.draw import Draw, make_draw
from privacy.mechanisms import Mechanism, scale_for_loss
from privacy.sensitivity import Sensitivity

UNIT = Sensitivity(l1=1, l2=1.0)


def costing(rho: float, mechanism: str = "discrete_gaussian", cells: int = 1) -> tuple[Draw, ...]:
    """One draw of `cells` zero cells whose charge, by OpenDP's map, is rho to within float rounding (never above)."""
    m = Mechanism(mechanism)
    return (make_draw(m, scale_for_loss(m, rho=rho, sens=UNIT), UNIT, [0] * cells),)
