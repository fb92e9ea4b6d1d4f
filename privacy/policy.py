"""A node's privacy policy: a TOML file owned by the district's information governance (IG) officer.

Example::

    district_code = "E07900001"
    period_start = 2025-04-01          # a TOML date or "YYYY-MM-DD"; both ends are inclusive
    period_end = 2026-03-31
    delta = 1e-7                       # the delta at which every epsilon is reported
    total_rho = 1.0                    # or total_epsilon = 4.0
    per_query_rho = 0.05               # or per_query_epsilon = 1.0
    month_lifetime_rho = 5.0           # optional: the most any one month's snapshot may ever be charged
    min_published_cell = 10            # noisy counts below this are suppressed
    allowed_mechanisms = ["discrete_gaussian", "discrete_laplace"]
    min_query_rho = 1e-6               # optional floors on one query's loss: a tinier loss means a noise scale
    min_query_epsilon = 1e-3           #   so large that planning it is slow and the answer is noise
    max_clamp_abs = 1000000            # optional: the widest clamping bound a SUM or MEAN may ask for (pounds)

    [analyst_caps]                     # optional, per analyst certificate CN
    "alice.analyst" = 0.2              # a bare number is rho
    "bob.analyst" = { epsilon = 1.5 }  # or { rho = ... }

Budgets stated as epsilon mean (epsilon, delta)-DP at the policy's ``delta``: they are converted, with
OpenDP's zCDP to approximate-DP conversion, to the largest rho that still guarantees that epsilon. This is
deliberate: reports show epsilon at the same delta, so what the officer writes is what the reports show.
(Reading epsilon as pure DP and charging eps^2/2 would quietly allow a much larger (epsilon, delta) once
Gaussian releases compose.) Saved files always state rho, the ledger's currency.

The period total renews every period; ``month_lifetime_rho`` never does. Every charge is also charged to each
snapshot month the query reads, and a month's charges over all periods together may not pass it, so an old
snapshot does not get a fresh budget each year.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from privacy.accountant import epsilon_to_rho, rho_to_epsilon
from privacy.mechanisms import Mechanism
from privacy.spend_text import spend_text

_KNOWN_KEYS = {
    "district_code",
    "period_start",
    "period_end",
    "delta",
    "total_rho",
    "total_epsilon",
    "per_query_rho",
    "per_query_epsilon",
    "month_lifetime_rho",
    "month_lifetime_epsilon",
    "min_published_cell",
    "allowed_mechanisms",
    "analyst_caps",
    "min_query_rho",
    "min_query_epsilon",
    "max_clamp_abs",
}


# The most one snapshot month may be charged, over every period together: one year's defensible budget (see
# docs/privacy-budget.md). A month is mostly read in its own year; the cap stops it being re-read every year.
DEFAULT_MONTH_LIFETIME_RHO = 5.0
# Per-query floors on the loss asked for. A loss far below these buys only noise, and its noise scale makes
# planning and accuracy slow (OpenDP's Gaussian accuracy takes time linear in the scale).
DEFAULT_MIN_QUERY_RHO = 1e-6
DEFAULT_MIN_QUERY_EPSILON = 1e-3
# The widest clamping bound a query may ask for by default: ten times the schema's largest maximum. The node's
# hard ceiling (node.query.MAX_CLAMP_ABS, which keeps exact sums exact in 64 bits) applies whatever this says.
DEFAULT_MAX_CLAMP_ABS = 1_000_000.0


class PolicyError(ValueError):
    """A policy value an IG officer must correct; `field` names the offending setting."""

    def __init__(self, field_name: str, message: str | None = None) -> None:
        if message is None:  # one argument: "field: message", or a message that names no single field
            field_name, _, rest = field_name.partition(": ")
            message = rest or field_name
        super().__init__(f"policy setting '{field_name}': {message}")
        self.field = field_name


@dataclass(frozen=True)
class Policy:
    """A node's privacy policy for one period; budgets in zCDP rho."""

    district_code: str
    period_start: str
    period_end: str
    total_rho: float
    per_query_rho: float
    delta: float
    min_published_cell: int
    analyst_caps: dict[str, float] = field(default_factory=dict)
    allowed_mechanisms: tuple[str, ...] = (Mechanism.DISCRETE_GAUSSIAN, Mechanism.DISCRETE_LAPLACE)
    month_lifetime_rho: float = DEFAULT_MONTH_LIFETIME_RHO
    min_query_rho: float = DEFAULT_MIN_QUERY_RHO
    min_query_epsilon: float = DEFAULT_MIN_QUERY_EPSILON
    max_clamp_abs: float = DEFAULT_MAX_CLAMP_ABS

    def __post_init__(self) -> None:
        _validate(self)
        # Defensive copies: a frozen policy must not change through a caller's dict or list.
        object.__setattr__(self, "analyst_caps", dict(self.analyst_caps))
        object.__setattr__(self, "allowed_mechanisms", tuple(str(m) for m in self.allowed_mechanisms))

    def includes(self, day: dt.date) -> bool:
        """Whether a UTC date falls inside this policy's privacy period (both ends inclusive)."""
        return self.period_start <= day.isoformat() <= self.period_end


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(name, f"must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise PolicyError(name, f"must be a positive finite number, got {value!r}")
    return float(value)


def _iso_date(name: str, value: Any) -> str:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise PolicyError(name, f"must be a date written YYYY-MM-DD (e.g. 2025-04-01), got {value!r}")


def _validate(p: Policy) -> None:
    if not isinstance(p.district_code, str) or not p.district_code.strip():
        raise PolicyError("district_code", "must name the district (its ONS code, e.g. E07900001)")
    start = _iso_date("period_start", p.period_start)
    end = _iso_date("period_end", p.period_end)
    if start != p.period_start or end != p.period_end:
        raise PolicyError("period_start", "dates must be strings written YYYY-MM-DD")
    if end < start:
        raise PolicyError("period_end", f"{end} is before period_start {start}")
    total = _positive("total_rho", p.total_rho)
    per_query = _positive("per_query_rho", p.per_query_rho)
    if per_query > total:
        raise PolicyError("per_query_rho", f"{per_query} exceeds the period total {total}")
    _positive("month_lifetime_rho", p.month_lifetime_rho)
    if _positive("min_query_rho", p.min_query_rho) > per_query:
        raise PolicyError("min_query_rho", f"{p.min_query_rho:g} exceeds per_query_rho {per_query:g}")
    _positive("min_query_epsilon", p.min_query_epsilon)
    _positive("max_clamp_abs", p.max_clamp_abs)
    delta = _positive("delta", p.delta)
    if delta >= 1e-3:
        # A delta this large permits releasing some households' records outright.
        raise PolicyError("delta", f"must be below 0.001 (typically 1e-7 or smaller), got {delta}")
    if isinstance(p.min_published_cell, bool) or not isinstance(p.min_published_cell, int):
        raise PolicyError("min_published_cell", f"must be a whole number, got {p.min_published_cell!r}")
    if p.min_published_cell < 0:
        raise PolicyError("min_published_cell", f"must be zero or more, got {p.min_published_cell}")
    if not isinstance(p.analyst_caps, dict):
        raise PolicyError("analyst_caps", "must map analyst certificate names to budgets")
    for cn, cap in p.analyst_caps.items():
        if not isinstance(cn, str) or not cn.strip():
            raise PolicyError("analyst_caps", f"analyst name {cn!r} must be a certificate common name")
        _positive(f"analyst_caps.{cn}", cap)
    mechanisms = tuple(p.allowed_mechanisms)
    if not mechanisms:
        raise PolicyError("allowed_mechanisms", "must allow at least one mechanism")
    known = {m.value for m in Mechanism}
    for m in mechanisms:
        if m not in known:
            raise PolicyError("allowed_mechanisms", f"unknown mechanism {m!r}; choose from {sorted(known)}")


def _budget(raw: dict[str, Any], stem: str, delta: float, required: bool) -> float | None:
    rho_key, eps_key = f"{stem}_rho", f"{stem}_epsilon"
    if rho_key in raw and eps_key in raw:
        raise PolicyError(rho_key, f"state either {rho_key} or {eps_key}, not both")
    if rho_key in raw:
        return _positive(rho_key, raw[rho_key])
    if eps_key in raw:
        return epsilon_to_rho(_positive(eps_key, raw[eps_key]), delta)
    if required:
        raise PolicyError(rho_key, f"missing: state {rho_key} (or {eps_key})")
    return None


def _analyst_caps(raw: Any, delta: float) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise PolicyError("analyst_caps", "must be a table of analyst name = budget")
    caps = {}
    for cn, value in raw.items():
        name = f"analyst_caps.{cn}"
        if isinstance(value, dict):
            if set(value) == {"rho"}:
                caps[cn] = _positive(name, value["rho"])
            elif set(value) == {"epsilon"}:
                caps[cn] = epsilon_to_rho(_positive(name, value["epsilon"]), delta)
            else:
                raise PolicyError(name, f"must be a number (rho), {{ rho = ... }} or {{ epsilon = ... }}, got {value}")
        else:
            caps[cn] = _positive(name, value)
    return caps


def policy_from_dict(raw: dict[str, Any]) -> Policy:
    """Policy from parsed TOML, converting epsilon budgets to rho at the policy's delta."""
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise PolicyError(sorted(unknown)[0], f"unknown setting (known: {', '.join(sorted(_KNOWN_KEYS))})")
    for key in ("district_code", "period_start", "period_end", "delta", "min_published_cell"):
        if key not in raw:
            raise PolicyError(key, "missing")
    delta = _positive("delta", raw["delta"])
    if delta >= 1e-3:
        raise PolicyError("delta", f"must be below 0.001 (typically 1e-7 or smaller), got {delta}")
    mechanisms = raw.get("allowed_mechanisms", [m.value for m in Mechanism])
    if not isinstance(mechanisms, list) or not all(isinstance(m, str) for m in mechanisms):
        raise PolicyError("allowed_mechanisms", f"must be a list of mechanism names, got {mechanisms!r}")
    return Policy(
        district_code=raw["district_code"],
        period_start=_iso_date("period_start", raw["period_start"]),
        period_end=_iso_date("period_end", raw["period_end"]),
        total_rho=_budget(raw, "total", delta, required=True),  # type: ignore[arg-type]
        per_query_rho=_budget(raw, "per_query", delta, required=True),  # type: ignore[arg-type]
        delta=delta,
        min_published_cell=raw["min_published_cell"],
        analyst_caps=_analyst_caps(raw.get("analyst_caps", {}), delta),
        allowed_mechanisms=tuple(mechanisms),
        month_lifetime_rho=_budget(raw, "month_lifetime", delta, required=False) or DEFAULT_MONTH_LIFETIME_RHO,
        min_query_rho=raw.get("min_query_rho", DEFAULT_MIN_QUERY_RHO),
        min_query_epsilon=raw.get("min_query_epsilon", DEFAULT_MIN_QUERY_EPSILON),
        max_clamp_abs=raw.get("max_clamp_abs", DEFAULT_MAX_CLAMP_ABS),
    )


def parse_policy(text: str) -> Policy:
    """Policy from TOML text (e.g. sent by an IG officer over the node's SetPolicy call)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError("file", f"not valid TOML: {e}") from None
    return policy_from_dict(raw)


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; PolicyError names the setting to fix."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise PolicyError("file", f"policy file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise PolicyError("file", f"{path} is not valid TOML: {e}") from None
    return policy_from_dict(raw)


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """The TOML form of a policy (budgets as rho, dates as TOML dates)."""
    return {
        "district_code": policy.district_code,
        "period_start": dt.date.fromisoformat(policy.period_start),
        "period_end": dt.date.fromisoformat(policy.period_end),
        "delta": policy.delta,
        "total_rho": policy.total_rho,
        "per_query_rho": policy.per_query_rho,
        "month_lifetime_rho": policy.month_lifetime_rho,
        "min_published_cell": policy.min_published_cell,
        "allowed_mechanisms": list(policy.allowed_mechanisms),
        "analyst_caps": dict(sorted(policy.analyst_caps.items())),
        "min_query_rho": policy.min_query_rho,
        "min_query_epsilon": policy.min_query_epsilon,
        "max_clamp_abs": policy.max_clamp_abs,
    }


def save_policy(policy: Policy, path: Path) -> None:
    """Write the policy atomically, so a node never reads a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(tomli_w.dumps(policy_to_dict(policy)).encode())
    os.replace(tmp, path)


def _fmt_rho(rho: float | None, delta: float) -> str:
    if rho is None:
        return "none"
    return spend_text(rho, rho_to_epsilon(rho, delta), delta)


def diff_policy(old: Policy, new: Policy) -> list[str]:
    """Human-readable changes from old to new, one line per setting, for the audit log."""
    changes = []
    for name in (
        "district_code",
        "period_start",
        "period_end",
        "delta",
        "min_published_cell",
        "min_query_rho",
        "min_query_epsilon",
        "max_clamp_abs",
    ):
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            changes.append(f"{name}: {a!r} -> {b!r}")
    for name in ("total_rho", "per_query_rho", "month_lifetime_rho"):
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            changes.append(f"{name}: {_fmt_rho(a, old.delta)} -> {_fmt_rho(b, new.delta)}")
    if set(old.allowed_mechanisms) != set(new.allowed_mechanisms):
        changes.append(f"allowed_mechanisms: {sorted(old.allowed_mechanisms)} -> {sorted(new.allowed_mechanisms)}")
    for cn in sorted(set(old.analyst_caps) | set(new.analyst_caps)):
        a, b = old.analyst_caps.get(cn), new.analyst_caps.get(cn)
        if a != b:
            changes.append(f"analyst_caps[{cn}]: {_fmt_rho(a, old.delta)} -> {_fmt_rho(b, new.delta)}")
    return changes
