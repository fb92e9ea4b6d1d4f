"""Which districts each county figure covers, month by month, and the quorum below which it is withheld.

Post-processing only: coverage is decided from which districts answered and which months their releases hold,
never from a released value. Dwelling shares come from public reference denominators (VOA 2025)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from coordinator.config import Quorum
from coordinator.fanout import NodeReply
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import county_name, district


def district_name(code: str) -> str:
    """A district's name from reference data, or its code when it is not one of the pack's districts."""
    try:
        return district(code).name
    except KeyError:
        return code


def dwellings(code: str) -> int:
    """A district's public dwelling count (0 for a code not in the reference)."""
    try:
        return district(code).dwellings
    except KeyError:
        return 0


def dwelling_share(contributing: Sequence[str], registered: Sequence[str]) -> float:
    """Contributing share of the registered districts' dwellings (share of districts if none is in the reference)."""
    total = sum(dwellings(c) for c in registered)
    if total == 0:
        return len(contributing) / len(registered) if registered else 0.0
    return sum(dwellings(c) for c in contributing) / total


def short_reason(code: str, error: str) -> str:
    """A missing district's reason in a few words, for labels ("unreachable", "refused: budget")."""
    if code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"):
        return "unreachable"
    if code == "RESOURCE_EXHAUSTED":
        return "refused: budget"
    if code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        return "refused: permission"
    if code == "INVALID_ARGUMENT" and "no snapshot for" in error:
        return error[error.index("no snapshot for") :].split(";")[0]
    if code == "INVALID_ARGUMENT" and "has no campaign" in error:
        return "no such campaign"
    if code == "FAILED_PRECONDITION":
        return "refused: ledger check"
    return "failed" if not code else f"failed ({code})"


def held_months(cells: Sequence[query_pb2.Cell]) -> set[str]:
    """Months a district's released cells are keyed by."""
    return {c.keys[0].value for c in cells if c.keys}


def month_coverage(
    month: str,
    registered: Sequence[str],
    released: Mapping[str, set[str]],
    failures: Mapping[str, tuple[str, str]],
    quorum: Quorum,
) -> coordinator_pb2.MonthCoverage:
    """One month's coverage: districts whose release holds the month, the others with why, and the quorum."""
    contributing = [c for c in registered if month in released.get(c, set())]
    missing = []
    for code in registered:
        if code in contributing:
            continue
        reason, detail = failures.get(code, ("not asked", "not selected for this query"))
        if code in released:
            reason, detail = f"no release for {month}", "the district answered without this month"
        missing.append(
            coordinator_pb2.MissingDistrict(
                district_code=code, district_name=district_name(code), reason=reason, detail=detail
            )
        )
    share = dwelling_share(contributing, registered)
    quorate = quorum.met(len(contributing), share)
    out = coordinator_pb2.MonthCoverage(
        month=month, contributing=contributing, missing=missing, dwelling_share=share, quorate=quorate
    )
    if not quorate:
        out.withheld = withheld_message(out, len(registered), quorum)
    return out


def withheld_message(month: coordinator_pb2.MonthCoverage, registered: int, quorum: Quorum) -> str:
    """Why a month's county figures are withheld, naming the missing districts."""
    missing = "; ".join(f"{m.district_name} missing: {m.reason}" for m in month.missing) or "none missing"
    return (
        f"{county_name()} figure for {month.month} withheld: {len(month.contributing)} of {registered} districts "
        f"({month.dwelling_share:.0%} of dwellings) contributed, below the quorum of {quorum.districts} "
        f"district{'s' if quorum.districts != 1 else ''} and {quorum.dwelling_share:.0%} of dwellings ({missing})"
    )


def coverage(
    months: Sequence[str],
    registered: Sequence[str],
    replies: Sequence[NodeReply],
    quorum: Quorum,
    *,
    latest: bool = False,
) -> coordinator_pb2.Coverage:
    """Coverage of a county answer over the months asked (or, if none was named, the months released)."""
    released: dict[str, set[str]] = {}
    failures: dict[str, tuple[str, str]] = {}
    for r in replies:
        code = r.entry.district_code
        if r.message is not None:
            released[code] = held_months(r.message.cells)
        else:
            failures[code] = (short_reason(r.code, r.error), r.error)
    asked = list(months) or sorted(set[str]().union(*released.values()))
    return _coverage(asked, registered, released, failures, quorum, latest)


def outcome_coverage(
    months: Sequence[str],
    registered: Sequence[str],
    outcomes: Sequence[coordinator_pb2.DistrictOutcome],
    quorum: Quorum,
    *,
    latest: bool = False,
) -> coordinator_pb2.Coverage:
    """Coverage from district outcomes alone (a secure round: contributors answered, every month asked)."""
    released = {o.district_code: set(months) for o in outcomes if o.answered}
    failures = {o.district_code: (short_reason(o.error_code, o.error), o.error) for o in outcomes if not o.answered}
    return _coverage(list(months), registered, released, failures, quorum, latest)


def _coverage(
    months: list[str],
    registered: Sequence[str],
    released: dict[str, set[str]],
    failures: dict[str, tuple[str, str]],
    quorum: Quorum,
    latest: bool,
) -> coordinator_pb2.Coverage:
    per_month = [month_coverage(m, registered, released, failures, quorum) for m in months]
    return coordinator_pb2.Coverage(
        area=county_name(),
        registered=len(registered),
        months=per_month,
        complete=bool(per_month) and all(not m.missing for m in per_month),
        quorum_districts=quorum.districts,
        quorum_dwelling_share=quorum.dwelling_share,
        latest=latest,
    )


def withhold_below_quorum(cells: Sequence[query_pb2.Cell], cover: coordinator_pb2.Coverage) -> list[query_pb2.Cell]:
    """The cells without the county cells of months below the quorum (district and group cells all kept)."""
    short = {m.month for m in cover.months if not m.quorate}
    return [c for c in cells if not (c.level == query_pb2.Cell.COUNTY and c.keys and c.keys[0].value in short)]


def latest_quorate_month(held: Mapping[str, Sequence[str]], registered: Sequence[str], quorum: Quorum) -> str | None:
    """The latest month held by enough of the serving districts to meet the quorum, or None."""
    for month in sorted({m for months in held.values() for m in months}, reverse=True):
        holders = [c for c in registered if month in held.get(c, ())]
        if quorum.met(len(holders), dwelling_share(holders, registered)):
            return month
    return None
