"""The `lsi` command. Each subcommand only translates between the terminal and the parts that do the work."""

from __future__ import annotations

import functools
import logging
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import grpc

from analysis.client import Endpoint, coordinator_stub, node_stub
from cli.filters import FilterSyntaxError, parse_filter
from cli.render import budget_table, charges_table, result_table, spend_table, to_json
from protos.lsi.v1 import coordinator_pb2, node_pb2, query_pb2
from security.tls import PLAINTEXT_FLAG

PLAINTEXT_HELP = "DANGEROUS: no TLS, no authentication. Only for debugging on a closed machine."


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _grpc_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a failed call into one readable line with its status, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            hint = ""
            if code == grpc.StatusCode.UNAVAILABLE:
                hint = " (is it running? a refused certificate looks the same: try `lsi status`)"
            _fail(f"{code.name}: {exc.details()}{hint}")  # type: ignore[attr-defined]

    return wrapper


def connection_options(default_server: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--address, --pki, --identity, --server-name and the plaintext flag, also read from LSI_* variables."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed([
            click.option("--address", envvar="LSI_COORDINATOR", default="127.0.0.1:50050", show_default=True,
                         help="host:port of the coordinator (or of a node, for IG officer commands)"),
            click.option("--pki", "pki_dir", envvar="LSI_PKI", type=click.Path(path_type=Path),
                         help="folder with ca.crt and your certificate and key"),
            click.option("--identity", envvar="LSI_IDENTITY", help="your certificate's name in the PKI folder"),
            click.option("--server-name", default=default_server,
                         help="name on the server's certificate, when it is not the address's host"),
            click.option(PLAINTEXT_FLAG, "plaintext", is_flag=True, help=PLAINTEXT_HELP),
        ]):
            fn = option(fn)
        return fn

    return decorate


def _endpoint(address: str, pki_dir: Path | None, identity: str | None, server_name: str | None,
              plaintext: bool) -> Endpoint:
    return Endpoint(address, pki_dir, identity, server_name, plaintext)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="log more")
def main(verbose: bool) -> None:
    """Federated Living Standards Index: private county-wide insight from district household data."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# ---- synthetic data -------------------------------------------------------------------------------------------

@main.command()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="folder to write into")
@click.option("--seed", default=7, show_default=True)
@click.option("--scale", default=1.0, show_default=True, help="1.0 is a realistic caseload size")
@click.option("--months", default=13, show_default=True, help="monthly snapshots per district")
@click.option("--end-month", default="2025-10", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
def synth(out: Path, seed: int, scale: float, months: int, end_month: str, fmt: str) -> None:
    """Write synthetic household snapshots for the 12 Kent districts (deterministic for a seed)."""
    from node.synth import write_county

    paths = write_county(out, seed=seed, scale=scale, months=months, end_month=end_month, fmt=fmt)
    click.echo(f"wrote {len(paths)} snapshot files under {out}")


# ---- PKI ------------------------------------------------------------------------------------------------------

@main.group()
def pki() -> None:
    """The county certificate authority: certificates carry each holder's role."""


@pki.command("init")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="replace an existing CA (every certificate it issued stops working)")
def pki_init(directory: Path, force: bool) -> None:
    """Make the county CA."""
    from security.pki import init_ca

    try:
        path = init_ca(directory, force=force)
    except FileExistsError as exc:
        _fail(str(exc))
    click.echo(f"CA certificate: {path}")


@pki.command("issue")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path))
@click.option("--name", required=True, help="certificate name, e.g. node-ashford or analyst-alice")
@click.option("--role", required=True,
              type=click.Choice(["node", "coordinator", "analyst", "ig-officer", "county-ig-officer"]))
@click.option("--district", default=None,
              help="for node and ig-officer (required): the district's ONS code or name, e.g. E07000110 or Maidstone")
@click.option("--host", "hosts", multiple=True, help="extra host names or IPs a server answers on")
def pki_issue(directory: Path, name: str, role: str, district: str | None, hosts: tuple[str, ...]) -> None:
    """Issue a key and certificate with the role (and, for nodes and IG officers, the district) inside."""
    from security.pki import PkiError, Role, issue

    try:
        identity = issue(directory, name, Role(role), hosts=("localhost", "127.0.0.1", name, *hosts),
                         district=district)
    except PkiError as exc:
        _fail(str(exc))
    where = f", district {identity.district}" if identity.district else ""
    click.echo(f"{identity.name} ({role}{where}): {identity.cert_path}, key {identity.key_path} (mode 0600)")


@pki.command("revoke")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path))
@click.option("--name", required=True)
def pki_revoke(directory: Path, name: str) -> None:
    """Revoke a certificate; servers reading the CRL refuse it from then on."""
    from security.pki import PkiError, revoke

    try:
        revoke(directory, name)
    except PkiError as exc:
        _fail(str(exc))
    click.echo(f"revoked {name}")


# ---- servers --------------------------------------------------------------------------------------------------

@main.group()
def node() -> None:
    """Run a district node."""


@node.command("serve")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path, exists=True))
@click.option(PLAINTEXT_FLAG, "plaintext", is_flag=True, help=PLAINTEXT_HELP)
def node_serve(config_path: Path, plaintext: bool) -> None:
    """Load and validate the district's snapshots, then answer the coordinator's queries."""
    import sqlite3

    from node.config import load_node_config
    from node.engine import NodeEngine
    from node.server import build_server, connect_outbound
    from privacy.ledger import LedgerError
    from security.pki import PkiError
    from security.serving import serve_forever

    logging.getLogger().setLevel(logging.INFO)
    config = load_node_config(config_path)
    try:
        engine = NodeEngine.open(config.district_code, config.data_dir, config.state_db, config.policy,
                                 config.audit_key, strict=config.strict_data)
    except (ValueError, OSError, sqlite3.Error, LedgerError, PkiError) as exc:
        # Start-up problems (a locked or corrupt database, an unreadable key, a ledger that fails its checks)
        # are the operator's to fix: one readable line, not a traceback.
        _fail(f"node {config.district_code} not started: {type(exc).__name__}: {exc}")

    try:
        server, port, health_servicer = build_server(engine, config, plaintext=plaintext)
        connect_outbound(engine, config, plaintext=plaintext)  # outbound mode: dials the coordinator
    except (PkiError, ValueError, OSError) as exc:
        _fail(f"node {config.district_code} not started: {exc}")
    click.echo(f"node {engine.district.name} ({engine.district.code}) serving on port {port}: "
               f"{len(engine.months)} months, {len(engine.wards)} wards", err=True)
    serve_forever(server, health_servicer)


@main.group()
def coordinator() -> None:
    """Run the county coordinator."""


@coordinator.command("serve")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path, exists=True))
@click.option(PLAINTEXT_FLAG, "plaintext", is_flag=True, help=PLAINTEXT_HELP)
def coordinator_serve(config_path: Path, plaintext: bool) -> None:
    """Fan analysts' queries out to the registered district nodes and combine their releases."""
    import sqlite3

    from coordinator.config import load_coordinator_config
    from coordinator.server import build_server
    from security.pki import PkiError
    from security.serving import serve_forever

    logging.getLogger().setLevel(logging.INFO)
    config = load_coordinator_config(config_path)
    try:
        server, port, health_servicer, pool = build_server(config, plaintext=plaintext)
    except (ValueError, OSError, sqlite3.Error, PkiError) as exc:
        _fail(f"coordinator not started: {type(exc).__name__}: {exc}")
    click.echo(f"coordinator serving on port {port} for {len(config.nodes)} districts", err=True)
    serve_forever(server, health_servicer, on_stop=pool.close)


# ---- queries --------------------------------------------------------------------------------------------------

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
    for option in reversed([
        click.option("--where", "wheres", multiple=True, help="filter, e.g. 'on_cts = true' (repeatable)"),
        click.option("--by", "by", multiple=True, default=("district",), show_default=True,
                     help="district, ward, or a category column (repeatable)"),
        click.option("--month", "months", multiple=True, callback=_expand_months,
                     help="YYYY-MM, or a range FROM..TO (repeatable; default: latest). k months cost k times"),
        click.option("--epsilon", type=float, help="privacy loss, pure DP (discrete Laplace)"),
        click.option("--rho", type=float, help="privacy loss, zCDP (discrete Gaussian)"),
        click.option("--accuracy", type=float, help="target: each cell within +/- this, 95% of the time"),
        click.option("--gaussian", is_flag=True, help="with --accuracy: use the discrete Gaussian"),
        click.option("--purpose", default="", help="why you are asking (recorded in every node's audit log)"),
        click.option("--query-id", default=None, help="idempotency key; a retry with it costs nothing"),
        click.option("--district", "districts", multiple=True, help="ONS code; default all districts"),
        click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table"),
    ]):
        fn = option(fn)
    return connection_options("county-coordinator")(fn)


def build_query(
    measure: query_pb2.Measure, wheres: tuple[str, ...], by: tuple[str, ...], months: tuple[str, ...],
    epsilon: float | None, rho: float | None, accuracy: float | None, gaussian: bool, purpose: str,
    query_id: str | None, indicator: str = "", extra_filters: tuple[query_pb2.Filter, ...] = (),
) -> query_pb2.Query:
    """Assemble a Query message from command-line options."""
    from node.schema import queryable_columns

    asked = [x for x in (epsilon, rho, accuracy) if x is not None]
    if len(asked) != 1:
        _fail("give exactly one of --epsilon, --rho or --accuracy")
    columns = queryable_columns()
    try:
        filters = list(extra_filters) + [parse_filter(w, columns) for w in wheres]
    except FilterSyntaxError as exc:
        _fail(str(exc))
    group_by = [{"ward": "ward_code"}.get(b, b) for b in by if b != "district"]
    privacy = query_pb2.PrivacyRequest()
    if epsilon is not None:
        privacy.epsilon = epsilon
    elif rho is not None:
        privacy.rho = rho
    else:
        privacy.target_accuracy = accuracy  # type: ignore[assignment]
        privacy.mechanism = query_pb2.DISCRETE_GAUSSIAN if gaussian else query_pb2.DISCRETE_LAPLACE
    return query_pb2.Query(
        query_id=query_id or str(uuid.uuid4()), measure=measure, filters=filters, group_by=group_by,
        months=list(months), privacy=privacy, purpose=purpose, indicator=indicator,
    )


def submit_and_print(endpoint: Endpoint, query: query_pb2.Query, districts: tuple[str, ...], as_json: bool,
                     unit: str = "") -> coordinator_pb2.FederatedResult:
    """Send a query to the coordinator and print the combined answer."""
    stub = coordinator_stub(endpoint)
    result = stub.Submit(coordinator_pb2.FederatedQuery(query=query, districts=list(districts)), timeout=120)
    if as_json:
        click.echo(to_json(result))
    else:
        click.echo(result_table(result, unit))
        click.echo("")
        click.echo(charges_table(result))
    return result


@main.group()
def query() -> None:
    """Ask the county a question; every figure comes back as a noisy aggregate with its 95% interval."""


@query.command("count")
@query_options
@_grpc_errors
def query_count(address, pki_dir, identity, server_name, plaintext, wheres, by, months, epsilon, rho, accuracy,
                gaussian, purpose, query_id, districts, as_json) -> None:
    """Count households, e.g. `lsi query count --where 'on_cts = true' --epsilon 1.0`."""
    q = build_query(query_pb2.Measure(kind=query_pb2.Measure.COUNT), wheres, by, months, epsilon, rho, accuracy,
                    gaussian, purpose, query_id)
    submit_and_print(_endpoint(address, pki_dir, identity, server_name, plaintext), q, districts, as_json)


def _bounded(kind: int) -> Callable[..., Any]:
    @click.argument("column")
    @click.option("--lower", type=float, required=True, help="each household's value is clamped to at least this")
    @click.option("--upper", type=float, required=True, help="... and at most this")
    @query_options
    @_grpc_errors
    def command(column, lower, upper, address, pki_dir, identity, server_name, plaintext, wheres, by, months,
                epsilon, rho, accuracy, gaussian, purpose, query_id, districts, as_json) -> None:
        measure = query_pb2.Measure(kind=kind, column=column, lower=lower, upper=upper)
        q = build_query(measure, wheres, by, months, epsilon, rho, accuracy, gaussian, purpose, query_id)
        submit_and_print(_endpoint(address, pki_dir, identity, server_name, plaintext), q, districts, as_json)

    return command


query.command("sum", help="Sum a numeric column with clamping bounds, e.g. `lsi query sum cts_award_annual "
                          "--lower 0 --upper 3000 --epsilon 1`.")(_bounded(query_pb2.Measure.SUM))
query.command("mean", help="Mean of a numeric column with clamping bounds (the loss is split between a noisy "
                           "sum and a noisy count).")(_bounded(query_pb2.Measure.MEAN))


@query.command("indicator")
@click.argument("name")
@query_options
@_grpc_errors
def query_indicator(name, address, pki_dir, identity, server_name, plaintext, wheres, by, months, epsilon, rho,
                    accuracy, gaussian, purpose, query_id, districts, as_json) -> None:
    """Query a named indicator from the catalogue (`lsi indicators` lists them)."""
    from analysis.indicators import indicator
    from analysis.queries import indicator_measure_and_filters

    try:
        ind = indicator(name)
    except KeyError as exc:
        _fail(str(exc.args[0]))
    if ind.dataset == "campaign":
        _fail(f"{name} is measured over a campaign: use `lsi campaign results --name NAME`")
    measure, filters = indicator_measure_and_filters(ind)
    q = build_query(measure, wheres, by, months, epsilon, rho, accuracy, gaussian, purpose or ind.title,
                    query_id, indicator=ind.name, extra_filters=tuple(filters))
    submit_and_print(_endpoint(address, pki_dir, identity, server_name, plaintext), q, districts, as_json,
                     unit="£" if ind.unit.startswith("£") else "")


@main.command()
@click.option("--json", "as_json", is_flag=True)
def indicators(as_json: bool) -> None:
    """List the indicator catalogue."""
    import json

    from analysis.indicators import CATALOGUE
    from cli.render import table

    if as_json:
        click.echo(json.dumps({n: {"title": i.title, "definition": i.definition, "unit": i.unit,
                                   "measure": i.measure, "column": i.column, "bounds": [i.lower, i.upper]}
                               for n, i in CATALOGUE.items()}, indent=2))
        return
    rows = [[i.name, i.measure, i.unit, i.title] for i in CATALOGUE.values()]
    click.echo(table(["name", "measure", "unit", "what it counts"], rows))


@main.command()
@connection_options("county-coordinator")
@click.option("--json", "as_json", is_flag=True)
@_grpc_errors
def status(address, pki_dir, identity, server_name, plaintext, as_json) -> None:
    """Which district nodes the coordinator can reach, and what they hold."""
    from cli.render import table

    result = coordinator_stub(_endpoint(address, pki_dir, identity, server_name, plaintext)).Nodes(
        coordinator_pb2.NodesRequest(), timeout=30)
    if as_json:
        click.echo(to_json(result))
        return
    rows = [[n.district_name, n.address, "serving" if n.serving else "NOT SERVING",
             f"{n.months[0]} to {n.months[-1]}" if n.months else "-", n.detail] for n in result.nodes]
    click.echo(table(["district", "address", "state", "months", "detail"], rows))


# ---- budgets and audit (IG officers) --------------------------------------------------------------------------

@main.group()
def budget() -> None:
    """See and set privacy budgets (IG officers)."""


@budget.command("show")
@connection_options("county-coordinator")
@click.option("--node", "node_direct", is_flag=True, help="--address is a node: ask it directly")
@click.option("--detail", is_flag=True, help="county-wide: also each node's spending by analyst and purpose")
@click.option("--json", "as_json", is_flag=True)
@_grpc_errors
def budget_show(address, pki_dir, identity, server_name, plaintext, node_direct, detail, as_json) -> None:
    """Spent and left per node (county-wide through the coordinator, or one node with --node)."""
    endpoint = _endpoint(address, pki_dir, identity, server_name, plaintext)
    if node_direct:
        status_msg = node_stub(endpoint).Budget(node_pb2.BudgetRequest(), timeout=30)
        click.echo(to_json(status_msg) if as_json else budget_table([status_msg]) + "\n\n" + spend_table(status_msg))
        return
    county = coordinator_stub(endpoint).Budgets(coordinator_pb2.CountyBudgetRequest(), timeout=60)
    if as_json:
        click.echo(to_json(county))
        return
    click.echo(budget_table(list(county.nodes)))
    if detail:
        for status_msg in county.nodes:
            click.echo("\n" + spend_table(status_msg))
    for u in county.unreachable:
        click.echo(f"  {u.district_name}: unreachable ({u.error_code} {u.error})")


@budget.command("set")
@connection_options()
@click.option("--policy", "policy_path", required=True, type=click.Path(path_type=Path, exists=True),
              help="the node's new policy TOML")
@_grpc_errors
def budget_set(address, pki_dir, identity, server_name, plaintext, policy_path) -> None:
    """Replace a node's policy (total, per-query and per-analyst caps, delta, minimum cell); audited."""
    status_msg = node_stub(_endpoint(address, pki_dir, identity, server_name, plaintext)).SetPolicy(
        node_pb2.SetPolicyRequest(policy_toml=policy_path.read_text()), timeout=30)
    click.echo(budget_table([status_msg]))


@main.group()
def audit() -> None:
    """Check and export a node's tamper-evident audit log (IG officers)."""


@audit.command("verify")
@click.option("--db", "db_path", type=click.Path(path_type=Path, exists=True),
              help="the node's state database (on the node's machine)")
@click.option("--key", "key_path", type=click.Path(path_type=Path, exists=True),
              help="the node's audit key file (its public half is used)")
@connection_options()
@_grpc_errors
def audit_verify(db_path, key_path, address, pki_dir, identity, server_name, plaintext) -> None:
    """Check the hash chain and every signature; name the first bad entry."""
    if db_path is not None:
        from privacy.audit import AuditSigner, verify_chain

        if key_path is None:
            _fail("--db needs --key (the node's audit key file)")
        report = verify_chain(db_path, AuditSigner.load_or_create(key_path).public_key)
        ok, entries, first_bad, reason = report.ok, report.entries, report.first_bad_seq, report.reason
    else:
        r = node_stub(_endpoint(address, pki_dir, identity, server_name, plaintext)).AuditVerify(
            node_pb2.AuditRequest(), timeout=60)
        ok, entries, first_bad, reason = r.ok, r.entries, r.first_bad_seq, r.reason
    if ok:
        click.echo(f"audit log intact: {entries} entries, chain and signatures verified")
    else:
        click.echo(f"AUDIT LOG ALTERED: first bad entry is #{first_bad}: {reason}")
        sys.exit(1)


@audit.command("export")
@click.option("--db", "db_path", required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--csv", "csv_path", required=True, type=click.Path(path_type=Path))
def audit_export(db_path: Path, csv_path: Path) -> None:
    """Write the audit log as CSV for governance reports."""
    from privacy.audit import export_csv

    n = export_csv(db_path, csv_path)
    click.echo(f"wrote {n} audit entries to {csv_path}")


@main.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="keep everything here (default: temp)")
@click.option("--scale", default=0.5, show_default=True, help="synthetic caseload size (1.0 = realistic)")
@click.option("--report", "report_path", type=click.Path(path_type=Path), help="where to write the HTML report")
def demo(directory: Path | None, scale: float, report_path: Path | None) -> None:
    """Synthetic Kent end to end: 12 district nodes, a coordinator, real queries over mutual TLS."""
    from cli.demo import run_demo

    run_demo(directory, scale=scale, report_path=report_path)


def _register_extensions() -> None:
    """Command groups kept in their own modules: campaigns (district side) and county analyses."""
    from cli.analysis_cmd import register as register_analyses
    from cli.campaign_cmd import register as register_campaigns
    from cli.node_admin import register as register_node_admin

    register_campaigns(main)
    register_analyses(main)
    register_node_admin(main)


_register_extensions()

if __name__ == "__main__":
    main()
