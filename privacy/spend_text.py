"""How a privacy spend is written, everywhere: rho first, then epsilon at the delta it holds at.

A refusal, the budget table, a query's charges and the policy's audit lines all use this one rule, so the
same spend reads the same in a council paper whichever command printed it."""

from __future__ import annotations

SIGNIFICANT = 4  # the same rounding for rho and epsilon: enough to tell spends apart, few enough to read


def spend_text(rho: float, epsilon: float, delta: float) -> str:
    """A spend as `rho R (eps E at delta D)`, both to 4 significant figures."""
    return f"rho {figure(rho)} (eps {figure(epsilon)} at delta {delta:g})"


def figure(value: float) -> str:
    """One rho or epsilon figure, as every spend is written (tables with a column each use this too)."""
    # A tiny negative from float subtraction is nothing spent, not a refund.
    return f"{max(value, 0.0):.{SIGNIFICANT}g}"
