"""What each dashboard page shows, read through a Reader (stored results only) into sections and tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from typing import Any

from markupsafe import Markup

from analysis.campaigns import StoredCampaign, stored_campaign, stored_campaign_names
from analysis.coverage import Missing, MonthCover
from analysis.district_benchmarks import benchmark
from analysis.index_refresh import IndexSeries, stored_series
from analysis.unclaimed import UnclaimedArea, unclaimed
from common.estimates import Estimate
from dashboard.auth import User
from dashboard.config import DashboardConfig
from dashboard.reading import NotStoredError, Reader
from dashboard.tables import Cell, DashTable, Figure, index_fmt, rate_fmt
from privacy.spend_text import figure
from protos.lsi.v1 import query_pb2
from protos.serde import spend_history_from_wire
from reference.geography import county_name
from reference.geography import district as district_info
from report.charts import benchmark_chart
from report.formatting import LEVEL, fmt_money
from report.geometry import map_wards
from report.map import CLIP_PERCENTILES, centred_range, ward_fill, ward_map, ward_tip


@dataclass(frozen=True)
class Section:
    """A titled part of a page: an intro, a chart (SVG or Plotly JSON), a table, its coverage, or a placeholder."""

    title: str
    intro: str = ""
    svg: Markup | None = None
    plot: str = ""  # Plotly figure as JSON, drawn by dashboard.js
    table: DashTable | None = None
    coverage: MonthCover | None = None  # issue 10's coverage of the section's figures
    placeholder: str = ""


@dataclass(frozen=True)
class Page:
    """One page: its sections, plus data the page's script needs (the map's months)."""

    title: str
    sections: tuple[Section, ...]
    map_months: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # month -> ward -> [fill, tip]
    months: tuple[str, ...] = ()
    month: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def table(self, table_id: str) -> DashTable | None:
        """The table with this id, if the page has it."""
        return next((s.table for s in self.sections if s.table and s.table.id == table_id), None)


def _span(reader: Reader, cfg: DashboardConfig) -> tuple[list[str], str, str]:
    months = reader.months()
    base = cfg.base_month or months[0]
    return months, base, months[-1]


def _series(reader: Reader, cfg: DashboardConfig) -> tuple[IndexSeries | None, list[str], str]:
    months, base, month = _span(reader, cfg)
    series, not_refreshed = stored_series(reader.fetch, months, base, month)
    return series, not_refreshed, base


NO_INDEX = "No index yet: an analyst refreshes the base month and later ones (lsi index refresh --month M --rho R)."


def index_page(reader: Reader, cfg: DashboardConfig, user: User) -> Page:
    """The county index over time with its interval band, each district's line, and the tables behind them."""
    series, not_refreshed, base = _series(reader, cfg)
    notes = (f"Months not refreshed: {', '.join(not_refreshed)}.",) if not_refreshed else ()
    if series is None:
        return Page("Living Standards Index", (Section("County index", placeholder=NO_INDEX),), notes=notes)
    months = [m for m in series.months if m in series.county]
    county = DashTable(
        "county-index",
        f"County index by month (base {base} = 100) with its 95% interval",
        ("Month", "County index"),
        tuple((m, Figure(series.county[m], index_fmt, floor=None)) for m in months),
    )
    latest = months[-1]
    by_district = DashTable(
        "district-index",
        f"Each district's index in {latest}",
        ("District", "Index"),
        tuple(
            (district_info(code).name, Figure(s[latest], index_fmt, floor=None))
            for code, s in sorted(series.districts.items())
            if latest in s
        ),
    )
    return Page(
        "Living Standards Index",
        (
            Section(
                "County index over time",
                f"The county's index (base {base} = 100) with its 95% interval band, and each district's line. "
                "Above 100: better than the base month.",
                plot=_index_plot(series, months),
                table=county,
                coverage=reader.cover(latest),
            ),
            Section("Districts", table=by_district, coverage=reader.cover(latest)),
        ),
        notes=notes + tuple(series.notes),
    )


def _index_plot(series: IndexSeries, months: list[str]) -> str:
    """A Plotly figure: the county line inside its 95% band, a dotted base line and one line per district."""
    lows, highs = zip(*(series.county[m].ci(LEVEL) for m in months), strict=True)
    traces: list[dict[str, object]] = [
        {"x": months, "y": list(highs), "mode": "lines", "line": {"width": 0}, "showlegend": False, "name": "95% high"},
        {
            "x": months,
            "y": list(lows),
            "mode": "lines",
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": "rgba(90,90,90,0.25)",
            "name": "county 95% interval",
        },
        {
            "x": months,
            "y": [series.county[m].value for m in months],
            "mode": "lines+markers",
            "name": county_name(),
            "line": {"color": "#111", "width": 3},
        },
    ]
    for code, s in sorted(series.districts.items()):
        xs = [m for m in months if m in s]
        traces.append(
            {
                "x": xs,
                "y": [s[m].value for m in xs],
                "mode": "lines",
                "name": district_info(code).name,
                "line": {"width": 1},
                "visible": "legendonly",
            }
        )
    layout = {
        "margin": {"t": 10, "r": 10},
        "yaxis": {"title": {"text": "index (base = 100)"}},
        "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 100, "y1": 100, "line": {"dash": "dot"}}],
    }
    return json.dumps({"data": traces, "layout": layout})


def map_page(reader: Reader, cfg: DashboardConfig, user: User, month: str | None = None) -> Page:
    """The ward map with a month slider: one colour range for every month, centred on 100."""
    series, not_refreshed, _ = _series(reader, cfg)
    if series is None:
        return Page("Ward map", (Section("Ward map", placeholder=NO_INDEX),))
    months = tuple(m for m in series.months if any(m in s for s in series.wards.values()))
    shown = month if month in months else months[-1]
    by_month = {m: {w: s[m] for w, s in series.wards.items() if m in s} for m in months}
    every = {f"{m}/{w}": e for m, vs in by_month.items() for w, e in vs.items()}
    lo, hi = centred_range(every, clip=CLIP_PERCENTILES)
    wards = [wd for wd in map_wards() if wd.in_scope]
    colours = {
        m: {
            wd.ward_code: [
                _fill(vs.get(wd.ward_code), lo, hi),
                ward_tip(wd.ward_name, wd.lad_name, vs.get(wd.ward_code)),
            ]
            for wd in wards
        }
        for m, vs in by_month.items()
    }
    names = {wd.ward_code: (wd.ward_name, wd.lad_name) for wd in wards}
    table = DashTable(
        "ward-index",
        f"Each ward's index in {shown} with its 95% interval",
        ("Ward", "District", "Index"),
        tuple(
            (names[w][0], names[w][1], Figure(e, index_fmt, floor=None))
            for w, e in sorted(by_month[shown].items(), key=lambda kv: names.get(kv[0], (kv[0], "")))
            if w in names
        ),
    )
    return Page(
        "Ward map",
        (
            Section(
                "Living Standards Index by ward",
                "Darker is a lower index (worse living standards); the middle of the scale is 100, the base month. "
                "Hover over or focus a ward for its index and interval. Hatched: no data. The colour scale ends at "
                "the 2nd and 98th percentiles of every month's wards, so one outlier does not flatten the rest.",
                svg=ward_map(by_month[shown], span=(lo, hi), clipped=True),
                table=table,
                coverage=reader.cover(shown),
            ),
        ),
        map_months=colours,
        months=months,
        month=shown,
    )


def _fill(e: Estimate | None, lo: float, hi: float) -> str:
    return "url(#nodata)" if e is None else ward_fill(e, lo, hi)


def benchmarks_page(reader: Reader, cfg: DashboardConfig, user: User) -> Page:
    """District benchmarks: rates per 1,000 households with interval bars and rank ranges."""
    months, _, month = _span(reader, cfg)
    try:
        b = benchmark(reader.submit, cfg.benchmark_indicator, month, epsilon=cfg.benchmark_epsilon, held=months)
    except NotStoredError:
        how = (
            f"Not asked yet: an analyst runs lsi benchmark {cfg.benchmark_indicator} --month {month} "
            f"--epsilon {cfg.benchmark_epsilon:g}."
        )
        return Page("District benchmarks", (Section("District benchmarks", placeholder=how),))
    rows = sorted(b.rows, key=lambda r: (r.rank.point, r.name))
    table = DashTable(
        "benchmarks",
        f"{b.title} per 1,000 households, {month}: rate with 95% interval, rank range (1 = highest need)",
        ("District", "Rate per 1,000", "Rank", "Change on month", "Change on year"),
        tuple(
            (
                r.name,
                Figure(r.rate, rate_fmt),
                r.rank.label,
                Figure(r.change_month, rate_fmt, floor=None) if r.change_month else None,
                Figure(r.change_year, rate_fmt, floor=None) if r.change_year else None,
            )
            for r in rows
        ),
    )
    return Page(
        "District benchmarks",
        (
            Section(
                f"{b.title}, {month}",
                f"County rate {b.county_rate.value:.1f} per 1,000 households. "
                "Bars are 95% intervals; hover for values.",
                svg=benchmark_chart(rows) if rows else None,
                table=table,
                coverage=reader.cover(month),
            ),
        ),
    )


def _unclaimed_rows(
    areas: Iterable[UnclaimedArea], label: Callable[[UnclaimedArea], tuple[str, ...]]
) -> tuple[tuple[Cell, ...], ...]:
    return tuple(
        (
            *label(a),
            Figure(a.pc_households) if a.pc_households else None,
            Figure(a.pc_value, fmt_money) if a.pc_value else None,
            Figure(a.fsm_children) if a.fsm_children else None,
        )
        for a in areas
    )


UNCLAIMED_HEADERS = ("Pension Credit: households", "Pension Credit: £ a year", "Free school meals: children")


def unclaimed_page(reader: Reader, cfg: DashboardConfig, user: User) -> Page:
    """Unclaimed Pension Credit (£ and households) and free school meals, by district and, when asked, by ward."""
    _, _, month = _span(reader, cfg)
    sections: list[Section] = []
    try:
        t = unclaimed(reader.submit, month, epsilon=cfg.unclaimed_epsilon)
        sections.append(
            Section(
                f"By district, {month}",
                "Households in the councils' records that appear to miss out, with 95% intervals.",
                table=DashTable(
                    "unclaimed-district",
                    f"Unclaimed support by district, {month}",
                    ("District", *UNCLAIMED_HEADERS),
                    _unclaimed_rows(t.districts, lambda a: (district_info(a.code).name,))
                    + _unclaimed_rows([t.county], lambda a: (f"{county_name()} (districts that answered)",)),
                ),
                coverage=reader.cover(month),
            )
        )
    except NotStoredError:
        sections.append(
            Section(
                "By district",
                placeholder=f"Not asked yet: lsi unclaimed --month {month} --epsilon {cfg.unclaimed_epsilon:g}.",
            )
        )
    try:
        w = unclaimed(reader.submit, month, epsilon=cfg.unclaimed_epsilon, by_ward=True)
        names = {wd.ward_code: (wd.ward_name, wd.lad_name) for wd in map_wards()}
        sections.append(
            Section(
                f"By ward, {month}",
                table=DashTable(
                    "unclaimed-ward",
                    f"Unclaimed support by ward, {month}",
                    ("Ward", "District", *UNCLAIMED_HEADERS),
                    _unclaimed_rows(w.wards, lambda a: names.get(a.code, (a.code, a.district_code))),
                ),
                coverage=reader.cover(month),
            )
        )
    except NotStoredError:
        sections.append(
            Section(
                "By ward",
                placeholder=f"Not asked yet: lsi unclaimed --month {month} --epsilon {cfg.unclaimed_epsilon:g} "
                "--by ward.",
            )
        )
    return Page("Unclaimed support", tuple(sections))


NO_CAMPAIGNS = (
    "No campaign results stored that you may read: an analyst asks them with "
    "lsi campaign results --name NAME --epsilon E --yes (spends), and they show here."
)


def campaigns_page(reader: Reader, cfg: DashboardConfig, user: User) -> Page:
    """Each campaign's newest stored results by district (contacted, claimed, £ a year), read by name."""
    stored = [c for c in (stored_campaign(reader.recent, n) for n in stored_campaign_names(reader.recent)) if c]
    if not stored:
        return Page("Take-up campaigns", (Section("Campaign results", placeholder=NO_CAMPAIGNS),))
    return Page("Take-up campaigns", tuple(_campaign_section(c) for c in stored))


def _campaign_section(c: StoredCampaign) -> Section:
    table = DashTable(
        f"campaign-{c.name}",
        f"Campaign {c.name}: households contacted, claimed and £ a year gained by district, with 95% intervals",
        ("District", "Contacted", "Claimed", "£ a year gained"),
        tuple((r.name, Figure(r.contacted), Figure(r.claimed), Figure(r.gained, fmt_money)) for r in c.rows),
    )
    return Section(
        f"Campaign {c.name}",
        f"Asked {c.asked_at} at epsilon {c.epsilon:g} (the newest results stored; asking again is a new release).",
        table=table,
        coverage=_campaign_cover(c),
    )


def _campaign_cover(c: StoredCampaign) -> MonthCover:
    """Which districts' nodes answered the campaign's questions (a campaign runs in the districts that made it)."""
    missing = tuple(Missing(name, name, why) for name, why in c.missing)
    return MonthCover("", county_name(), len(c.answered) + len(missing), c.answered, missing, 0.0, True)


def budgets_page(reader: Reader, cfg: DashboardConfig, user: User) -> Page:
    """IG officers: each node's budget spent and left, by analyst and by purpose, releases, replays, refusals."""
    county = reader.budgets()
    nodes = sorted(county.nodes, key=lambda b: b.district_code)
    summary = DashTable(
        "budget-nodes",
        "Each node's privacy budget this period (zCDP ρ), with releases, free replays and refusals",
        ("Node", "ρ spent", "ρ left", "ρ total", "ε spent", "Releases", "Replays", "Refusals"),
        tuple(
            (
                b.district_name,
                figure(b.spent_rho),
                figure(b.remaining_rho),
                figure(b.total_rho),
                figure(b.spent_epsilon),
                str(b.releases),
                str(b.replays),
                str(b.refusals),
            )
            for b in nodes
        ),
    )
    analysts = _spending_table("budget-analysts", "Analyst", nodes, lambda b: b.by_analyst)
    purposes = _spending_table("budget-purposes", "Purpose", nodes, lambda b: b.by_purpose)
    missing = tuple(Missing(u.district_code, u.district_name, u.error or "unreachable") for u in county.unreachable)
    cover = MonthCover(
        "", county_name(), len(nodes) + len(missing), tuple(b.district_code for b in nodes), missing, 0.0, True
    )
    history = history_rows(nodes)
    return Page(
        "Privacy budgets",
        (
            Section("Budget by node", table=summary, coverage=cover),
            Section("By analyst", table=analysts),
            Section("By purpose", table=purposes),
            Section(
                "Spending over time",
                "Each node's ρ spent, added up day by day from the ledger's daily totals (up to 400 days, across "
                "budget periods); the table has every day's spend by analyst and purpose.",
                plot=_history_plot(history) if history else "",
                table=_history_table(history) if history else None,
                placeholder="Nothing spent in the last 400 days.",
            ),
        ),
    )


HistoryRow = tuple[str, str, str, str, float, int]  # day, node, analyst, purpose, rho, queries


def history_rows(nodes: Iterable[query_pb2.BudgetStatus]) -> list[HistoryRow]:
    """Every node's daily spend by analyst and purpose, oldest day first."""
    return sorted(
        (h.day, b.district_name, h.analyst, h.purpose, h.rho, h.queries)
        for b in nodes
        for h in spend_history_from_wire(b)
    )


def _history_table(rows: list[HistoryRow]) -> DashTable:
    return DashTable(
        "budget-history",
        "Spending by day, node, analyst and purpose (zCDP ρ)",
        ("Day", "Node", "Analyst", "Purpose", "ρ spent", "Queries"),
        tuple((day, node, analyst, purpose, figure(rho), str(n)) for day, node, analyst, purpose, rho, n in rows),
    )


def _spending_table(
    table_id: str,
    key: str,
    nodes: Iterable[query_pb2.BudgetStatus],
    breakdown: Callable[[query_pb2.BudgetStatus], Iterable[Any]],
) -> DashTable:
    """Each node's spending broken down by `key` (analyst or purpose)."""
    return DashTable(
        table_id,
        f"Spending by {key.lower()}",
        ("Node", key, "ρ spent", "ε spent", "Queries"),
        tuple(
            (b.district_name, s.key, figure(s.rho), figure(s.epsilon), str(s.queries))
            for b in nodes
            for s in breakdown(b)
        ),
    )


def _history_plot(rows: list[HistoryRow]) -> str:
    """A Plotly figure: one line per node, its running total of ρ spent, stepping on the days it spent."""
    totals: dict[str, dict[str, float]] = {}
    for day, node, _, _, rho, _ in rows:
        by_day = totals.setdefault(node, {})
        by_day[day] = by_day.get(day, 0.0) + rho
    traces = []
    for node, by_day in sorted(totals.items()):
        days = sorted(by_day)
        running = list(accumulate(by_day[d] for d in days))
        traces.append({"x": days, "y": running, "mode": "lines+markers", "line": {"shape": "hv"}, "name": node})
    layout = {
        "margin": {"t": 10, "r": 10},
        "xaxis": _day_axis(sorted({day for day, *_ in rows})),
        "yaxis": {"title": {"text": "ρ spent (running total)"}, "rangemode": "tozero"},
    }
    return json.dumps({"data": traces, "layout": layout})


def _day_axis(days: list[str]) -> dict[str, object]:
    """A date axis in whole days with a day's margin either side (one day of spending would otherwise be drawn
    zoomed to milliseconds), and a tick a day while the span is a month or less."""
    axis: dict[str, object] = {"type": "date", "tickformat": "%d %b %Y"}
    if days:
        first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
        axis["range"] = [(first - timedelta(days=1)).isoformat(), (last + timedelta(days=1)).isoformat()]
        if (last - first).days <= 31:
            axis["dtick"] = 86_400_000  # one day, in milliseconds
    return axis


def audit_page(reader: Reader, cfg: DashboardConfig, user: User) -> Page:
    """IG officers: each node's audit chain verification, asked through the coordinator (outbound nodes too)."""
    audits = reader.audits()
    table = DashTable(
        "audit",
        "Audit chain verification at each node (hash chain and signatures)",
        ("Node", "Status", "Detail"),
        tuple(
            (a.district_name, {True: "verified", False: "BROKEN", None: "not checked"}[a.ok], a.detail) for a in audits
        ),
    )
    return Page("Audit", (Section("Audit chains", table=table),))
