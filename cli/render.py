"""Readable tables for the terminal; JSON for machines. Formatting only, no arithmetic on the figures."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence

import click
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from analysis.coverage import Coverage, coverage_of
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import all_wards, county_name, district

LEVEL_ORDER = {query_pb2.Cell.GROUP: 0, query_pb2.Cell.DISTRICT: 1, query_pb2.Cell.COUNTY: 2}


def to_json(message: Message) -> str:
    """A protobuf message as indented JSON with field names as in the contract."""
    return json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A plain text table; columns listed in `right` are right-aligned."""
    rows = [list(r) for r in rows]
    widths = [max([len(h)] + [len(click.unstyle(r[i])) for r in rows]) for i, h in enumerate(headers)]

    def pad(text: str, width: int, to_right: bool) -> str:
        # Colour codes take no room on the screen: pad by the visible length.
        room = " " * max(0, width - len(click.unstyle(text)))
        return room + text if to_right else text + room

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(pad(c, w, i in right) for i, (c, w) in pairs)

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def number(value: float, unit: str = "") -> str:
    """Whole numbers with separators, money with a pound sign, small means with decimals."""
    if unit == "£":
        return f"£{value:,.0f}"
    if abs(value) < 100 and value != int(value):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def area_name(cell: query_pb2.Cell, cover: Coverage | None = None) -> str:
    """The area a cell describes; a county cell says which districts it covers for its month."""
    if cell.level == query_pb2.Cell.COUNTY:
        month = cell.keys[0].value if cell.keys else ""
        return cover.label(month) if cover is not None else county_name()
    name = _district_name(cell.district_code)
    ward = next((k.value for k in cell.keys if k.column == "ward_code"), None)
    if ward and cell.level == query_pb2.Cell.GROUP:
        return f"{name} / {_ward_names().get(ward, ward)}"
    return name


def _district_name(code: str) -> str:
    try:
        return district(code).name
    except KeyError:
        return code


@functools.cache
def _ward_names() -> dict[str, str]:
    return {w.code: w.name for w in all_wards()}


def result_table(result: coordinator_pb2.FederatedResult, unit: str = "") -> str:
    """The combined answer: each cell with its 95% interval, then districts that did not answer."""
    query = result.query
    cover = coverage_of(result) if result.HasField("coverage") else None
    months = {k.value for c in result.cells for k in c.keys if k.column == "month"}
    extra = [g for g in query.group_by if g != "ward_code"]
    headers = ["area"] + extra + (["month"] if len(months) > 1 else []) + ["estimate", "95% interval", ""]
    cells = sorted(result.cells, key=lambda c: (LEVEL_ORDER.get(c.level, 3), area_name(c, cover), _key_text(c)))
    rows = []
    for c in cells:
        keys = {k.column: k.value for k in c.keys}
        row = [area_name(c, cover)] + [keys.get(g, "all") for g in extra] + ([keys["month"]] if len(months) > 1 else [])
        if c.suppressed:
            row += ["suppressed", "(below the minimum published cell)", ""]
        else:
            row += [
                number(c.value, unit),
                f"{number(c.ci_low, unit)} to {number(c.ci_high, unit)}",
                "reconciled" if c.post_processed and c.level != query_pb2.Cell.COUNTY else "",
            ]
        rows.append(row)
    n = len(headers)
    out = [table(headers, rows, right=(n - 3,))]
    missing = [d for d in result.districts if not d.answered]
    if missing:
        out.append("\nNot included (did not answer):")
        out += [f"  {d.district_name}: {d.error_code} {d.error}" for d in missing]
    if cover is not None:
        out += coverage_lines(cover)
    return "\n".join(out)


def coverage_lines(cover: Coverage) -> list[str]:
    """What the county figures cover, month by month, and any withheld below the quorum."""
    lines = ["", "Coverage:" + (" (latest month meeting the quorum)" if cover.latest else "")]
    for m in cover.months:
        lines.append(f"  {m.month}: {m.label()}, {m.dwelling_share:.0%} of dwellings")
        if m.withheld:
            lines.append(f"    {m.withheld}")
    if not cover.complete:
        # click.echo drops the colour when the output is piped or redirected.
        lines.append(
            click.style("  PARTIAL: not every registered district contributed to every month asked.", fg="yellow")
        )
    return lines


def _key_text(c: query_pb2.Cell) -> str:
    return "|".join(k.value for k in c.keys)


def charges_table(result: coordinator_pb2.FederatedResult) -> str:
    """What each district charged for this query and what it has left."""
    rows = []
    for d in result.districts:
        if not d.answered:
            rows.append([d.district_name, "-", "-", "did not answer"])
            continue
        b = d.budget
        charged = "replayed, no charge" if d.replayed else f"rho {d.charge.rho:.4f} ({epsilon_text(d.charge)})"
        rows.append(
            [
                d.district_name,
                charged,
                f"rho {b.remaining_rho:.3f} of {b.total_rho:.3f}",
                f"eps {b.remaining_epsilon:.2f} at delta {b.delta:g}",
            ]
        )
    return table(["district", "charged", "budget left", "as (eps, delta)"], rows)


def epsilon_text(charge: query_pb2.Charge) -> str:
    """A charge as epsilon, always with the delta it holds at (the same spend reads the same everywhere)."""
    return f"eps {charge.epsilon:.3f} at delta {charge.delta:g}"


def budget_table(statuses: Sequence[query_pb2.BudgetStatus]) -> str:
    """Spent and left per node, in rho and as epsilon at each node's delta."""
    rows = [
        [
            s.district_name,
            s.period_start + " to " + s.period_end,
            f"{s.spent_rho:.4f}",
            f"{s.remaining_rho:.4f}",
            f"{s.total_rho:.4f}",
            f"{s.spent_epsilon:.2f} / {s.total_epsilon:.2f}",
            str(s.releases),
            str(s.replays),
            str(s.refusals),
        ]
        for s in statuses
    ]
    return table(
        [
            "district",
            "period",
            "rho spent",
            "rho left",
            "rho total",
            "eps spent/total",
            "releases",
            "replays",
            "refused",
        ],
        rows,
        right=(2, 3, 4, 6, 7, 8),
    )


def spend_table(status: query_pb2.BudgetStatus) -> str:
    """One node's spending by analyst and by purpose."""
    parts = []
    for title, spends in (("by analyst", status.by_analyst), ("by purpose", status.by_purpose)):
        rows = [[s.key or "(none)", f"{s.rho:.4f}", f"{s.epsilon:.2f}", str(s.queries)] for s in spends]
        parts.append(
            f"{status.district_name}, {title}:\n"
            + table([title.split()[1], "rho", "eps", "queries"], rows, right=(1, 2, 3))
        )
    return "\n\n".join(parts)
