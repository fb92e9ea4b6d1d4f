"""County analyses built from federated queries: the monthly index refresh, benchmarks, unclaimed support, campaigns.

Each function takes `submit` (anything that sends a FederatedQuery to the coordinator and returns its
FederatedResult, e.g. a CoordinatorStub's Submit) and returns typed values; nothing here opens a channel, so
tests can pass a fake. Everything after the submit is post-processing of released estimates: no budget, no noise.

Query ids are deterministic wherever the same question is meant to be asked once: the coordinator's result
store and every node's release store replay by id, so re-running a refresh, or building a report later,
costs nothing. Nodes and the coordinator refuse an id reused for a different question (ALREADY_EXISTS).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from analysis.benchmarks import change, per_thousand, rank_ranges, vs_county
from analysis.indicators import Indicator, indicator
from analysis.lsi import COMPONENTS
from analysis.lsi import index_series as lsi_index_series
from analysis.queries import indicator_query
from analysis.report_data import BenchmarkRow, BudgetRow, CampaignRow, ReportData, SeriesPoint, UnclaimedRow
from common.estimates import Estimate, ratio, scale
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import district as district_info

__all__ = [
    "CAMPAIGN_INDICATORS",
    "INDEX_QUERIES",
    "PC_VALUE_UPPER",
    "Areas",
    "Benchmark",
    "IndexInputs",
    "IndexSeries",
    "Submit",
    "UnclaimedArea",
    "UnclaimedTable",
    "areas_of",
    "benchmark",
    "budget_rows",
    "report_data",
    "stored_series",
    "campaign_results",
    "index_inputs",
    "index_query_id",
    "index_series",
    "refresh_index_month",
    "shift_month",
    "stored_index_month",
    "unclaimed",
]

Submit = Callable[[coordinator_pb2.FederatedQuery], coordinator_pb2.FederatedResult]
Fetch = Callable[[str], "coordinator_pb2.FederatedResult | None"]

# The household count is the denominator of every share; the components are the LSI's (analysis/lsi.py).
INDEX_QUERIES: tuple[str, ...] = ("households", *(c.name for c in COMPONENTS))
_SHARES = frozenset(c.name for c in COMPONENTS if c.reference is None)

# Clamp for one household's unclaimed Pension Credit (£ a year) in the unclaimed-support analysis. The
# catalogue's 0..12,000 is the theoretical ceiling; noise scales with the bound, so we clamp near the 99th
# percentile of per-household gaps instead. On the demo's synthetic county (seed 7, scale 0.5, 2025-10) 6 of 560
# households have a gap above £6,000 and clamping lowers the exact total (£1.00m) by 0.47%, while the county
# estimate's mean absolute error at the demo's budget falls from 11.1% to 4.9% (bench/unclaimed_accuracy.py,
# bench/results/unclaimed_accuracy.md). Real caseloads should be checked the same way before relying on it.
PC_VALUE_UPPER = 6000.0

CAMPAIGN_INDICATORS: tuple[str, ...] = ("campaign_households", "campaign_contacted", "campaign_claimed",
                                        "campaign_gained")


def shift_month(month: str, k: int) -> str:
    """YYYY-MM moved by k months (negative: earlier)."""
    year, mon = (int(x) for x in month.split("-"))
    n = year * 12 + (mon - 1) + k
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


# ------------------------------------------------------------------------------------------------ areas


@dataclass(frozen=True)
class Areas:
    """One measure for one month at every level: the county, each district and each ward (withheld cells absent)."""

    county: Estimate | None
    districts: Mapping[str, Estimate]
    wards: Mapping[str, Estimate]


def _ward(cell: query_pb2.Cell) -> str | None:
    return next((k.value for k in cell.keys if k.column == "ward_code"), None)


def _month(cell: query_pb2.Cell) -> str:
    return next(k.value for k in cell.keys if k.column == "month")


def areas_of(result: coordinator_pb2.FederatedResult, month: str) -> Areas:
    """County, district and ward estimates of one month from a combined result (other group keys ignored)."""
    county: Estimate | None = None
    districts: dict[str, Estimate] = {}
    wards: dict[str, Estimate] = {}
    for c in result.cells:
        if c.suppressed or _month(c) != month or len(c.keys) > (2 if _ward(c) else 1):
            continue
        e = Estimate(c.value, c.variance)
        if c.level == query_pb2.Cell.COUNTY:
            county = e
        elif c.level == query_pb2.Cell.DISTRICT:
            districts[c.district_code] = e
        elif c.level == query_pb2.Cell.GROUP and _ward(c):
            wards[_ward(c)] = e  # type: ignore[index]
    return Areas(county, districts, wards)


def _missing(results: Sequence[coordinator_pb2.FederatedResult]) -> tuple[str, ...]:
    return tuple(sorted({d.district_code for r in results for d in r.districts if not d.answered}))


def _charged(results: Sequence[coordinator_pb2.FederatedResult]) -> dict[str, float]:
    """Rho newly charged at each district by these results (zero where replayed)."""
    out: dict[str, float] = {}
    for r in results:
        for d in r.districts:
            if d.answered:
                out[d.district_code] = out.get(d.district_code, 0.0) + d.charge.rho
    return out


def _send(submit: Submit, query: query_pb2.Query) -> coordinator_pb2.FederatedResult:
    return submit(coordinator_pb2.FederatedQuery(query=query))


# ------------------------------------------------------------------------------------------------ index


@dataclass(frozen=True)
class IndexInputs:
    """One month's LSI inputs: the household count and each component, at every level."""

    month: str
    households: Areas
    components: Mapping[str, Areas]
    missing_districts: tuple[str, ...] = ()
    charged_rho: Mapping[str, float] = field(default_factory=dict)  # by district, this call (0 when replayed)


def index_query_id(month: str, name: str) -> str:
    """The refresh's id for one input of one month: a month is refreshed once, at one budget (docs/lsi.md)."""
    return f"lsi-index-{month}-{name}"


def index_queries(month: str, *, rho: float) -> list[query_pb2.Query]:
    """The refresh's queries for a month: each input by ward, the total rho split evenly (Gaussian, zCDP)."""
    if not rho > 0:
        raise ValueError(f"rho must be positive, got {rho}")
    per_query = rho / len(INDEX_QUERIES)
    return [
        indicator_query(indicator(name), months=[month], group_by=["ward_code"], rho=per_query,
                        purpose=f"Living Standards Index refresh, {month}", query_id=index_query_id(month, name))
        for name in INDEX_QUERIES
    ]


def index_inputs(month: str, results: Mapping[str, coordinator_pb2.FederatedResult]) -> IndexInputs:
    """Typed inputs from the refresh's results, keyed by indicator name."""
    return IndexInputs(
        month=month,
        households=areas_of(results["households"], month),
        components={c.name: areas_of(results[c.name], month) for c in COMPONENTS},
        missing_districts=_missing(list(results.values())),
        charged_rho=_charged(list(results.values())),
    )


def refresh_index_month(submit: Submit, month: str, *, rho: float) -> IndexInputs:
    """Refresh one month's index inputs county-wide, spending at most `rho` at each node (less when replayed)."""
    results = {q.indicator: _send(submit, q) for q in index_queries(month, rho=rho)}
    return index_inputs(month, results)


def stored_index_month(fetch: Fetch, month: str) -> IndexInputs | None:
    """A month's inputs from the coordinator's stored results (no query, no spend); None if not refreshed."""
    results = {}
    for name in INDEX_QUERIES:
        found = fetch(index_query_id(month, name))
        if found is None:
            return None
        results[name] = found
    return index_inputs(month, results)


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


def _area_series(per_month: Mapping[str, IndexInputs], base_month: str,
                 pick: Callable[[Areas], Estimate | None]) -> dict[str, Estimate] | None:
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
    districts = {code: s for code in district_codes
                 if (s := _area_series(per_month, base_month, lambda a, c=code: a.districts.get(c)))}
    wards = {code: s for code in ward_codes
             if (s := _area_series(per_month, base_month, lambda a, c=code: a.wards.get(c)))}
    county = _area_series(per_month, base_month, lambda a: a.county) or {}
    missing = {m: inp.missing_districts for m, inp in per_month.items() if inp.missing_districts}
    notes = []
    if missing:
        notes.append("County figures for months with a district missing cover the districts that answered, so "
                     "they compare a different set of households with the base month.")
    without = len(ward_codes) - len(wards)
    if without:
        notes.append(f"{without} of {len(ward_codes)} wards have no index: an input was withheld under a "
                     "council's minimum published cell in the base month.")
    return IndexSeries(base_month, months, county, districts, wards, missing, tuple(notes))


# ------------------------------------------------------------------------------------------- benchmarks


@dataclass(frozen=True)
class Benchmark:
    """Districts compared per 1,000 households (public denominators), with ranks, changes and the county."""

    indicator: str
    title: str
    month: str
    previous_month: str | None
    year_ago: str | None
    county_rate: Estimate
    county_change_month: Estimate | None
    county_change_year: Estimate | None
    rows: tuple[BenchmarkRow, ...]
    missing_districts: tuple[str, ...] = ()
    charged_rho: Mapping[str, float] = field(default_factory=dict)


def _loss_tag(epsilon: float | None, rho: float | None) -> str:
    if (epsilon is None) == (rho is None):
        raise ValueError("give exactly one of epsilon or rho")
    return f"eps{epsilon:g}" if epsilon is not None else f"rho{rho:g}"


def benchmark(submit: Submit, name: str, month: str, *, epsilon: float | None = None, rho: float | None = None,
              held: Collection[str] | None = None) -> Benchmark:
    """Benchmark one count indicator for `month`, with change on the month and the year where nodes hold them.

    One query over [month, month−1, month−12] (those in `held`, when given): every household is in each
    month's cell once, so the node charges for 3 contributions; each month's cells carry independent noise."""
    ind = indicator(name)
    if ind.measure == "mean" or ind.dataset:
        raise ValueError(f"{name}: benchmarks are rates per 1,000 households of a household count or sum")
    previous, year_ago = shift_month(month, -1), shift_month(month, -12)
    months = [m for m in (month, previous, year_ago) if held is None or m in held]
    if month not in months:
        raise ValueError(f"no node holds {month}")
    qid = f"lsi-benchmark-{name}-{'+'.join(months)}-{_loss_tag(epsilon, rho)}"
    q = indicator_query(ind, months=months, epsilon=epsilon, rho=rho, query_id=qid,
                        purpose=f"District benchmark of {name}, {month}")
    result = _send(submit, q)
    by_month = {m: areas_of(result, m) for m in months}
    return benchmark_from(ind, month, by_month, missing=_missing([result]), charged=_charged([result]))


def benchmark_from(ind: Indicator, month: str, by_month: Mapping[str, Areas], *, missing: tuple[str, ...] = (),
                   charged: Mapping[str, float] | None = None) -> Benchmark:
    """The benchmark from released district totals per month (post-processing only)."""
    now = by_month[month].districts
    codes = sorted(now)
    hh = {c: district_info(c).households for c in codes}
    total_hh = sum(hh.values())

    def rates(m: str) -> dict[str, Estimate]:
        return {c: per_thousand(e, hh[c]) for c, e in by_month[m].districts.items() if c in hh}

    def county_rate(m: str) -> Estimate | None:
        # Over the districts answering this month, so it matches the districts it is compared with.
        present = by_month[m].districts
        if not present:
            return None
        total = Estimate(math.fsum(present[c].value for c in present),
                         math.fsum(present[c].variance for c in present))
        return scale(total, 1000.0 / sum(district_info(c).households for c in present))

    current = rates(month)
    previous, year_ago = shift_month(month, -1), shift_month(month, -12)
    prev_rates = rates(previous) if previous in by_month else {}
    year_rates = rates(year_ago) if year_ago in by_month else {}
    ranks = rank_ranges(current, higher_is_worse=ind.higher_is_worse)
    county_now = county_rate(month)
    assert county_now is not None
    rows = tuple(
        BenchmarkRow(
            district_code=c, name=district_info(c).name, rate=current[c], rank=ranks[c],
            change_month=change(current[c], prev_rates[c]) if c in prev_rates else None,
            change_year=change(current[c], year_rates[c]) if c in year_rates else None,
            # The county includes the district: the weight accounts for that shared noise (benchmarks.vs_county).
            vs_county=vs_county(current[c], county_now, district_weight=hh[c] / total_hh),
        )
        for c in codes
    )
    cp, cy = (county_rate(m) if m in by_month else None for m in (previous, year_ago))
    return Benchmark(
        indicator=ind.name, title=ind.title, month=month,
        previous_month=previous if previous in by_month else None,
        year_ago=year_ago if year_ago in by_month else None,
        county_rate=county_now,
        county_change_month=change(county_now, cp) if cp is not None else None,
        county_change_year=change(county_now, cy) if cy is not None else None,
        rows=rows, missing_districts=missing, charged_rho=dict(charged or {}),
    )


# ------------------------------------------------------------------------------------- unclaimed support


@dataclass(frozen=True)
class UnclaimedArea:
    """Unclaimed support in one area: Pension Credit households and £ a year, free school meals households and
    children (None where a cell was withheld)."""

    level: str  # "county", "district" or "ward"
    code: str
    district_code: str
    pc_households: Estimate | None
    pc_value: Estimate | None
    fsm_households: Estimate | None
    fsm_children: Estimate | None


@dataclass(frozen=True)
class UnclaimedTable:
    """Unclaimed support county-wide, by district and (when asked) by ward."""

    month: str
    epsilon: float
    pc_value_upper: float
    county: UnclaimedArea
    districts: tuple[UnclaimedArea, ...]
    wards: tuple[UnclaimedArea, ...] = ()
    missing_districts: tuple[str, ...] = ()
    charged_rho: Mapping[str, float] = field(default_factory=dict)

    def report_rows(self) -> list[UnclaimedRow]:
        """District rows for the HTML report (districts with all three figures released)."""
        return [
            UnclaimedRow(a.code, district_info(a.code).name, a.pc_households, a.pc_value, a.fsm_children)
            for a in self.districts
            if a.pc_households is not None and a.pc_value is not None and a.fsm_children is not None
        ]


UNCLAIMED_QUERIES = ("pc_unclaimed_households", "pc_unclaimed_value", "fsm_unclaimed_households",
                     "fsm_unclaimed_children")


def unclaimed_queries(month: str, *, epsilon: float, by_ward: bool = False,
                      pc_value_upper: float = PC_VALUE_UPPER) -> list[query_pb2.Query]:
    """The four unclaimed-support queries, the total epsilon split evenly (pure DP composes by addition)."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    per_query = epsilon / len(UNCLAIMED_QUERIES)
    grouping = "ward" if by_ward else "district"
    out = []
    for name in UNCLAIMED_QUERIES:
        upper = f"-upper{pc_value_upper:g}" if name == "pc_unclaimed_value" else ""
        q = indicator_query(indicator(name), months=[month], group_by=["ward_code"] if by_ward else [],
                            epsilon=per_query, purpose=f"Unclaimed support by {grouping}, {month}",
                            query_id=f"lsi-unclaimed-{month}-{name}-by-{grouping}-eps{epsilon:g}{upper}")
        if name == "pc_unclaimed_value":
            q.measure.upper = pc_value_upper  # see PC_VALUE_UPPER; the audit log records the bound used
        out.append(q)
    return out


def unclaimed(submit: Submit, month: str, *, epsilon: float, by_ward: bool = False,
              pc_value_upper: float = PC_VALUE_UPPER) -> UnclaimedTable:
    """Households missing out on Pension Credit (and £ a year) and on free school meals, with 95% intervals."""
    results = {q.indicator: _send(submit, q)
               for q in unclaimed_queries(month, epsilon=epsilon, by_ward=by_ward, pc_value_upper=pc_value_upper)}
    areas = {name: areas_of(r, month) for name, r in results.items()}
    pc_h, pc_v, fsm_h, fsm_c = (areas[n] for n in UNCLAIMED_QUERIES)
    answered = sorted(set(pc_h.districts) | set(pc_v.districts) | set(fsm_h.districts) | set(fsm_c.districts))
    county = UnclaimedArea("county", "county", "", pc_h.county, pc_v.county, fsm_h.county, fsm_c.county)
    districts = tuple(
        UnclaimedArea("district", c, c, pc_h.districts.get(c), pc_v.districts.get(c), fsm_h.districts.get(c),
                      fsm_c.districts.get(c))
        for c in answered
    )
    ward_district = {_ward(c): c.district_code for r in results.values() for c in r.cells if _ward(c)}
    wards = tuple(
        UnclaimedArea("ward", w, ward_district[w], pc_h.wards.get(w), pc_v.wards.get(w), fsm_h.wards.get(w),
                      fsm_c.wards.get(w))
        for w in sorted(ward_district, key=lambda w: (ward_district[w], w))
    )
    return UnclaimedTable(month, epsilon, pc_value_upper, county, districts, wards,
                          _missing(list(results.values())), _charged(list(results.values())))


# ------------------------------------------------------------------------------------------- campaigns


def campaign_queries(name: str, epsilon: float, purpose: str = "") -> list[query_pb2.Query]:
    """The campaign indicator queries over `campaign:NAME`, the total epsilon split evenly, fresh ids."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    per_query = epsilon / len(CAMPAIGN_INDICATORS)
    return [
        indicator_query(indicator(i), months=[], epsilon=per_query, query_id=str(uuid.uuid4()),
                        purpose=purpose or f"campaign {name} results", dataset=f"campaign:{name}")
        for i in CAMPAIGN_INDICATORS
    ]


def campaign_results(submit: Submit, name: str, *, epsilon: float) -> list[CampaignRow]:
    """Each district's campaign figures (contacted, claimed, £ a year gained), the total epsilon split evenly.

    Fresh query ids: outcomes change as teams record them, and a node answers an unchanged campaign from its
    release store by fingerprint anyway, so a repeat costs nothing until there is something new to count."""
    results = {q.indicator: _send(submit, q) for q in campaign_queries(name, epsilon)}
    per = {i: {c.district_code: Estimate(c.value, c.variance) for c in r.cells
               if c.level == query_pb2.Cell.DISTRICT and not c.suppressed}
           for i, r in results.items()}
    codes = sorted(set(per["campaign_contacted"]) & set(per["campaign_claimed"]) & set(per["campaign_gained"]))
    return [
        CampaignRow(c, district_info(c).name, name, per["campaign_contacted"][c], per["campaign_claimed"][c],
                    per["campaign_gained"][c])
        for c in codes
    ]


# ---------------------------------------------------------------------------------------------- report


def budget_rows(county: coordinator_pb2.CountyBudget) -> list[BudgetRow]:
    """Each reachable node's budget use for the report."""
    return [BudgetRow(b.district_code, b.district_name, b.spent_rho, b.total_rho, b.spent_epsilon, b.delta)
            for b in sorted(county.nodes, key=lambda b: b.district_code)]


def stored_series(fetch: Fetch, months: Sequence[str], base_month: str, month: str) -> tuple[IndexSeries | None,
                                                                                         list[str]]:
    """The index from base_month to month out of stored refreshes (no spend), and the months not refreshed."""
    wanted = [m for m in months if base_month <= m <= month]
    found = {m: inp for m in wanted if (inp := stored_index_month(fetch, m)) is not None}
    not_refreshed = [m for m in wanted if m not in found]
    if base_month not in found:
        return None, not_refreshed
    return index_series(found, base_month), not_refreshed


def report_data(submit: Submit, fetch: Fetch, budgets: Callable[[], coordinator_pb2.CountyBudget], *,
                months: Sequence[str], month: str, base_month: str, generated_at: datetime,
                benchmark_indicator: str = "households_in_crisis", benchmark_epsilon: float = 1.0,
                unclaimed_epsilon: float = 2.0, campaign: str | None = None,
                campaign_epsilon: float = 1.0) -> ReportData:
    """Everything the HTML report shows. The index comes from stored refreshes only; the benchmark and unclaimed
    support are asked with deterministic ids (free when already asked at the same budget); budgets are read last
    so they include what the report itself spent."""
    series, not_refreshed = stored_series(fetch, months, base_month, month)
    notes: list[str] = []
    county_series: list[SeriesPoint] = []
    ward_index: dict[str, Estimate] = {}
    missing: set[str] = set()
    if series is None:
        notes.append(f"No index: the base month {base_month} has not been refreshed (lsi index refresh).")
    else:
        county_series = [SeriesPoint(m, series.county[m]) for m in series.months if m in series.county]
        ward_index = {w: s[month] for w, s in series.wards.items() if month in s}
        notes += series.notes
        missing |= set(series.missing_districts.get(month, ()))
    if not_refreshed:
        notes.append(f"Months not refreshed, so not in the index: {', '.join(not_refreshed)}.")
    bench = benchmark(submit, benchmark_indicator, month, epsilon=benchmark_epsilon, held=months)
    table = unclaimed(submit, month, epsilon=unclaimed_epsilon)
    missing |= set(bench.missing_districts) | set(table.missing_districts)
    campaigns = campaign_results(submit, campaign, epsilon=campaign_epsilon) if campaign else []
    notes.append(f"Benchmarks: {bench.title.lower()} in {month}, epsilon {benchmark_epsilon:g}; county rate "
                 f"{bench.county_rate.value:.1f} per 1,000 households. Unclaimed support: epsilon "
                 f"{unclaimed_epsilon:g}, Pension Credit gaps clamped at £{table.pc_value_upper:,.0f} a household.")
    return ReportData(
        title=f"Kent Living Standards Index, {month}",
        generated_at=generated_at,
        county_series=county_series,
        district_rows=list(bench.rows),
        ward_index=ward_index,
        unclaimed=table.report_rows(),
        campaigns=campaigns,
        budgets=budget_rows(budgets()),
        missing_districts=sorted(missing),
        notes=notes,
        benchmark_measure=f"{bench.title} per 1,000 households ({month})",
    )
