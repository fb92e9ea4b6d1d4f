"""View models: what each part of the report shows, as text and safe markup, ready for the template.

Plain strings are escaped by the template; Markup is trusted (built by charts.py and formatting.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from analysis.report_data import BudgetRow, CampaignRow, ReportData, UnclaimedRow
from common.estimates import Estimate, add
from privacy.spend_text import spend_text
from reference.geography import county_name
from report.charts import benchmark_chart, budget_bar, latest_headline, mini_bar, series_chart
from report.formatting import Formatter, bounds, count_fmt, fmt, fmt_money, with_interval
from report.geometry import district_label_points
from report.map import ward_map

Cell = str | Markup


@dataclass(frozen=True)
class Table:
    """A table: header texts, body rows and an optional footer row of cells."""

    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    foot: tuple[Cell, ...] = ()


@dataclass(frozen=True)
class Section:
    """A titled card: an intro line, then a chart, a table or a list, or a placeholder when there is nothing."""

    title: str
    intro: str = ""
    chart: Markup | None = None
    table: Table | None = None
    items: tuple[str, ...] = ()
    placeholder: str = ""


@dataclass(frozen=True)
class ReportView:
    """The whole report, ready to render."""

    title: str
    generated: str
    missing: str  # names of districts that did not answer, or empty
    sections: tuple[Section, ...]


def total(es: Iterable[Estimate]) -> Estimate:
    """Sum of independent estimates (separate releases)."""
    acc = Estimate(0.0, 0.0)
    for e in es:
        acc = add(acc, e)
    return acc


def district_name(code_or_name: str) -> str:
    """A district's name from its ONS code where known, else the text as given."""
    return district_label_points().get(code_or_name, (code_or_name, 0.0, 0.0))[0]


def estimate_cells(rows: Sequence[Sequence[Estimate]], formatters: Sequence[Formatter]) -> list[list[Markup]]:
    """Table cells with a bar per column, bars scaled to that column's widest interval."""
    tops = [max((bounds(r[j], 0.0)[1] for r in rows), default=1.0) for j in range(len(formatters))]
    return [
        [Markup("{}<br>{}").format(mini_bar(e, tops[j]), with_interval(e, formatters[j])) for j, e in enumerate(r)]
        for r in rows
    ]


def estimate_table(
    headers: Sequence[str],
    labels: Sequence[Sequence[str]],
    values: Sequence[Sequence[Estimate]],
    formatters: Sequence[Formatter],
    foot_labels: Sequence[Cell],
) -> Table:
    """Rows of labels then estimates with bars, and a footer of column totals with intervals."""
    cells = estimate_cells(values, formatters)
    totals = [total(col) for col in zip(*values, strict=True)]
    foot = [*foot_labels, *(with_interval(t, f) for t, f in zip(totals, formatters, strict=True))]
    rows = tuple((*lab, *c) for lab, c in zip(labels, cells, strict=True))
    return Table(tuple(headers), rows, tuple(foot))


def unclaimed_table(rows: Sequence[UnclaimedRow]) -> Table:
    """Unclaimed Pension Credit and free school meals by district, with a county total."""
    return estimate_table(
        [
            "District",
            "Pension Credit: households missing out",
            "Pension Credit: £ a year",
            "Free school meals: children missing out",
        ],
        [[r.name] for r in rows],
        [[r.pc_households, r.pc_value, r.fsm_children] for r in rows],
        [count_fmt, fmt_money, count_fmt],
        [Markup("<b>All reporting districts</b>")],
    )


def campaign_table(rows: Sequence[CampaignRow]) -> Table:
    """Take-up campaign results with totals."""
    return estimate_table(
        ["District", "Campaign", "Households contacted", "Households helped", "£ a year gained"],
        [[r.name, r.campaign] for r in rows],
        [[r.contacted, r.claimed, r.gained] for r in rows],
        [count_fmt, count_fmt, fmt_money],
        [Markup("<b>All campaigns</b>"), ""],
    )


def budget_table(rows: Sequence[BudgetRow]) -> Table:
    """Each node's privacy budget: spent against total (zCDP rho), with epsilon at the node's delta."""
    body = []
    for r in rows:
        frac = r.spent_rho / r.total_rho if r.total_rho > 0 else 1.0
        body.append(
            (
                r.name,
                budget_bar(frac),
                f"{fmt(100 * frac, 0)}%",
                # Written by the one rule the CLI's tables and the nodes' refusals use, so figures agree.
                spend_text(r.spent_rho, r.epsilon_spent, r.delta),
                f"rho {r.total_rho:.4g}",
            )
        )
    return Table(("Node", "Budget used", "", "spent (rho, with eps at delta)", "total"), tuple(body))


def report_view(data: ReportData) -> ReportView:
    """Every section of the report from its data, with placeholders where there is nothing yet."""
    series = data.county_series
    sections = [
        Section(
            f"Living Standards Index, {county_name()}",
            "County index by month with its 95% interval (shaded). Above 100: better than the base month.",
            chart=latest_headline(series) + series_chart(series) if series else None,
            placeholder="No index values yet.",
        ),
        Section(
            "District benchmarks",
            f"{data.benchmark_measure}. Bars are 95% intervals; rank 1 = highest need. "
            "Changes in bold have intervals that exclude zero.",
            chart=benchmark_chart(data.district_rows) if data.district_rows else None,
            placeholder="No district benchmarks yet.",
        ),
        Section(
            "Living Standards Index by ward",
            "Hover over a ward for its name, district, index and interval. Hatched: no data.",
            chart=ward_map(data.ward_index),
        ),
        Section(
            "Unclaimed support",
            "Households in the councils' own records that appear to miss out on Pension Credit "
            "(value a year) and children who appear to miss out on free school meals.",
            table=unclaimed_table(data.unclaimed) if data.unclaimed else None,
            placeholder="No unclaimed-support estimates yet.",
        ),
        Section(
            "Take-up campaigns",
            table=campaign_table(data.campaigns) if data.campaigns else None,
            placeholder="No campaign results yet.",
        ),
        Section(
            "Privacy budget by node",
            "Each council's privacy loss this period, in zCDP ρ (the ledger's currency), with ε at the node's δ.",
            table=budget_table(data.budgets) if data.budgets else None,
            placeholder="No budget information from the nodes.",
        ),
    ]
    if data.notes:
        sections.append(Section("Notes", items=tuple(data.notes)))
    return ReportView(
        title=data.title,
        generated=data.generated_at.isoformat(timespec="minutes"),
        missing=", ".join(district_name(m) for m in data.missing_districts),
        sections=tuple(sections),
    )
