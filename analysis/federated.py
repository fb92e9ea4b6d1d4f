"""Reading combined results: submitting a query, one measure's estimates at every level, who answered, what it cost.

Each analysis takes `submit` (anything that sends a FederatedQuery to the coordinator and returns its
FederatedResult, e.g. a CoordinatorStub's Submit), so nothing here opens a channel and tests can pass a fake.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from common.estimates import Estimate
from protos.lsi.v1 import coordinator_pb2, query_pb2

Submit = Callable[[coordinator_pb2.FederatedQuery], coordinator_pb2.FederatedResult]
Fetch = Callable[[str], "coordinator_pb2.FederatedResult | None"]
# Stored results whose query ids start with a prefix, newest first, at most the count given (spends nothing).
Recent = Callable[[str, int], Sequence[coordinator_pb2.FederatedResult]]


def shift_month(month: str, k: int) -> str:
    """YYYY-MM moved by k months (negative: earlier)."""
    year, mon = (int(x) for x in month.split("-"))
    n = year * 12 + (mon - 1) + k
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


@dataclass(frozen=True)
class Areas:
    """One measure for one month at every level: the county, each district and each ward (withheld cells absent)."""

    county: Estimate | None
    districts: Mapping[str, Estimate]
    wards: Mapping[str, Estimate]


def ward_of(cell: query_pb2.Cell) -> str | None:
    """The ward a cell is keyed by, if any."""
    return next((k.value for k in cell.keys if k.column == "ward_code"), None)


def month_of(cell: query_pb2.Cell) -> str:
    """The month a cell is keyed by."""
    return next(k.value for k in cell.keys if k.column == "month")


def areas_of(result: coordinator_pb2.FederatedResult, month: str) -> Areas:
    """County, district and ward estimates of one month from a combined result (other group keys ignored)."""
    county: Estimate | None = None
    districts: dict[str, Estimate] = {}
    wards: dict[str, Estimate] = {}
    for c in result.cells:
        if c.suppressed or month_of(c) != month or len(c.keys) > (2 if ward_of(c) else 1):
            continue
        e = Estimate(c.value, c.variance)
        if c.level == query_pb2.Cell.COUNTY:
            county = e
        elif c.level == query_pb2.Cell.DISTRICT:
            districts[c.district_code] = e
        elif c.level == query_pb2.Cell.GROUP and ward_of(c):
            wards[ward_of(c)] = e  # type: ignore[index]
    return Areas(county, districts, wards)


def missing_districts(results: Sequence[coordinator_pb2.FederatedResult]) -> tuple[str, ...]:
    """Districts that did not answer any of these results."""
    return tuple(sorted({d.district_code for r in results for d in r.districts if not d.answered}))


def charged_rho(results: Sequence[coordinator_pb2.FederatedResult]) -> dict[str, float]:
    """Rho newly charged at each district by these results (zero where replayed)."""
    out: dict[str, float] = {}
    for r in results:
        for d in r.districts:
            if d.answered:
                out[d.district_code] = out.get(d.district_code, 0.0) + d.charge.rho
    return out


class NotStoredError(LookupError):
    """A figure that was never asked: reading never asks (asking spends), so it is a gap in what is read."""

    def __init__(self, query: query_pb2.Query) -> None:
        super().__init__(f"{query.indicator or 'query'} ({query.query_id}) has not been asked yet")
        self.query = query


def stored_only(fetch: Fetch) -> Submit:
    """A Submit that reads stored results only and never spends; raises NotStoredError for a figure never asked."""

    def read(fq: coordinator_pb2.FederatedQuery) -> coordinator_pb2.FederatedResult:
        stored = fetch(fq.query.query_id)
        if stored is None:
            raise NotStoredError(fq.query)
        return stored

    return read


def with_purpose(submit: Submit, purpose: str) -> Submit:
    """A Submit that records the analyst's own purpose on every query (the analysis's default when empty)."""
    if not purpose:
        return submit

    def ask(fq: coordinator_pb2.FederatedQuery) -> coordinator_pb2.FederatedResult:
        out = coordinator_pb2.FederatedQuery()
        out.CopyFrom(fq)
        out.query.purpose = purpose
        return submit(out)

    return ask


def send(submit: Submit, query: query_pb2.Query) -> coordinator_pb2.FederatedResult:
    """Submit one query county-wide."""
    return submit(coordinator_pb2.FederatedQuery(query=query))
