"""Gathering the county report's data: the stored index, a benchmark, unclaimed support, campaigns, budgets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from analysis.campaigns import StoredCampaign, stored_campaign, stored_campaign_names
from analysis.district_benchmarks import benchmark
from analysis.federated import Fetch, NotStoredError, Recent, stored_only
from analysis.index_refresh import stored_series
from analysis.report_data import BudgetRow, ReportData, SeriesPoint
from analysis.unclaimed import unclaimed
from common.estimates import Estimate
from protos.lsi.v1 import coordinator_pb2
from reference.geography import county_name


def budget_rows(county: coordinator_pb2.CountyBudget) -> list[BudgetRow]:
    """Each reachable node's budget use for the report."""
    return [
        BudgetRow(b.district_code, b.district_name, b.spent_rho, b.total_rho, b.spent_epsilon, b.delta)
        for b in sorted(county.nodes, key=lambda b: b.district_code)
    ]


def stored_campaigns(recent: Recent, name: str | None = None) -> list[StoredCampaign]:
    """The newest stored results of one campaign, or of every campaign the reader may see (never asked anew)."""
    names = [name] if name else stored_campaign_names(recent)
    return [c for c in (stored_campaign(recent, n) for n in names) if c is not None]


def campaign_note(c: StoredCampaign) -> str:
    """What a campaign's figures cover: when they were asked, at what epsilon, and which districts answered."""
    missing = f"; not answered: {', '.join(f'{n} ({why})' for n, why in c.missing)}" if c.missing else ""
    return (
        f"Campaign {c.name}: results asked {c.asked_at} at epsilon {c.epsilon:g}, "
        f"{len(c.answered)} district(s) answered{missing}."
    )


def report_data(
    fetch: Fetch,
    budgets: Callable[[], coordinator_pb2.CountyBudget],
    *,
    months: Sequence[str],
    month: str,
    base_month: str,
    generated_at: datetime,
    benchmark_indicator: str = "households_in_crisis",
    benchmark_epsilon: float = 1.0,
    unclaimed_epsilon: float = 2.0,
    campaign: str | None = None,
    campaign_epsilon: float = 1.0,
    recent: Recent | None = None,
) -> ReportData:
    """Everything the HTML report shows, read from stored results only: it never spends. A figure not yet asked
    (the benchmark, unclaimed support, a campaign, at the budget named) is a gap, marked in `gaps` and the notes
    with the command that would ask it."""
    submit = stored_only(fetch)
    gaps: list[str] = []
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
    try:
        bench = benchmark(submit, benchmark_indicator, month, epsilon=benchmark_epsilon, held=months)
    except NotStoredError:
        bench = None
        gaps.append(
            f"Benchmark not in your stored results: `lsi benchmark {benchmark_indicator} --month {month} "
            f"--epsilon {benchmark_epsilon:g} --yes` asks it (spends, or replays free if already asked)."
        )
    try:
        table = unclaimed(submit, month, epsilon=unclaimed_epsilon)
    except NotStoredError:
        table = None
        gaps.append(
            f"Unclaimed support not in your stored results: `lsi unclaimed --month {month} "
            f"--epsilon {unclaimed_epsilon:g} --yes` asks it (spends, or replays free if already asked)."
        )
    stored = stored_campaigns(recent, campaign) if recent is not None else []
    campaigns = [row for c in stored for row in c.rows]
    notes += [campaign_note(c) for c in stored]
    if campaign and not stored:
        gaps.append(
            f"Campaign {campaign} not in your stored results: `lsi campaign results --name {campaign} "
            f"--epsilon {campaign_epsilon:g} --yes` asks it (spends)."
        )
    if bench is not None:
        missing |= set(bench.missing_districts)
        rate = "withheld" if bench.county_rate is None else f"{bench.county_rate.value:.1f}"
        notes.append(
            f"Benchmarks: {bench.title.lower()} in {month}, epsilon {benchmark_epsilon:g}; county rate "
            f"{rate} per 1,000 dwellings."
        )
    if table is not None:
        missing |= set(table.missing_districts)
        notes.append(
            f"Unclaimed support: epsilon {unclaimed_epsilon:g}, Pension Credit gaps clamped at "
            f"£{table.pc_value_upper:,.0f} a household."
        )
    notes += [f"Gap: {g}" for g in gaps]
    return ReportData(
        title=f"{county_name()} Living Standards Index, {month}",
        generated_at=generated_at,
        county_series=county_series,
        district_rows=list(bench.rows) if bench is not None else [],
        ward_index=ward_index,
        unclaimed=table.report_rows() if table is not None else [],
        campaigns=campaigns,
        budgets=budget_rows(budgets()),
        missing_districts=sorted(missing),
        notes=notes,
        benchmark_measure=f"{bench.title if bench else benchmark_indicator} per 1,000 dwellings ({month})",
        gaps=gaps,
    )
