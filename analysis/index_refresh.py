"""The monthly index refresh and the LSI series for the county, each district and each ward.

Query ids are deterministic: a month is refreshed once, at one budget; the coordinator's result store and every
node's release store replay by id, so re-running a refresh, or building a report later, costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from analysis.allocation import Input, optimal_split
from analysis.federated import Areas, Fetch, Submit, areas_of, charged_rho, missing_districts, send
from analysis.indicators import indicator
from analysis.lsi import COMPONENTS, rates_year_breaks
from analysis.lsi import index_series as lsi_index_series
from analysis.queries import build_query, indicator_query
from common.estimates import Estimate, ratio
from protos.lsi.v1 import coordinator_pb2, query_pb2
from protos.serde import measure_to_wire

# The household count is the denominator of every share; the components are the LSI's (analysis/lsi.py).
INDEX_QUERIES: tuple[str, ...] = ("households", *(c.name for c in COMPONENTS))
_SHARES = frozenset(c.name for c in COMPONENTS if c.reference is None)
# A public planning value for every hardship share (b and c in docs/lsi.md), used only to split the refresh's
# rho: it enters through the normaliser 1 − b (docs/lsi.md: usually 0.5–1) and the household count's weight. A
# value that is off makes the split a little less good, never dearer; it is not read from any data.
PLANNING_SHARE = 0.2
# With secure county cells, the share of the refresh's rho spent on them (the rest buys the ward cells). The
# plain county sums every ward cell's noise (a county of ~270 wards: variance ~270 cells' worth); one secure release
# carries about n/t of one cell's, so even 5% of the rho makes the county interval ~3x narrower, while the ward
# cells lose only 2.5% of their precision (their sd grows by 1/sqrt(0.95)).
COUNTY_SHARE = 0.05


@dataclass(frozen=True)
class IndexInputs:
    """One month's LSI inputs: the household count and each component, at every level."""

    month: str
    households: Areas
    components: Mapping[str, Areas]
    missing_districts: tuple[str, ...] = ()
    charged_rho: Mapping[str, float] = field(default_factory=dict)  # by district, this call (0 when replayed)
    secure_county: bool = False  # county figures from secure sums (one mechanism's noise), not summed wards


def index_query_id(month: str, name: str) -> str:
    """The refresh's id for one input of one month: a month is refreshed once, at one budget (docs/lsi.md)."""
    return f"lsi-index-{month}-{name}"


def county_query_id(month: str, name: str) -> str:
    """The refresh's id for one input's secure county total of one month."""
    return f"lsi-index-{month}-{name}-county"


def allocation_inputs(planning_share: float = PLANNING_SHARE, *, mean_as_sum: bool = False) -> list[Input]:
    """Each refresh query's weight in an area's index and its sensitivity, from public values only.

    Linearising LSI = 100·(1 + Σ w_i d_i t_i) (analysis/lsi.py) in an area of H households, with every
    share at the planning value p, the derivatives with respect to each query's noisy value are, dropping
    the common factor 100 / H:

    - a hardship count n_i (share c_i = n_i / H, term (c_i − b_i)/(1 − b_i)): w_i / (1 − p), sensitivity 1;
    - the household count H (in every share's denominator): Σ_i w_i p / (1 − p), sensitivity 1;
    - the mean surplus m (term (m − m_b)/R): w_m / R. The node splits a mean's rho evenly between its sum
      (sensitivity C, the clamp's largest magnitude) and its count (1), so var(m) ≈ (C² + m²) / (ρ H²): the
      same as one release of sensitivity √(2 (C² + m²)) at ρ. m is planned at 0 (|m| ≪ C).

    With `mean_as_sum` (the secure county cells, where a mean is asked as its sum over the household count)
    the money input is the sum alone, one release of sensitivity C, and m = 0 leaves the count's weight as is.

    The base month's inputs enter with the same weights (to first order), so one split serves both months.
    """
    if not 0.0 < planning_share < 1.0:
        raise ValueError(f"planning_share must be in (0, 1), got {planning_share}")
    room = 1.0 - planning_share
    out = [
        Input(
            "households",
            math.fsum(c.weight * planning_share / room for c in COMPONENTS if c.name in _SHARES),
            1.0,
        )
    ]
    for c in COMPONENTS:
        if c.name in _SHARES:
            out.append(Input(c.name, c.weight / room, 1.0))
        else:
            assert c.reference is not None  # not a share: a money component with its £ normaliser
            spec = indicator(c.name)
            clamp = max(abs(spec.lower), abs(spec.upper))
            out.append(Input(c.name, c.weight / c.reference, (1.0 if mean_as_sum else math.sqrt(2.0)) * clamp))
    return out


def index_split(rho: float) -> dict[str, float]:
    """The refresh's rho per query: in proportion to weight × sensitivity, the split that minimises the index's
    variance in every area (analysis/allocation.py)."""
    return optimal_split(allocation_inputs(), rho)


def _ward_rho(rho: float, secure_county: bool) -> float:
    if not rho > 0:
        raise ValueError(f"rho must be positive, got {rho}")
    return rho * (1.0 - COUNTY_SHARE) if secure_county else rho


def index_queries(month: str, *, rho: float, secure_county: bool = False) -> list[query_pb2.Query]:
    """The refresh's ward queries for a month: each input by ward, the rho split to minimise the index's
    variance (Gaussian, zCDP); with secure county cells, what COUNTY_SHARE leaves of it."""
    split = index_split(_ward_rho(rho, secure_county))
    return [
        indicator_query(
            indicator(name),
            months=[month],
            group_by=["ward_code"],
            rho=split[name],
            purpose=f"Living Standards Index refresh, {month}",
            query_id=index_query_id(month, name),
        )
        for name in INDEX_QUERIES
    ]


def county_queries(month: str, *, rho: float) -> dict[str, query_pb2.Query]:
    """The refresh's secure county queries for a month, by input: COUNTY_SHARE of rho, split like the wards'.

    A secure sum takes counts and sums only, so the mean surplus is asked as its clamped sum; its county mean is
    that over the secure household count (the same records: the mean has no filter)."""
    if not rho > 0:
        raise ValueError(f"rho must be positive, got {rho}")
    split = optimal_split(allocation_inputs(mean_as_sum=True), rho * COUNTY_SHARE)
    purpose = f"Living Standards Index refresh, {month} (secure county total)"
    out = {}
    for name in INDEX_QUERIES:
        spec = indicator(name)
        if spec.measure == "mean":
            out[name] = build_query(
                measure_to_wire("sum", spec.column, spec.lower, spec.upper),
                months=[month],
                rho=split[name],
                purpose=purpose,
                query_id=county_query_id(month, name),
                indicator=name,
            )
        else:
            out[name] = indicator_query(
                spec, months=[month], rho=split[name], purpose=purpose, query_id=county_query_id(month, name)
            )
    return out


def _secure_county(month: str, results: Mapping[str, coordinator_pb2.FederatedResult]) -> dict[str, Estimate | None]:
    """Each input's county figure from its secure total; the mean is the sum over the household count."""
    totals = {name: areas_of(r, month).county for name, r in results.items()}
    households = totals["households"]
    out = dict(totals)
    for name in INDEX_QUERIES:
        if indicator(name).measure == "mean":
            total = totals[name]
            if total is not None and households is not None and households.value > 0:
                out[name] = ratio(total, households)
            else:
                out[name] = None
    return out


def index_inputs(
    month: str,
    results: Mapping[str, coordinator_pb2.FederatedResult],
    county_results: Mapping[str, coordinator_pb2.FederatedResult] | None = None,
) -> IndexInputs:
    """Typed inputs from the refresh's results, keyed by indicator name; county figures from the secure results
    when there are any (district and ward figures always from the ward queries)."""
    households = areas_of(results["households"], month)
    components = {c.name: areas_of(results[c.name], month) for c in COMPONENTS}
    every = [*results.values(), *(county_results or {}).values()]
    if county_results:
        county = _secure_county(month, county_results)
        households = replace(households, county=county["households"])
        components = {name: replace(a, county=county[name]) for name, a in components.items()}
    return IndexInputs(
        month=month,
        households=households,
        components=components,
        # A district missing from a secure total is missing from the county figures, so it is listed too.
        missing_districts=missing_districts(every),
        charged_rho=charged_rho(every),
        secure_county=bool(county_results),
    )


def refresh_index_month(submit: Submit, month: str, *, rho: float, secure_county: bool = False) -> IndexInputs:
    """Refresh one month's index inputs county-wide, spending at most `rho` at each node (less when replayed);
    with `secure_county`, the county figures are secure sums (coordinator's secure aggregation), whose charge
    adds the small term for summed discrete Gaussians (privacy/distributed.py) to their share of `rho`."""
    # Secure totals first: a round the nodes refuse (say a share scale below their floor at a large rho) stops
    # the refresh before any ward query is charged, so the month can still be refreshed without them.
    county = (
        {
            name: submit(coordinator_pb2.FederatedQuery(query=q, secure=True))
            for name, q in county_queries(month, rho=rho).items()
        }
        if secure_county
        else None
    )
    results = {q.indicator: send(submit, q) for q in index_queries(month, rho=rho, secure_county=secure_county)}
    return index_inputs(month, results, county)


def stored_index_month(fetch: Fetch, month: str) -> IndexInputs | None:
    """A month's inputs from the coordinator's stored results (no query, no spend); None if not refreshed."""
    results = {}
    for name in INDEX_QUERIES:
        found = fetch(index_query_id(month, name))
        if found is None:
            return None
        results[name] = found
    county = {name: r for name in INDEX_QUERIES if (r := fetch(county_query_id(month, name))) is not None}
    # Secure county figures only when the whole set was stored (a refresh stopped part-way falls back to wards).
    return index_inputs(month, results, county if len(county) == len(INDEX_QUERIES) else None)


@dataclass(frozen=True)
class IndexSeries:
    """The LSI per month for the county, each district and each ward, against one base month."""

    base_month: str
    months: tuple[str, ...]
    county: Mapping[str, Estimate]
    districts: Mapping[str, Mapping[str, Estimate]]
    wards: Mapping[str, Mapping[str, Estimate]]
    missing_districts: Mapping[str, tuple[str, ...]]  # month -> districts that did not answer
    notes: tuple[str, ...] = ()
    breaks: tuple[str, ...] = ()  # months that start a new rates year: a step there is the rates, not lives


def _shares(inputs: IndexInputs, pick: Callable[[Areas], Estimate | None]) -> dict[str, Estimate] | None:
    """An area's component values (shares over its noisy household count; the mean as released), or None."""
    households = pick(inputs.households)
    if households is None or households.value <= 0:
        return None
    out: dict[str, Estimate] = {}
    for c in COMPONENTS:
        value = pick(inputs.components[c.name])
        if value is None:
            return None
        # Numerator and denominator are separate releases, so their noise is independent (ratio's assumption).
        out[c.name] = ratio(value, households) if c.name in _SHARES else value
    return out


def _district_pick(code: str) -> Callable[[Areas], Estimate | None]:
    return lambda a: a.districts.get(code)


def _ward_pick(code: str) -> Callable[[Areas], Estimate | None]:
    return lambda a: a.wards.get(code)


def _area_series(
    per_month: Mapping[str, IndexInputs], base_month: str, pick: Callable[[Areas], Estimate | None]
) -> dict[str, Estimate] | None:
    values = {m: s for m, inp in per_month.items() if (s := _shares(inp, pick)) is not None}
    if base_month not in values:
        return None
    try:
        return lsi_index_series(values, base_month)
    except ValueError:  # a base share of 1 or more (possible in a tiny ward after noise): no index there
        return None


def index_series(inputs_by_month: Mapping[str, IndexInputs], base_month: str) -> IndexSeries:
    """The LSI with 95% intervals for every area and month against base_month (post-processing only).

    An area gets no value for a month where one of its inputs was withheld (minimum published cell) or its
    noisy household count is not positive, and no series at all without a usable base month."""
    if base_month not in inputs_by_month:
        raise KeyError(f"base month {base_month} has not been refreshed")
    months = tuple(sorted(m for m in inputs_by_month if m >= base_month))
    per_month = {m: inputs_by_month[m] for m in months}
    base = per_month[base_month]
    district_codes = sorted(base.households.districts)
    ward_codes = sorted(base.households.wards)
    districts = {code: s for code in district_codes if (s := _area_series(per_month, base_month, _district_pick(code)))}
    wards = {code: s for code in ward_codes if (s := _area_series(per_month, base_month, _ward_pick(code)))}
    county = _area_series(per_month, base_month, lambda a: a.county) or {}
    missing = {m: inp.missing_districts for m, inp in per_month.items() if inp.missing_districts}
    notes = []
    if missing:
        notes.append(
            "County figures for months with a district missing cover the districts that answered, so "
            "they compare a different set of households with the base month."
        )
    without = len(ward_codes) - len(wards)
    if without:
        notes.append(
            f"{without} of {len(ward_codes)} wards have no index: an input was withheld under a "
            "council's minimum published cell in the base month."
        )
    breaks = rates_year_breaks(months)
    for month in breaks:
        notes.append(
            f"Break in {month}: a new rates year begins (benefit uprating, bills, poverty line). A change "
            "across it reflects the new rates as well as households' lives; compare months within one "
            "rates year, or the same month a year apart."
        )
    return IndexSeries(base_month, months, county, districts, wards, missing, tuple(notes), breaks)


def stored_series(
    fetch: Fetch, months: Sequence[str], base_month: str, month: str
) -> tuple[IndexSeries | None, list[str]]:
    """The index from base_month to month out of stored refreshes (no spend), and the months not refreshed."""
    wanted = [m for m in months if base_month <= m <= month]
    found = {m: inp for m in wanted if (inp := stored_index_month(fetch, m)) is not None}
    not_refreshed = [m for m in wanted if m not in found]
    if base_month not in found:
        return None, not_refreshed
    return index_series(found, base_month), not_refreshed
