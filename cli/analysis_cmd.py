"""`lsi index`, `lsi benchmark`, `lsi unclaimed`, `lsi report`: county analyses through the coordinator.

The work is in the analysis/ library; these commands connect, call it and print. Every figure is shown with
its 95% interval, and every command that may spend budget says what each node was charged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from analysis.client import CoordinatorClient, Endpoint
from analysis.coverage import MonthCover
from analysis.federated import with_purpose
from cli.errors import OK, PARTIAL, finish, grpc_errors
from cli.options import connection_options, json_option
from cli.spend import confirm_spend, loss_text, purpose_option, yes_option
from common.estimates import Estimate
from reference.geography import county_name


def county_label(cover: MonthCover | None) -> str:
    """The county row's name with what it covers ("Threeshire, 2 of 3 districts; District 3 missing: unreachable")."""
    return cover.label() if cover is not None else county_name()


def coverage_code(cover: MonthCover | None) -> int:
    """Exit 0 when the county figures cover every registered district, else 3 (partial)."""
    return OK if cover is not None and cover.complete else PARTIAL


@click.group()
def index() -> None:
    """The Living Standards Index (docs/lsi.md): refresh a month, show the series."""


# ------------------------------------------------------------------------------------------- plumbing


def connect(where: Endpoint) -> CoordinatorClient:
    """The coordinator at an address, over mutual TLS as the given identity."""
    try:
        return CoordinatorClient.connect(where)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def fmt_estimate(e: Estimate | None, decimals: int = 0, unit: str = "", *, non_negative: bool = False) -> str:
    """'12.3 (10.1 to 14.5)', or '-' when withheld; a non-negative figure clamped at zero, interval clipped."""
    if e is None:
        return "-"
    low, high = e.ci()
    value = e.value
    if non_negative:
        value, low, high = max(value, 0.0), max(low, 0.0), max(high, 0.0)
    pre = "£" if unit == "£" else ""
    return f"{pre}{value:,.{decimals}f} ({pre}{low:,.{decimals}f} to {pre}{high:,.{decimals}f})"


def fmt_change(e: Estimate | None, decimals: int = 1) -> str:
    """'+1.2 (−0.3 to +2.7)', marked '*' when the interval excludes zero."""
    if e is None:
        return "n/a"
    low, high = e.ci()
    sure = " *" if low > 0 or high < 0 else ""
    return f"{e.value:+.{decimals}f} ({low:+.{decimals}f} to {high:+.{decimals}f}){sure}"


def charged_line(charged: Mapping[str, float]) -> str:
    """What this command cost at the nodes."""
    if not charged:
        return "charged: nothing (no district answered)"
    top = max(charged.values())
    if top <= 1e-12:
        return "charged: nothing, every answer replayed from the stores"
    return f"charged: up to rho {top:.4g} at a node ({sum(1 for v in charged.values() if v > 1e-12)} nodes charged)"


def _json_default(value: Any) -> Any:
    if isinstance(value, Estimate):
        low, high = value.ci()
        return {"value": value.value, "variance": value.variance, "ci_low": low, "ci_high": high}
    if is_dataclass(value):
        return asdict(value)  # type: ignore[arg-type]
    return str(value)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(_jsonable(value), indent=2, default=_json_default))


def _jsonable(value: Any) -> Any:
    """Dataclasses to dicts, keeping Estimates whole so they carry their intervals."""
    if isinstance(value, Estimate):
        return _json_default(value)
    if is_dataclass(value):
        return {f: _jsonable(getattr(value, f)) for f in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _names() -> tuple[dict[str, str], dict[str, str]]:
    from reference.geography import all_wards, districts

    return {d.code: d.name for d in districts()}, {w.code: w.name for w in all_wards()}


# ------------------------------------------------------------------------------------------- commands


@index.command("refresh")
@connection_options("county-coordinator")
@click.option("--month", required=True, help="YYYY-MM")
@click.option(
    "--rho",
    type=float,
    required=True,
    help="total zCDP loss for the month at each node, split over its 7 queries to minimise the index's variance",
)
@click.option(
    "--secure-county",
    is_flag=True,
    help="county figures from secure sums (one mechanism's noise, not every ward's), for 5%% of the rho; needs "
    "the coordinator's secure aggregation (enough districts for its secure_dropouts margin)",
)
@purpose_option
@yes_option
@json_option
@grpc_errors
def index_refresh(
    month: str,
    rho: float,
    secure_county: bool,
    purpose: str,
    yes: bool,
    as_json: bool,
    where: Endpoint,
) -> None:
    """Refresh one month's index inputs county-wide (7 queries by ward; a re-run replays at no cost)."""
    from analysis.index_refresh import INDEX_QUERIES, refresh_index_month
    from cli.render import counted, progress, table
    from common.estimates import ratio

    confirm_spend(f"{loss_text(None, rho)} in all for {month}, split over 7 queries", yes)
    c = connect(where)
    total = len(INDEX_QUERIES) * (2 if secure_county else 1)
    with progress(f"refreshing the index for {month}", total=total) as advance:
        inputs = refresh_index_month(
            counted(with_purpose(c.submit, purpose), advance), month, rho=rho, secure_county=secure_county
        )
    if as_json:
        echo_json(inputs)
        return
    how = "; county figures from secure sums" if inputs.secure_county else ""
    click.echo(f"Index inputs for {month}, county-wide (rho {rho:g} at each node, split over 7 queries{how})\n")
    hh = inputs.households.county
    rows = [["households in the records", fmt_estimate(hh)]]
    for name, areas in inputs.components.items():
        e = areas.county
        if name == "mean_monthly_surplus":
            rows.append([name, fmt_estimate(e, 2, "£")])
        elif e is not None and hh is not None:
            rows.append([f"{name} (% of households)", fmt_estimate(_pct(ratio(e, hh)), 2)])
    click.echo(table(["input", "county estimate (95% interval)"], rows))
    click.echo(f"\n{charged_line(inputs.charged_rho)}")
    if inputs.missing_districts:
        click.echo(
            f"did not answer: {', '.join(inputs.missing_districts)} (re-run to fill in; answers already "
            "given replay free)"
        )


def _pct(e: Estimate) -> Estimate:
    from common.estimates import scale

    return scale(e, 100.0)


@index.command("show")
@connection_options("county-coordinator")
@click.option("--from", "from_month", default=None, help="first month (default: the first held)")
@click.option("--to", "to_month", default=None, help="last month (default: the latest held)")
@click.option("--base-month", default=None, help="index = 100 here (default: --from)")
@click.option("--district", "district_code", default=None, help="ONS code: that district and its wards")
@json_option
@grpc_errors
def index_show(
    from_month: str | None,
    to_month: str | None,
    base_month: str | None,
    district_code: str | None,
    as_json: bool,
    where: Endpoint,
) -> None:
    """The index from stored refreshes (spends nothing): the county, districts, or one district and its wards."""
    from analysis.index_refresh import stored_series

    c = connect(where)
    months = c.months()
    first, last = from_month or months[0], to_month or months[-1]
    base = base_month or first
    series, not_refreshed = stored_series(c.fetch, [m for m in months if first <= m <= last], base, last)
    if series is None:
        raise click.ClickException(
            f"base month {base} has not been refreshed: run `lsi index refresh --month {base} --rho R` first"
        )
    if as_json:
        echo_json(series)
        return
    click.echo(series_text(series, district_code))
    for note in series.notes:
        click.echo(f"note: {note}")
    if not_refreshed:
        click.echo(f"not refreshed: {', '.join(not_refreshed)}")


def series_text(series: Any, district_code: str | None = None) -> str:
    """The county's (or one district's) index by month, then its districts (or wards) in the latest month."""
    from cli.render import table

    district_names, ward_names = _names()
    if district_code is None:
        title, main_series = index_county_label(series), series.county
    else:
        if district_code not in series.districts:
            raise click.ClickException(f"no index for district {district_code!r}")
        title, main_series = district_names.get(district_code, district_code), series.districts[district_code]
    out = [f"Living Standards Index, {title} (base {series.base_month} = 100; higher is better)\n"]
    out.append(
        table(
            ["month", "index", "95% interval"],
            [[m, f"{e.value:.1f}", f"{e.ci()[0]:.1f} to {e.ci()[1]:.1f}"] for m, e in main_series.items()],
            right=(1,),
        )
    )
    latest = series.months[-1]
    if district_code is None:
        areas = {district_names.get(code, code): s for code, s in series.districts.items()}
        head = "district"
    else:
        codes = _ward_codes(district_code)
        areas = {ward_names.get(w, w): s for w, s in series.wards.items() if w in codes}
        head = "ward"
    ordered = sorted(areas.items(), key=lambda kv: kv[1][latest].value if latest in kv[1] else float("inf"))
    out.append(f"\nBy {head}, {latest}, lowest (worst) first:")
    out.append(table([head, "index (95% interval)"], [[name, fmt_estimate(s.get(latest), 1)] for name, s in ordered]))
    return "\n".join(out)


def index_county_label(series: Any) -> str:
    """The county index's name with the districts behind its latest month (and any that did not answer)."""
    district_names, _ = _names()
    latest = series.months[-1]
    missing = [district_names.get(c, c) for c in series.missing_districts.get(latest, ())]
    present = sum(1 for s in series.districts.values() if latest in s)
    head = f"{county_name()}, {present} district{'s' if present != 1 else ''} in {latest}"
    return head + "".join(f"; {m} missing: did not answer" for m in missing)


def _ward_codes(district_code: str) -> set[str]:
    from reference.geography import ward_codes

    return set(ward_codes(district_code))


def benchmark_text(b: Any) -> str:
    """A benchmark as a terminal table, highest need first, with the county."""
    from cli.render import table

    rows = [
        [
            r.name,
            fmt_estimate(r.rate, 1, non_negative=True),
            r.rank.label,
            fmt_change(r.change_month),
            fmt_change(r.change_year),
            fmt_change(r.vs_county),
        ]
        for r in sorted(b.rows, key=lambda r: (r.rank.point, r.name))
    ]
    rows.append(
        [
            county_label(b.coverage),
            fmt_estimate(b.county_rate, 1, non_negative=True),
            "",
            fmt_change(b.county_change_month),
            fmt_change(b.county_change_year),
            "",
        ]
    )
    head = (
        f"{b.title} per 1,000 dwellings, {b.month} (rank 1 = highest need; * = interval excludes zero; "
        f"changes vs {b.previous_month or 'n/a'} and {b.year_ago or 'n/a'})"
    )
    return (
        head
        + "\n\n"
        + table(["district", "rate (95% interval)", "rank", "change on month", "change on year", "vs county"], rows)
    )


@click.command("benchmark")
@connection_options("county-coordinator")
@click.argument("indicator_name", metavar="INDICATOR")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--epsilon", type=float, help="pure-DP loss at each node (discrete Laplace)")
@click.option("--rho", type=float, help="zCDP loss at each node (discrete Gaussian)")
@purpose_option
@yes_option
@json_option
@grpc_errors
def benchmark_command(
    indicator_name: str,
    month: str,
    epsilon: float | None,
    rho: float | None,
    purpose: str,
    yes: bool,
    as_json: bool,
    where: Endpoint,
) -> None:
    """Districts per 1,000 dwellings (VOA 2025) with ranks, change on month and year, and the gap to the county."""
    from analysis.district_benchmarks import benchmark
    from analysis.federated import shift_month
    from analysis.indicators import UnknownIndicatorError
    from cli.render import progress

    if (epsilon is None) == (rho is None):
        raise click.ClickException("give exactly one of --epsilon or --rho")
    c = connect(where)
    held = c.months()
    # One query over the month, the month before and a year before (those held): k months cost k times.
    asked = [m for m in (month, shift_month(month, -1), shift_month(month, -12)) if m in held]
    confirm_spend(f"{loss_text(epsilon, rho)} for each of {len(asked)} months ({', '.join(asked)})", yes)
    try:
        with progress(f"benchmarking {indicator_name} for {month}"):
            b = benchmark(with_purpose(c.submit, purpose), indicator_name, month, epsilon=epsilon, rho=rho, held=held)
    except (ValueError, UnknownIndicatorError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(b)
        finish(coverage_code(b.coverage))
        return
    click.echo(benchmark_text(b))
    click.echo(f"\n{charged_line(b.charged_rho)}")
    finish(coverage_code(b.coverage))


def unclaimed_text(t: Any, *, by_ward: bool = False) -> str:
    """Unclaimed support as a terminal table, the county last."""
    from cli.render import table

    district_names, ward_names = _names()

    def row(name: str, a: Any) -> list[str]:
        return [
            name,
            fmt_estimate(a.pc_households, non_negative=True),
            fmt_estimate(a.pc_value, 0, "£", non_negative=True),
            fmt_estimate(a.fsm_households, non_negative=True),
            fmt_estimate(a.fsm_children, non_negative=True),
        ]

    areas = t.wards if by_ward else t.districts
    rows = [
        row(
            f"{district_names.get(a.district_code, a.district_code)} / {ward_names.get(a.code, a.code)}"
            if by_ward
            else district_names.get(a.code, a.code),
            a,
        )
        for a in areas
    ]
    rows.append(row(county_label(t.coverage), t.county))
    head = (
        f"Unclaimed support, {t.month} (epsilon {t.epsilon:g} in all; Pension Credit gaps clamped at "
        f"£{t.pc_value_upper:,.0f} a household)"
    )
    return (
        head
        + "\n\n"
        + table(
            [
                "area",
                "Pension Credit: households",
                "Pension Credit: £ a year",
                "free school meals: households",
                "free school meals: children",
            ],
            rows,
        )
    )


@click.command("unclaimed")
@connection_options("county-coordinator")
@click.option("--month", required=True, help="YYYY-MM")
@click.option(
    "--epsilon", type=float, required=True, help="total pure-DP loss at each node, split evenly over the 4 figures"
)
@click.option("--by", type=click.Choice(["district", "ward"]), default="district", show_default=True)
@purpose_option
@yes_option
@json_option
@grpc_errors
def unclaimed_command(
    month: str,
    epsilon: float,
    by: str,
    purpose: str,
    yes: bool,
    as_json: bool,
    where: Endpoint,
) -> None:
    """Households missing out on Pension Credit (and £ a year) and free school meals, by district or ward."""
    from analysis.unclaimed import unclaimed
    from cli.render import counted, progress

    confirm_spend(f"{loss_text(epsilon, None)} in all for {month}, split over 4 figures", yes)
    c = connect(where)
    with progress(f"unclaimed support for {month}", total=4) as advance:
        t = unclaimed(counted(with_purpose(c.submit, purpose), advance), month, epsilon=epsilon, by_ward=by == "ward")
    if as_json:
        echo_json(t)
        finish(coverage_code(t.coverage))
        return
    click.echo(unclaimed_text(t, by_ward=by == "ward"))
    click.echo(f"\n{charged_line(t.charged_rho)}")
    finish(coverage_code(t.coverage))


@click.command("report")
@connection_options("county-coordinator")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="the HTML file to write")
@click.option("--month", default=None, help="YYYY-MM (default: the latest month every node holds)")
@click.option("--base-month", default=None, help="index = 100 here (default: the first month held)")
@click.option(
    "--campaign", default=None, help="show only this campaign's stored results (default: every campaign stored)"
)
@click.option(
    "--benchmark-epsilon",
    type=float,
    default=1.0,
    show_default=True,
    help="which stored crisis benchmark to show (the one asked at this epsilon)",
)
@click.option(
    "--unclaimed-epsilon",
    type=float,
    default=2.0,
    show_default=True,
    help="which stored unclaimed-support figures to show (those asked at this epsilon)",
)
@click.option(
    "--campaign-epsilon",
    type=float,
    default=1.0,
    show_default=True,
    help="the epsilon named in the command a missing campaign's gap suggests",
)
@json_option
@grpc_errors
def report_command(
    out: Path,
    month: str | None,
    base_month: str | None,
    campaign: str | None,
    benchmark_epsilon: float,
    unclaimed_epsilon: float,
    campaign_epsilon: float,
    as_json: bool,
    where: Endpoint,
) -> None:
    """Write the county report as one self-contained HTML file from stored results only (spends nothing).

    Figures not asked yet are gaps, marked in the report and listed here with the command that asks them;
    the exit code is then 3 (partial)."""
    from cli.render import progress

    with progress("reading stored results for the report"):
        path, gaps = write_report(
            connect(where),
            out,
            month=month,
            base_month=base_month,
            campaign=campaign,
            benchmark_epsilon=benchmark_epsilon,
            unclaimed_epsilon=unclaimed_epsilon,
            campaign_epsilon=campaign_epsilon,
        )
    if as_json:
        echo_json({"path": str(path), "complete": not gaps, "gaps": gaps})
    else:
        click.echo(str(path))
        for gap in gaps:
            click.echo(f"gap: {gap}", err=True)
    finish(PARTIAL if gaps else OK)


def write_report(
    c: CoordinatorClient,
    out: Path,
    *,
    month: str | None = None,
    base_month: str | None = None,
    campaign: str | None = None,
    benchmark_epsilon: float = 1.0,
    unclaimed_epsilon: float = 2.0,
    campaign_epsilon: float = 1.0,
) -> tuple[Path, list[str]]:
    """Assemble the report from stored results and the nodes' budgets (never spends), write it; return its
    absolute path and the figures missing from the store."""
    from analysis.county_report import report_data
    from report.render import render_report

    months = c.months()
    data = report_data(
        c.fetch,
        c.budgets,
        months=months,
        month=month or months[-1],
        base_month=base_month or months[0],
        generated_at=datetime.now(UTC),
        benchmark_epsilon=benchmark_epsilon,
        unclaimed_epsilon=unclaimed_epsilon,
        campaign=campaign,
        campaign_epsilon=campaign_epsilon,
        recent=c.recent,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(data), encoding="utf-8")
    return out.resolve(), list(data.gaps)
