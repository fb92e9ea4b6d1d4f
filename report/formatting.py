"""Numbers as the report prints them: thousands separators, true minus signs, £ units, 95% intervals."""

from __future__ import annotations

import math
from collections.abc import Callable

from markupsafe import Markup

from common.estimates import Estimate

MINUS = "\u2212"
LEVEL = 0.95

Formatter = Callable[[float, float], str]  # (number, magnitude of the figure it belongs to) -> text


def fmt(x: float, decimals: int = 0, *, signed: bool = False) -> str:
    """Thousands separators, a true minus sign, optional explicit plus."""
    text = f"{abs(x):,.{decimals}f}"
    if round(x, decimals) == 0:
        return text
    if x < 0:
        return MINUS + text
    return "+" + text if signed else text


def fmt_money(x: float, ref: float | None = None) -> str:
    """£ in a compact unit chosen from ref (default x): £850, £12,300, £223k, £1.23m.

    Pass the interval's largest magnitude as ref so a value and its interval share one unit.
    """
    sign, a, r = (MINUS if x < 0 else ""), abs(x), abs(x if ref is None else ref)
    if r >= 1e6:
        return f"{sign}£{a / 1e6:,.2f}m"
    if r >= 1e5:
        return f"{sign}£{a / 1e3:,.0f}k"
    return f"{sign}£{a:,.0f}"


def count_fmt(v: float, ref: float = 0.0) -> str:
    """Whole number with thousands separators (ref unused; keeps the Formatter shape)."""
    return fmt(v, 0)


def fmt_delta(delta: float) -> str:
    """δ in short scientific form: 1e-6, 2.5e-7."""
    text = f"{delta:.2g}"
    mantissa, _, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def bounds(e: Estimate, floor: float | None) -> tuple[float, float]:
    """The 95% interval, cut at floor for quantities that cannot be negative (still covers the truth)."""
    low, high = e.ci(LEVEL)
    if floor is not None:
        low, high = max(low, floor), max(high, floor)
    return low, high


def with_interval(e: Estimate, fmt_one: Formatter, *, floor: float | None = 0.0) -> Markup:
    """'12.3 (10.1 to 14.5)', the interval in a muted span; cut at floor (None: no cut)."""
    low, high = bounds(e, floor)
    value = max(e.value, floor) if floor is not None else e.value
    ref = max(abs(value), abs(low), abs(high))
    return Markup('{} <span class="ci">({} to {})</span>').format(
        fmt_one(value, ref), fmt_one(low, ref), fmt_one(high, ref)
    )


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round-number axis ticks covering [low, high]."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(low / step) * step
    return [start + i * step for i in range(int(math.ceil((high - start) / step)) + 1)]
