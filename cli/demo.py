"""`lsi demo`: a synthetic county (the active geography pack) end to end, every figure a DP release."""

from __future__ import annotations

import csv
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click
import grpc

from analysis.campaigns import campaign_figures, possible_campaign_figures
from analysis.client import CoordinatorClient
from analysis.district_benchmarks import benchmark
from analysis.federated import shift_month
from analysis.index_refresh import index_series, refresh_index_month
from analysis.indicators import indicator
from analysis.queries import build_query, indicator_query
from analysis.unclaimed import unclaimed
from cli.analysis_cmd import benchmark_text, charged_line, series_text, unclaimed_text, write_report
from cli.campaign_cmd import create_target_list, import_outcomes, results_table
from cli.local_county import ANALYST, COORDINATOR, LocalCounty, node_name
from cli.render import budget_table, charges_table, result_table
from coordinator.config import DEFAULT_SECURE_DROPOUTS
from privacy.policy import Policy
from protos.lsi.v1 import coordinator_pb2, query_pb2
from protos.serde import Mechanism, filter_to_wire, measure_to_wire
from reference.geography import District, county_name, districts
from security.tls import channel_credentials

END_MONTH = "2025-10"
MONTHS = 13
BASE_MONTH = shift_month(END_MONTH, -(MONTHS - 1))
# The demo's losses at each node, sized to fit a defensible year (DEMO_TOTAL_RHO, see docs/privacy-budget.md)
# with margin: 13 months of index refreshes, the opening questions, the benchmark, unclaimed support and a campaign.
# demo_planned_rho() adds them up; a test checks the sum fits the demo policy.
DEMO_TOTAL_RHO = 5.0
DEMO_PER_QUERY_RHO = 0.5
INDEX_RHO_PER_MONTH = 0.15
BENCHMARK_EPSILON = 0.5
UNCLAIMED_EPSILON = 1.0
CAMPAIGN = "pension-credit-2025"
CAMPAIGN_EPSILON = 1.0
# The opening questions: pure-DP epsilons (Council Tax Support, crisis by ward, Pension Credit households and
# value), the zCDP surplus by tenure, and the question asked as an accuracy (its loss is the node's choice, at most
# the per-query cap).
QUESTION_EPSILONS = (0.5, 0.5, 0.25, 0.25)
SURPLUS_RHO = 0.1
ACCURACY_TARGET = 25
# The same count asked twice at this rho per district: plainly, then as a secure county total (issue 15).
SECURE_RHO = 0.02


def pure_dp_rho(epsilon: float) -> float:
    """The most rho an epsilon spent in pure DP can cost, however it is split (sum of squares <= square of sum)."""
    return epsilon**2 / 2


def demo_planned_rho() -> float:
    """The most rho the demo can spend at one node, from its constants (the report only reads stored releases)."""
    return (
        MONTHS * INDEX_RHO_PER_MONTH
        + sum(pure_dp_rho(e) for e in QUESTION_EPSILONS)
        + SURPLUS_RHO
        + DEMO_PER_QUERY_RHO  # the accuracy question
        + pure_dp_rho(BENCHMARK_EPSILON)
        + pure_dp_rho(UNCLAIMED_EPSILON)
        + pure_dp_rho(CAMPAIGN_EPSILON)
        + 2 * SECURE_RHO  # plain and secure; the secure charge's extra term for summed shares is below 1e-9
    )


def financial_year(today: date) -> tuple[str, str]:
    """The UK financial year (April to March) that contains a date."""
    start = today.year if today.month >= 4 else today.year - 1
    return f"{start}-04-01", f"{start + 1}-03-31"


def demo_policy(d: District) -> Policy:
    """A defensible demo budget for this financial year (rho 5); real budgets are the IG officer's decision."""
    start, end = financial_year(date.today())
    return Policy(
        district_code=d.code,
        period_start=start,
        period_end=end,
        total_rho=DEMO_TOTAL_RHO,
        per_query_rho=DEMO_PER_QUERY_RHO,
        delta=1e-7,
        min_published_cell=5,
        analyst_caps={},
    )


def step(message: str) -> None:
    click.secho(f"\n== {message}", bold=True)


def run_demo(
    directory: Path | None, *, scale: float = 0.5, report_path: Path | None = None, dashboard: bool = False
) -> None:
    """Make data and certificates, start a node per district and a coordinator, ask real questions, shut down."""
    started = time.monotonic()
    root = directory or Path(tempfile.mkdtemp(prefix="lsi-demo-"))
    if directory is not None and directory.exists() and any(directory.iterdir()):
        raise click.ClickException(f"{directory} is not empty; give a new folder or none (a temporary one is used)")
    root.mkdir(parents=True, exist_ok=True)
    county = LocalCounty(root)
    try:
        n = len(districts())
        step(f"Synthetic household snapshots for {n} {county_name()} districts (scale {scale}) in {root}")
        from node.synth import write_county

        paths = write_county(county.data_dir, seed=7, scale=scale, months=MONTHS, end_month=END_MONTH)
        click.echo(f"   {len(paths)} monthly snapshot files written")
        step("County PKI: a CA, a node and an IG officer per district, coordinator, analyst, county IG officer")
        county.prepare_pki()
        # Some districts run outbound-only (as behind a firewall refusing inbound connections): they dial in.
        outbound = [d.code for d in districts()][::3]
        county.write_configs(demo_policy, outbound=outbound)
        step(f"Starting {n} district nodes ({len(outbound)} dialling out) and the coordinator (mutual TLS on loopback)")
        county.start_nodes()
        for i, d in enumerate(districts(), 1):
            county.wait_serving(d.code, county.node_address(d.code), node_name(d))
            click.echo(f"   [{i:2d}/{n}] {d.name} serving")
        county.start_coordinator()
        county.wait_serving("coordinator", county.coordinator_address, COORDINATOR)
        county.wait_all_connected()
        click.echo(
            f"   coordinator serving at {county.coordinator_address} ({time.monotonic() - started:.0f} s since start)"
        )
        creds = channel_credentials(county.tls(ANALYST))
        with grpc.secure_channel(
            county.coordinator_address, creds, options=[("grpc.ssl_target_name_override", COORDINATOR)]
        ) as channel:
            from protos.lsi.v1 import coordinator_pb2_grpc

            stub = coordinator_pb2_grpc.CoordinatorStub(channel)
            _questions(stub)
            if len(districts()) >= DEFAULT_SECURE_DROPOUTS + 2:  # a secure sum needs enough districts to hide in
                _secure_comparison(stub)
            else:
                step(f"Secure county total skipped: it needs at least {DEFAULT_SECURE_DROPOUTS + 2} districts")
            coordinator = CoordinatorClient(stub)
            _analyses(coordinator)
            _campaign(county, stub)
            budgets = stub.Budgets(coordinator_pb2.CountyBudgetRequest(), timeout=30)
            step("Privacy budget left at each node (this financial year)")
            click.echo(budget_table(list(budgets.nodes)))
            step("The county report: one self-contained HTML file")
            before = _county_spent(stub)
            written, _ = write_report(
                coordinator,
                report_path or Path("lsi-report.html"),
                month=END_MONTH,
                base_month=BASE_MONTH,
                benchmark_epsilon=BENCHMARK_EPSILON,
                unclaimed_epsilon=UNCLAIMED_EPSILON,
                campaign=CAMPAIGN,
                campaign_epsilon=CAMPAIGN_EPSILON,
            )
            click.echo(
                f"   built from the stored releases above; privacy spent by the report: rho "
                f"{_county_spent(stub) - before:g}"
            )
        if dashboard:
            _serve_dashboard(county)
    finally:
        step("Shutting down")
        county.stop()
        if directory is None:
            shutil.rmtree(root, ignore_errors=True)
    click.echo(f"\nDemo finished in {time.monotonic() - started:.0f} s.")
    click.echo(f"Report: {written}")


def _serve_dashboard(county: LocalCounty) -> None:
    """The demo's ending with --dashboard: serve the dashboard over the running county until Ctrl-C."""
    from cli.dashboard_cmd import login_token, start_local_dashboard, wait_for_interrupt
    from cli.local_county import COUNTY_IG_OFFICER

    step("The county dashboard (HTTPS; reads stored results only, spends nothing)")
    server, url = start_local_dashboard(
        county.root,
        county.coordinator_address,
        COORDINATOR,
        base_month=BASE_MONTH,
        benchmark_epsilon=BENCHMARK_EPSILON,
        unclaimed_epsilon=UNCLAIMED_EPSILON,
    )
    click.echo(f"   Dashboard: {url}")
    for who in (ANALYST, COUNTY_IG_OFFICER):
        token = login_token(url, county.tls(who))
        click.echo(f"   sign in as {who}: {url}/signin?token={token}")
    click.echo("   (the browser will warn that it does not know the county's CA: this demo made it.) Ctrl-C stops.")
    wait_for_interrupt(server)


def _ask(stub, query: query_pb2.Query, title: str, unit: str = "", *, show=None) -> coordinator_pb2.FederatedResult:
    step(title)
    result = stub.Submit(coordinator_pb2.FederatedQuery(query=query), timeout=120)
    if show is not None:
        result = show(result)
    click.echo(result_table(result, unit))
    return result


def _questions(stub) -> None:
    cts = build_query(
        measure_to_wire("count"),
        filters=[filter_to_wire("on_cts", "eq", True)],
        months=[END_MONTH],
        epsilon=QUESTION_EPSILONS[0],
        query_id="demo-cts-by-district",
        purpose="Council Tax Support caseloads for the county benchmark",
    )
    cts_result = _ask(
        stub, cts, f"Households with Council Tax Support, by district, {END_MONTH}, epsilon {QUESTION_EPSILONS[0]:g}"
    )
    click.echo("")
    click.echo(charges_table(cts_result))

    crisis = indicator_query(
        indicator("households_in_crisis"),
        months=[END_MONTH],
        group_by=["ward_code"],
        epsilon=QUESTION_EPSILONS[1],
        query_id="demo-crisis-by-ward",
    )
    _ask(
        stub, crisis, "Households in crisis by ward (the 10 highest wards shown; districts reconciled)", show=_top_wards
    )

    pc = indicator_query(
        indicator("pc_unclaimed_households"),
        months=[END_MONTH],
        epsilon=QUESTION_EPSILONS[2],
        query_id="demo-pc-households",
    )
    _ask(stub, pc, f"Pensioner households missing out on Pension Credit, epsilon {QUESTION_EPSILONS[2]:g}")
    pc_value = indicator_query(
        indicator("pc_unclaimed_value"), months=[END_MONTH], epsilon=QUESTION_EPSILONS[3], query_id="demo-pc-value"
    )
    _ask(stub, pc_value, f"... and what they miss out on, £ a year, epsilon {QUESTION_EPSILONS[3]:g}", unit="£")

    surplus = indicator_query(
        indicator("mean_monthly_surplus"),
        months=[END_MONTH],
        group_by=["tenure"],
        rho=SURPLUS_RHO,
        query_id="demo-surplus-by-tenure",
    )
    _ask(
        stub,
        surplus,
        f"Mean monthly surplus after housing and essentials, by tenure (zCDP, rho {SURPLUS_RHO:g})",
        show=_county_only,
        unit="£",
    )

    accurate = indicator_query(
        indicator("uc_without_cts"),
        months=[END_MONTH],
        accuracy=ACCURACY_TARGET,
        mechanism=Mechanism.DISCRETE_LAPLACE,
        query_id="demo-uc-without-cts",
    )
    result = _ask(
        stub,
        accurate,
        "Universal Credit households without Council Tax Support, asked as an accuracy "
        f"(each district within +/-{ACCURACY_TARGET} households, 95% of the time)",
    )
    first = next(d for d in result.districts if d.answered)
    click.echo(f"   the node chose epsilon {first.charge.epsilon:.3f} to meet it")

    step("The same question again (same query id): answered from the stored release, no second charge")
    before = _county_spent(stub)
    again = stub.Submit(coordinator_pb2.FederatedQuery(query=cts), timeout=120)
    click.echo(
        f"   identical answer: {list(again.cells) == list(cts_result.cells)}; "
        f"privacy spent by the retry: rho {_county_spent(stub) - before:g}"
    )


def _secure_comparison(stub) -> None:
    """The same county count at the same rho per district, plain then secure: one mechanism's noise, not twelve."""

    def count(query_id: str) -> query_pb2.Query:
        return build_query(
            measure_to_wire("count"),
            filters=[filter_to_wire("on_cts", "eq", True)],
            months=[END_MONTH],
            rho=SECURE_RHO,
            query_id=query_id,
            purpose="Council Tax Support caseload for the county, plain and secure",
        )

    step(f"The county's Council Tax Support caseload at rho {SECURE_RHO:g} per district, plain then secure")
    plain = stub.Submit(coordinator_pb2.FederatedQuery(query=count("demo-cts-county-plain")), timeout=120)
    secure = stub.Submit(
        coordinator_pb2.FederatedQuery(query=count("demo-cts-county-secure"), secure=True), timeout=120
    )
    plain_total = next(c for c in plain.cells if c.level == query_pb2.Cell.COUNTY)
    (secure_total,) = secure.cells
    contributed = sum(d.answered for d in secure.districts)
    for label, c in (
        (f"plain ({sum(d.answered for d in plain.districts)} districts' noise)", plain_total),
        (f"secure ({contributed} contributors)", secure_total),
    ):
        click.echo(
            f"   {label:<30} {c.value:>10,.0f}   95% interval {c.ci_low:,.0f} to {c.ci_high:,.0f}"
            f"   (width {c.ci_high - c.ci_low:,.0f})"
        )
    ratio = (plain_total.ci_high - plain_total.ci_low) / (secure_total.ci_high - secure_total.ci_low)
    click.echo(f"   the secure aggregate's interval is {ratio:.2f}x narrower at the same charge per district")


def _analyses(c: CoordinatorClient) -> None:
    months = [shift_month(BASE_MONTH, k) for k in range(MONTHS)]
    step(
        f"Living Standards Index: refreshing {months[0]} to {months[-1]}, rho {INDEX_RHO_PER_MONTH:g} a month at "
        "each node (7 queries by ward)"
    )
    t0 = time.monotonic()
    # A few months at once: the nodes are separate processes, so concurrent queries use both cores.
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(lambda m: refresh_index_month(c.submit, m, rho=INDEX_RHO_PER_MONTH), months)
        inputs = dict(zip(months, done, strict=True))
    for m in months:
        click.echo(f"   {m}: {charged_line(inputs[m].charged_rho)}")
    click.echo(f"   {len(months)} months refreshed in {time.monotonic() - t0:.0f} s")
    series = index_series(inputs, BASE_MONTH)
    step("The county index by month, and each district's in the latest month")
    click.echo(series_text(series))
    for note in series.notes:
        click.echo(f"   note: {note}")

    step(f"District benchmark: households in crisis per 1,000 dwellings, epsilon {BENCHMARK_EPSILON:g}")
    click.echo(
        benchmark_text(benchmark(c.submit, "households_in_crisis", END_MONTH, epsilon=BENCHMARK_EPSILON, held=months))
    )

    step(f"Unclaimed support by district, {END_MONTH}, epsilon {UNCLAIMED_EPSILON:g} in all")
    click.echo(unclaimed_text(unclaimed(c.submit, END_MONTH, epsilon=UNCLAIMED_EPSILON)))


def _campaign(county: LocalCounty, stub) -> None:
    """Each district runs a Pension Credit campaign on its own records, as `lsi campaign create` and `outcome` do."""
    step(
        f"Campaign {CAMPAIGN}: each district lists its own pensioner households missing out (largest gain "
        "first); the lists stay on the district's machine"
    )
    click.echo(
        f"   as each district's team would: lsi campaign create --config node.toml --name {CAMPAIGN} "
        "--target pc_unclaimed --out targets.csv; then lsi campaign outcome --csv outcomes.csv"
    )
    for d in districts():
        folder = county.root / "nodes" / d.code
        targets = folder / "pension-credit-targets.csv"
        create_target_list(folder / "node.toml", CAMPAIGN, "pc_unclaimed", targets, by="benefits-team")
        outcomes = _synthetic_outcomes(targets, folder / "pension-credit-outcomes.csv")
        import_outcomes(folder / "node.toml", CAMPAIGN, outcomes.path, by="benefits-team")
        click.echo(
            f"   {d.name}: {outcomes.listed} households listed, {outcomes.contacted} contacted, "
            f"{outcomes.claimed} claimed (synthetic outcomes)"
        )
    step(f"The county sees the campaign only as DP aggregates (epsilon {CAMPAIGN_EPSILON:g} in all at each node)")
    released = campaign_figures(lambda fq: stub.Submit(fq, timeout=120), CAMPAIGN, CAMPAIGN_EPSILON)
    # As `lsi campaign results` shows them: no figure below zero or above the one that bounds it.
    click.echo(results_table(possible_campaign_figures(released)))


@dataclass(frozen=True)
class SyntheticOutcomes:
    """The outcomes CSV written for the demo, with its tallies (exact: the district's own figures)."""

    path: Path
    listed: int
    contacted: int
    claimed: int


def _synthetic_outcomes(targets: Path, out: Path) -> SyntheticOutcomes:
    """Made-up outcomes for the demo, said to be so: the team reaches 3 in 4 households, 1 in 2 of those claims
    and gains the modelled amount. A real team fills in the same columns from its case notes."""
    with targets.open(newline="") as f:
        rows = list(csv.DictReader(f))
    contacted = [i % 4 != 3 for i in range(len(rows))]
    claimed = [c and i % 2 == 0 for i, c in enumerate(contacted)]
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["household_id", "contacted", "claimed", "gained_annual"])
        writer.writeheader()
        for row, was_contacted, did_claim in zip(rows, contacted, claimed, strict=True):
            writer.writerow(
                {
                    "household_id": row["household_id"],
                    "contacted": "yes" if was_contacted else "no",
                    "claimed": "yes" if did_claim else "no",
                    "gained_annual": row["expected_annual_gain"] if did_claim else "0",
                }
            )
    return SyntheticOutcomes(out, len(rows), sum(contacted), sum(claimed))


def _county_spent(stub) -> float:
    budgets = stub.Budgets(coordinator_pb2.CountyBudgetRequest(), timeout=30)
    return sum(b.spent_rho for b in budgets.nodes)


def _top_wards(result: coordinator_pb2.FederatedResult) -> coordinator_pb2.FederatedResult:
    wards = sorted(
        (c for c in result.cells if c.level == query_pb2.Cell.GROUP and not c.suppressed), key=lambda c: -c.value
    )[:10]
    rest = [c for c in result.cells if c.level != query_pb2.Cell.GROUP]
    trimmed = coordinator_pb2.FederatedResult()
    trimmed.CopyFrom(result)
    del trimmed.cells[:]
    trimmed.cells.extend(wards + rest)
    return trimmed


def _county_only(result: coordinator_pb2.FederatedResult) -> coordinator_pb2.FederatedResult:
    trimmed = coordinator_pb2.FederatedResult()
    trimmed.CopyFrom(result)
    del trimmed.cells[:]
    trimmed.cells.extend(c for c in result.cells if c.level == query_pb2.Cell.COUNTY)
    return trimmed
