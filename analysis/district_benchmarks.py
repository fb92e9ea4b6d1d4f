"""District benchmarks: a count indicator per 1,000 dwellings, ranked with uncertainty, with changes."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from analysis.benchmarks import change, per_thousand, rank_ranges, vs_county
from analysis.coverage import MonthCover, coverage_of
from analysis.federated import Areas, Submit, areas_of, charged_rho, missing_districts, send, shift_month
from analysis.indicators import Indicator, indicator
from analysis.queries import indicator_query
from analysis.report_data import BenchmarkRow
from common.estimates import Estimate, scale
from reference.geography import district as district_info


@dataclass(frozen=True)
class Benchmark:
    """Districts compared per 1,000 dwellings (public denominators, VOA 2025), with ranks, changes and the county."""

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
    coverage: MonthCover | None = None  # which districts the county rate covers, for `month`


def _loss_tag(epsilon: float | None, rho: float | None) -> str:
    if (epsilon is None) == (rho is None):
        raise ValueError("give exactly one of epsilon or rho")
    return f"eps{epsilon:g}" if epsilon is not None else f"rho{rho:g}"


def benchmark(
    submit: Submit,
    name: str,
    month: str,
    *,
    epsilon: float | None = None,
    rho: float | None = None,
    held: Collection[str] | None = None,
) -> Benchmark:
    """Benchmark one count indicator for `month`, with change on the month and the year where nodes hold them.

    One query over [month, month−1, month−12] (those in `held`, when given): every household is in each
    month's cell once, so the node charges for 3 contributions; each month's cells carry independent noise."""
    ind = indicator(name)
    if ind.measure == "mean" or ind.dataset:
        raise ValueError(f"{name}: benchmarks are rates per 1,000 dwellings of a household count or sum")
    previous, year_ago = shift_month(month, -1), shift_month(month, -12)
    months = [m for m in (month, previous, year_ago) if held is None or m in held]
    if month not in months:
        raise ValueError(f"no node holds {month}")
    qid = f"lsi-benchmark-{name}-{'+'.join(months)}-{_loss_tag(epsilon, rho)}"
    q = indicator_query(
        ind, months=months, epsilon=epsilon, rho=rho, query_id=qid, purpose=f"District benchmark of {name}, {month}"
    )
    result = send(submit, q)
    by_month = {m: areas_of(result, m) for m in months}
    bench = benchmark_from(ind, month, by_month, missing=missing_districts([result]), charged=charged_rho([result]))
    return replace(bench, coverage=coverage_of(result).month(month))


def benchmark_from(
    ind: Indicator,
    month: str,
    by_month: Mapping[str, Areas],
    *,
    missing: tuple[str, ...] = (),
    charged: Mapping[str, float] | None = None,
) -> Benchmark:
    """The benchmark from released district totals per month (post-processing only)."""
    now = by_month[month].districts
    codes = sorted(now)
    hh = {c: district_info(c).dwellings for c in codes}
    total_hh = sum(hh.values())

    def rates(m: str) -> dict[str, Estimate]:
        return {c: per_thousand(e, hh[c]) for c, e in by_month[m].districts.items() if c in hh}

    def county_rate(m: str) -> Estimate | None:
        # Over the districts answering this month, so it matches the districts it is compared with.
        present = by_month[m].districts
        if not present:
            return None
        total = Estimate(math.fsum(present[c].value for c in present), math.fsum(present[c].variance for c in present))
        return scale(total, 1000.0 / sum(district_info(c).dwellings for c in present))

    current = rates(month)
    previous, year_ago = shift_month(month, -1), shift_month(month, -12)
    prev_rates = rates(previous) if previous in by_month else {}
    year_rates = rates(year_ago) if year_ago in by_month else {}
    ranks = rank_ranges(current, higher_is_worse=ind.higher_is_worse)
    county_now = county_rate(month)
    assert county_now is not None
    rows = tuple(
        BenchmarkRow(
            district_code=c,
            name=district_info(c).name,
            rate=current[c],
            rank=ranks[c],
            change_month=change(current[c], prev_rates[c]) if c in prev_rates else None,
            change_year=change(current[c], year_rates[c]) if c in year_rates else None,
            # The county includes the district: the weight accounts for that shared noise (benchmarks.vs_county).
            vs_county=vs_county(current[c], county_now, district_weight=hh[c] / total_hh),
        )
        for c in codes
    )
    cp, cy = (county_rate(m) if m in by_month else None for m in (previous, year_ago))
    return Benchmark(
        indicator=ind.name,
        title=ind.title,
        month=month,
        previous_month=previous if previous in by_month else None,
        year_ago=year_ago if year_ago in by_month else None,
        county_rate=county_now,
        county_change_month=change(county_now, cp) if cp is not None else None,
        county_change_year=change(county_now, cy) if cy is not None else None,
        rows=rows,
        missing_districts=missing,
        charged_rho=dict(charged or {}),
    )
