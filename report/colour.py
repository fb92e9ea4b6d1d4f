"""The map's colour ramp."""

from __future__ import annotations

# Sequential, colour-blind-safe ramp (ColorBrewer OrRd), dark = low index = worse living standards.
RAMP = ("#7f0000", "#b30000", "#d7301f", "#ef6548", "#fc8d59", "#fdbb84", "#fdd49e", "#fee8c8", "#fff7ec")


def ramp_colour(t: float) -> str:
    """Colour at position t in [0, 1] of RAMP, linearly interpolated in RGB."""
    t = min(max(t, 0.0), 1.0) * (len(RAMP) - 1)
    i = min(int(t), len(RAMP) - 2)
    f = t - i
    a, b = RAMP[i], RAMP[i + 1]
    rgb = [round(int(a[j : j + 2], 16) * (1 - f) + int(b[j : j + 2], 16) * f) for j in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)
