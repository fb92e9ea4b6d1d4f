"""Readable tables for the terminal; JSON for machines. Formatting only, no arithmetic on the figures."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import click
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from analysis.coverage import Coverage, coverage_of
from analysis.possible import possible_values
from privacy.accountant import epsilon_figures
from privacy.spend_text import spend_text
from protos.lsi.v1 import coordinator_pb2, node_pb2, query_pb2
from protos.serde import quarantine_from_wire
from reference.geography import all_wards, county_name, district

T = TypeVar("T")

LEVEL_ORDER = {query_pb2.Cell.GROUP: 0, query_pb2.Cell.DISTRICT: 1, query_pb2.Cell.COUNTY: 2}


def to_json(message: Message) -> str:
    """A protobuf message as indented JSON with field names as in the contract."""
    return json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2)


def on_terminal() -> bool:
    """Whether standard output is a terminal (tables are drawn with rich there, plain text when piped)."""
    return sys.stdout.isatty()


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = (), *, styled: bool | None = None
) -> str:
    """A table: drawn with rich at a terminal, plain and stable text when piped; columns in `right` right-aligned."""
    rows = [list(r) for r in rows]
    use_rich = on_terminal() if styled is None else styled
    if use_rich:
        return rich_table(headers, rows, right)
    return plain_table(headers, rows, right)


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A plain text table (what scripts and pasted papers read: its layout never changes with the terminal)."""
    widths = [max([len(h)] + [len(click.unstyle(r[i])) for r in rows]) for i, h in enumerate(headers)]

    def pad(text: str, width: int, to_right: bool) -> str:
        # Colour codes take no room on the screen: pad by the visible length.
        room = " " * max(0, width - len(click.unstyle(text)))
        return room + text if to_right else text + room

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(pad(c, w, i in right) for i, (c, w) in pairs)

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def rich_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """The same table drawn by rich with colour, as text with terminal codes (click.echo prints it)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    drawn = Table(header_style="bold cyan", show_edge=False, pad_edge=False)
    for i, h in enumerate(headers):
        drawn.add_column(h, justify="right" if i in right else "left")
    for r in rows:
        # Cells may carry click's colour codes (a node NOT SERVING in red): rich reads them, not counts them.
        drawn.add_row(*(Text.from_ansi(c) for c in r))
    console = Console(force_terminal=True, width=shutil.get_terminal_size().columns, highlight=False)
    with console.capture() as captured:
        console.print(drawn)
    return captured.get().rstrip("\n")


@contextlib.contextmanager
def progress(description: str, total: int | None = None, *, shown: bool | None = None) -> Iterator[Callable[[], None]]:
    """A progress bar (or spinner, with no total) on stderr while fanned-out work runs; yields `advance`.

    Drawn only when stderr is a terminal, so piped output and --json stay exactly as they were."""
    if not (shown if shown is not None else sys.stderr.isatty()):
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    with Progress(
        *(columns if total else columns[:2]), TimeElapsedColumn(), console=Console(stderr=True), transient=True
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def counted(fn: Callable[..., T], advance: Callable[[], None]) -> Callable[..., T]:
    """`fn`, advancing a progress bar after each call (each query the analysis sends)."""

    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            advance()

    return call


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
    """The combined answer as shown (possible values only: no count or non-negative figure below zero), each cell
    with its 95% interval, then districts that did not answer."""
    result = possible_values(result)
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
    """What each district charged for this query and what it has left, each written by `spend_text`."""
    rows = []
    for d in result.districts:
        if not d.answered:
            rows.append([d.district_name, "-", "-", "did not answer"])
            continue
        b = d.budget
        charged = "replayed, no charge" if d.replayed else epsilon_text(d.charge)
        rows.append([d.district_name, charged, left_text(b), ""])
    return table(["district", "charged", "budget left", ""], rows)


def epsilon_text(charge: query_pb2.Charge) -> str:
    """A charge as rho and epsilon at the delta it holds at (the same spend reads the same everywhere)."""
    return spend_text(charge.rho, charge.epsilon, charge.delta)


def left_text(status: query_pb2.BudgetStatus) -> str:
    """A node's budget left this period, written as its refusals write what remains."""
    return spend_text(status.remaining_rho, with_epsilon(status).remaining_epsilon, status.delta)


def with_epsilon(status: query_pb2.BudgetStatus) -> query_pb2.BudgetStatus:
    """The budget with its epsilon figures filled in: an answer's totals carry rho only (BudgetStatus.rho_only)."""
    if not status.rho_only:
        return status
    filled = query_pb2.BudgetStatus()
    filled.CopyFrom(status)
    figures = epsilon_figures(status.total_rho, status.spent_rho, status.delta)
    filled.total_epsilon, filled.spent_epsilon, filled.remaining_epsilon = figures
    filled.rho_only = False
    return filled


def budgets_with_epsilon(result: coordinator_pb2.FederatedResult) -> coordinator_pb2.FederatedResult:
    """The result with every district's budget in epsilon too, for printing and --json."""
    out = coordinator_pb2.FederatedResult()
    out.CopyFrom(result)
    for outcome in out.districts:
        if outcome.HasField("budget"):
            outcome.budget.CopyFrom(with_epsilon(outcome.budget))
    return out


def budget_table(statuses: Sequence[query_pb2.BudgetStatus]) -> str:
    """Spent, left and total per node, each as rho with epsilon at the node's delta (as refusals say it)."""
    rows = [
        [
            s.district_name,
            s.period_start + " to " + s.period_end,
            spend_text(s.spent_rho, s.spent_epsilon, s.delta),
            left_text(s),
            spend_text(s.total_rho, s.total_epsilon, s.delta),
            str(s.releases),
            str(s.replays),
            str(s.refusals),
        ]
        for s in statuses
    ]
    return table(
        ["district", "period", "spent", "left", "total", "releases", "replays", "refused"],
        rows,
        right=(5, 6, 7),
    )


def spend_table(status: query_pb2.BudgetStatus) -> str:
    """One node's spending by analyst and by purpose."""
    parts = []
    for title, spends in (("by analyst", status.by_analyst), ("by purpose", status.by_purpose)):
        rows = [[s.key or "(none)", spend_text(s.rho, s.epsilon, status.delta), str(s.queries)] for s in spends]
        parts.append(
            f"{status.district_name}, {title}:\n" + table([title.split()[1], "spent", "queries"], rows, right=(2,))
        )
    return "\n\n".join(parts)


def data_problems_text(described: node_pb2.NodeDescription, problems: node_pb2.DataProblemsReport) -> str:
    """A node's months, files skipped and rows set aside, for its IG officer (exact: never leaves the district)."""
    months = f"{described.months[0]} to {described.months[-1]}" if described.months else "none"
    lines = [f"{described.district_name} ({described.district_code}): months held {months}"]
    rows_by_month = quarantine_from_wire(problems.quarantined)
    if not problems.skipped_files and not rows_by_month:
        return "\n".join([*lines, "No data problems: every file is a snapshot and no rows were set aside."])
    if problems.skipped_files:
        lines += ["", "Files skipped (not named as a snapshot):"] + [f"  {f}" for f in problems.skipped_files]
    if rows_by_month:
        rows = [[m, f"{n:,}"] for m, n in rows_by_month.items()]
        lines += ["", "Rows set aside (strict_data = false; the node's log names file, row, field and reason):"]
        lines.append(table(["month", "rows"], rows, right=(1,)))
    lines += ["", "For this district's IG officer only: these are exact counts about the district's records."]
    return "\n".join(lines)
