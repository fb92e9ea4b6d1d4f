"""`lsi query`, `lsi indicators` and `lsi status`: ask the county a question, see the catalogue and the nodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from analysis.client import Endpoint, coordinator_stub, node_stub
from analysis.indicators import Indicator
from analysis.possible import possible_values
from analysis.queries import build_query, indicator_query
from cli.errors import OK, PARTIAL, UNREACHABLE, fail, finish, grpc_errors
from cli.filters import FilterSyntaxError, parse_filter
from cli.options import (
    connection_options,
    districts_option,
    json_option,
    node_district_option,
    node_endpoint,
    with_options,
)
from cli.render import budgets_with_epsilon, charges_table, number, progress, result_table, to_json
from cli.spend import confirm_spend, loss_text, months_text, purpose_option, yes_option
from protos.lsi.v1 import coordinator_pb2, node_pb2, query_pb2
from protos.serde import MeasureKind, Mechanism, measure_to_wire


def month_range(text: str) -> list[str]:
    """'2025-01..2025-03' as ['2025-01', '2025-02', '2025-03']; a single month as itself."""
    if ".." not in text:
        return [text]
    start, end = (part.strip() for part in text.split("..", 1))
    try:
        y, m = int(start[:4]), int(start[5:7])
        ey, em = int(end[:4]), int(end[5:7])
    except ValueError:
        raise click.BadParameter(f"{text!r}: write a range as YYYY-MM..YYYY-MM") from None
    if (ey, em) < (y, m):
        raise click.BadParameter(f"{text!r}: the range ends before it starts")
    months = []
    while (y, m) <= (ey, em):
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def _expand_months(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(m for v in value for m in month_range(v))


def query_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every query: filters, grouping, months, privacy loss, purpose, output."""
    return connection_options("county-coordinator")(
        with_options(
            fn,
            [
                click.option("--where", "wheres", multiple=True, help="filter, e.g. 'on_cts = true' (repeatable)"),
                click.option(
                    "--by",
                    "by",
                    multiple=True,
                    default=("district",),
                    show_default=True,
                    help="district, ward, or a category column (repeatable)",
                ),
                click.option(
                    "--month",
                    "months",
                    multiple=True,
                    callback=_expand_months,
                    help="YYYY-MM, or a range FROM..TO (repeatable; default: latest). k months cost k times",
                ),
                click.option("--epsilon", type=float, help="privacy loss, pure DP (discrete Laplace)"),
                click.option("--rho", type=float, help="privacy loss, zCDP (discrete Gaussian)"),
                click.option("--accuracy", type=float, help="target: each cell within +/- this, 95% of the time"),
                click.option("--gaussian", is_flag=True, help="with --accuracy: use the discrete Gaussian"),
                purpose_option,
                yes_option,
                click.option("--query-id", default=None, help="idempotency key; a retry with it costs nothing"),
                districts_option,
                json_option,
            ],
        )
    )


def query_from_options(
    what: query_pb2.Measure | Indicator,
    wheres: tuple[str, ...],
    by: tuple[str, ...],
    months: tuple[str, ...],
    epsilon: float | None,
    rho: float | None,
    accuracy: float | None,
    gaussian: bool,
    purpose: str,
    query_id: str | None,
) -> query_pb2.Query:
    """The Query the options ask for (a measure, or a catalogue indicator), built by the library's one builder."""
    from node.schema import queryable_columns

    if sum(x is not None for x in (epsilon, rho, accuracy)) != 1:
        fail("give exactly one of --epsilon, --rho or --accuracy")
    columns = queryable_columns()
    try:
        filters = [parse_filter(w, columns) for w in wheres]
    except FilterSyntaxError as exc:
        fail(str(exc))
    group_by = [{"ward": "ward_code"}.get(b, b) for b in by if b != "district"]
    # --gaussian chooses the mechanism only for an accuracy; epsilon and rho each name their own.
    mechanism = None if accuracy is None else (Mechanism.DISCRETE_GAUSSIAN if gaussian else Mechanism.DISCRETE_LAPLACE)
    if isinstance(what, Indicator):
        return indicator_query(
            what,
            months=months,
            group_by=group_by,
            purpose=purpose,
            query_id=query_id,
            extra_filters=filters,
            epsilon=epsilon,
            rho=rho,
            accuracy=accuracy,
            mechanism=mechanism,
        )
    return build_query(
        what,
        months=months,
        filters=filters,
        group_by=group_by,
        purpose=purpose,
        query_id=query_id,
        epsilon=epsilon,
        rho=rho,
        accuracy=accuracy,
        mechanism=mechanism,
    )


def submit_and_print(
    where: Endpoint,
    query: query_pb2.Query,
    districts: tuple[str, ...],
    as_json: bool,
    unit: str = "",
    *,
    yes: bool = False,
    secure: bool = False,
) -> None:
    """State the cost, send a query to the coordinator and print the combined answer (exit 3 when partial)."""
    loss = query.privacy
    cost = loss_text(
        loss.epsilon if loss.HasField("epsilon") else None,
        loss.rho if loss.HasField("rho") else None,
        loss.target_accuracy if loss.HasField("target_accuracy") else None,
    )
    confirm_spend(f"{cost} {months_text(list(query.months))}", yes)
    stub = coordinator_stub(where)
    asked = coordinator_pb2.FederatedQuery(query=query, districts=list(districts), secure=secure)
    with progress(f"asking the districts ({'secure aggregate' if secure else 'query'})"):
        result = stub.Submit(asked, timeout=120)
    shown = budgets_with_epsilon(possible_values(result))
    if as_json:
        click.echo(to_json(shown))
    else:
        if result.secure:
            click.echo(secure_summary(shown, unit))
            click.echo("")
        click.echo(result_table(shown, unit))
        click.echo("")
        click.echo(charges_table(shown))
    finish(OK if result.complete else PARTIAL)


def secure_summary(result: coordinator_pb2.FederatedResult, unit: str = "") -> str:
    """What a secure answer is: its county total(s) and 95% interval, and how many districts it sums."""
    contributed = sum(d.answered for d in result.districts)
    lines = [
        f"Secure aggregate: the county total of {contributed} contributing districts "
        f"(of {len(result.districts)} asked), with one mechanism's noise; no district figures are released."
    ]
    for c in result.cells:
        label = ", ".join(f"{k.column} {k.value}" for k in c.keys)
        lines.append(
            f"  county total{f' ({label})' if label else ''}: {number(c.value, unit)}, "
            f"95% interval {number(c.ci_low, unit)} to {number(c.ci_high, unit)}"
        )
    return "\n".join(lines)


secure_option = click.option(
    "--secure",
    is_flag=True,
    help="a secure county total (needs --rho): districts' noise shares are summed unseen, so the county figure "
    "carries one district's noise, not one per district; no district figures are released",
)


@click.group()
def query() -> None:
    """Ask the county a question; every figure comes back as a noisy aggregate with its 95% interval."""


@query.command("count")
@query_options
@secure_option
@grpc_errors
def query_count(
    where,
    wheres,
    by,
    months,
    epsilon,
    rho,
    accuracy,
    gaussian,
    purpose,
    yes,
    query_id,
    districts,
    as_json,
    secure,
) -> None:
    """Count households, e.g. `lsi query count --where 'on_cts = true' --epsilon 1.0` (or `--rho 0.01 --secure`)."""
    q = query_from_options(
        measure_to_wire("count"), wheres, by, months, epsilon, rho, accuracy, gaussian, purpose, query_id
    )
    submit_and_print(where, q, districts, as_json, yes=yes, secure=secure)


def _bounded(kind: MeasureKind) -> Callable[..., Any]:
    # Only a sum may be secure: a mean is a ratio of two sums, which secure aggregation does not give.
    maybe_secure: Callable[[Any], Any] = secure_option if kind == "sum" else (lambda fn: fn)

    @click.argument("column")
    @click.option("--lower", type=float, required=True, help="each household's value is clamped to at least this")
    @click.option("--upper", type=float, required=True, help="... and at most this")
    @query_options
    @maybe_secure
    @grpc_errors
    def command(
        column,
        lower,
        upper,
        where,
        wheres,
        by,
        months,
        epsilon,
        rho,
        accuracy,
        gaussian,
        purpose,
        yes,
        query_id,
        districts,
        as_json,
        secure=False,
    ) -> None:
        measure = measure_to_wire(kind, column, lower, upper)
        q = query_from_options(measure, wheres, by, months, epsilon, rho, accuracy, gaussian, purpose, query_id)
        submit_and_print(where, q, districts, as_json, yes=yes, secure=secure)

    return command


query.command(
    "sum",
    help="Sum a numeric column with clamping bounds, e.g. `lsi query sum cts_award_annual "
    "--lower 0 --upper 3000 --epsilon 1`.",
)(_bounded("sum"))
query.command(
    "mean",
    help="Mean of a numeric column with clamping bounds (the loss is split between a noisy sum and a noisy count).",
)(_bounded("mean"))


@query.command("indicator")
@click.argument("name")
@query_options
@grpc_errors
def query_indicator(
    name,
    where,
    wheres,
    by,
    months,
    epsilon,
    rho,
    accuracy,
    gaussian,
    purpose,
    yes,
    query_id,
    districts,
    as_json,
) -> None:
    """Query a named indicator from the catalogue (`lsi indicators` lists them)."""
    from analysis.indicators import indicator

    try:
        ind = indicator(name)
    except KeyError as exc:
        fail(str(exc.args[0]))
    if ind.dataset == "campaign":
        fail(f"{name} is measured over a campaign: use `lsi campaign results --name NAME`")
    q = query_from_options(ind, wheres, by, months, epsilon, rho, accuracy, gaussian, purpose, query_id)
    submit_and_print(
        where,
        q,
        districts,
        as_json,
        unit="£" if ind.unit.startswith("£") else "",
        yes=yes,
    )


@click.command()
@json_option
def indicators(as_json: bool) -> None:
    """List the indicator catalogue."""
    import json

    from analysis.indicators import CATALOGUE
    from cli.render import table

    if as_json:
        click.echo(
            json.dumps(
                {
                    n: {
                        "title": i.title,
                        "definition": i.definition,
                        "unit": i.unit,
                        "measure": i.measure,
                        "column": i.column,
                        "bounds": [i.lower, i.upper],
                    }
                    for n, i in CATALOGUE.items()
                },
                indent=2,
            )
        )
        return
    rows = [[i.name, i.measure, i.unit, i.title] for i in CATALOGUE.values()]
    click.echo(table(["name", "measure", "unit", "what it counts"], rows))


@click.command()
@connection_options("county-coordinator")
@click.option("--node", "node_direct", is_flag=True, help="--address is a node: show its data problems (IG officers)")
@node_district_option
@json_option
@grpc_errors
def status(where, node_direct, node_district, as_json) -> None:
    """Which district nodes the coordinator can reach, and what they hold (exit 5 when any is down).

    With --district (or --node), the district's IG officer also sees its data problems: files skipped and rows
    set aside at load. They are exact facts about households, so only that district's node gives them, and
    only to its own IG officer (or the county's)."""
    from cli.render import table

    target = node_endpoint(where, node_district)
    if node_direct or node_district:
        node_status(node_stub(target), as_json)
        return
    result = coordinator_stub(target).Nodes(coordinator_pb2.NodesRequest(), timeout=30)
    down = OK if all(n.serving for n in result.nodes) else UNREACHABLE
    if as_json:
        click.echo(to_json(result))
        finish(down)
        return
    rows = [
        [
            n.district_name,
            n.address,
            "serving" if n.serving else click.style("NOT SERVING", fg="red", bold=True),
            f"{n.months[0]} to {n.months[-1]}" if n.months else "-",
            n.detail,
        ]
        for n in result.nodes
    ]
    click.echo(table(["district", "address", "state", "months", "detail"], rows))
    finish(down)


def node_status(stub: Any, as_json: bool) -> None:
    """One node's months and data problems, asked of the node itself (its own IG officer only)."""
    from cli.render import data_problems_text

    # Data problems first: anyone but the district's (or county's) IG officer is refused before anything is shown.
    problems = stub.DataProblems(node_pb2.DataProblemsRequest(), timeout=30)
    described = stub.Describe(node_pb2.DescribeRequest(), timeout=30)
    if as_json:
        click.echo(to_json(problems))
        return
    click.echo(data_problems_text(described, problems))
