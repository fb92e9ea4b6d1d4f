"""An analyst's secure county query (issue 15): what may be asked, the round's threshold, and the outcomes to store.

The protocol itself is `coordinator/secure.run_round`; this module is the Submit route's checks and bookkeeping.
The checks here mirror each node's own (node/secure.py `_plan`), so an analyst hears the problem once, by field,
before any district is asked; the nodes check again and remain the authority.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from coordinator.secure import SecureAbort, SecureTotal
from protos.lsi.v1 import coordinator_pb2, query_pb2
from protos.serde import MEASURES, Mechanism, mechanism_from_wire

# Refusals that, when every district gives the same one, are the analyst's problem rather than a gap in the county.
SHARED_REFUSALS = frozenset(
    {"INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "ALREADY_EXISTS", "PERMISSION_DENIED", "FAILED_PRECONDITION"}
)


class SecureRefused(ValueError):
    """A secure query the coordinator will not start; `code` is the gRPC status name, the message names the field."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_secure_query(query: query_pb2.Query) -> None:
    """SecureRefused naming the field when a query cannot be a secure county sum (COUNT or SUM at a rho only)."""
    measure = MEASURES.get(query.measure.kind)
    if measure not in ("count", "sum"):
        raise SecureRefused(
            "INVALID_ARGUMENT",
            f"measure: a secure county query takes COUNT or SUM, not {(measure or 'unset').upper()} "
            "(a mean is their ratio: ask for the sum and the count)",
        )
    loss = query.privacy.WhichOneof("loss") or ""
    if loss != "rho":
        named = {"epsilon": "privacy.epsilon", "target_accuracy": "privacy.target_accuracy"}.get(loss, "privacy")
        raise SecureRefused(
            "INVALID_ARGUMENT",
            f"{named}: a secure county query is charged in zCDP; give --rho (the discrete Gaussian's loss) instead",
        )
    if mechanism_from_wire(query.privacy.mechanism, loss) is not Mechanism.DISCRETE_GAUSSIAN:
        raise SecureRefused(
            "INVALID_ARGUMENT",
            "privacy.mechanism: secure county sums use the discrete Gaussian (Laplace noise is not closed under sums)",
        )
    if "ward_code" in query.group_by:
        raise SecureRefused(
            "INVALID_ARGUMENT",
            "group_by: a secure county query cannot group by ward (each district has its own wards)",
        )


def secure_threshold(districts: int, dropouts: int) -> int:
    """t = n - d_max; SecureRefused when too few districts are asked to leave any margin for dropouts."""
    threshold = districts - dropouts
    if threshold < 2:
        raise SecureRefused(
            "INVALID_ARGUMENT",
            f"districts: a secure county query over {districts} districts with up to {dropouts} dropouts would "
            f"sum fewer than 2 districts; ask at least {dropouts + 2} districts",
        )
    return threshold


def secure_outcomes(
    codes: Sequence[str], total: SecureTotal, name: Callable[[str], str]
) -> list[coordinator_pb2.DistrictOutcome]:
    """One outcome per district asked: contributors answered (with their charge), the rest with why they dropped."""
    out = []
    for code in codes:
        outcome = coordinator_pb2.DistrictOutcome(district_code=code, district_name=name(code))
        if code in total.contributors:
            outcome.answered = True
            outcome.charge.CopyFrom(total.charges[code])
            if code in total.budgets:
                outcome.budget.CopyFrom(total.budgets[code])
        else:
            outcome.error_code, outcome.error = split_reason(total.dropped.get(code, "UNAVAILABLE: no answer"))
        out.append(outcome)
    return out


def split_reason(reason: str) -> tuple[str, str]:
    """A step reply's 'CODE: message' as (code, message); UNKNOWN when it names no status."""
    code, sep, message = reason.partition(": ")
    if sep and code.isupper() and code.replace("_", "").isalpha():
        return code, message
    return "UNKNOWN", reason


def abort_status(abort: SecureAbort) -> tuple[str, str]:
    """The status for a round with no total: every district's shared refusal, else UNAVAILABLE with who dropped."""
    reasons = [split_reason(r) for r in abort.missing.values()]
    codes = Counter(code for code, _ in reasons)
    if len(codes) == 1 and reasons[0][0] in SHARED_REFUSALS and abort.step == "setup":
        code, message = reasons[0]
        return code, message
    who = "; ".join(f"{c}: {r}" for c, r in sorted(abort.missing.items()))
    return "UNAVAILABLE", f"{abort}" + (f" (missing: {who})" if who else "")
