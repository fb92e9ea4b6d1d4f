"""`lsi budget` and `lsi audit`: privacy budgets and the tamper-evident audit log (IG officers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from analysis.client import coordinator_stub, node_stub
from cli.errors import fail, grpc_errors
from cli.options import connection_options, json_option, node_district_option, node_endpoint
from cli.render import budget_table, spend_table, to_json
from protos.lsi.v1 import coordinator_pb2, node_pb2


@click.group()
def budget() -> None:
    """See and set privacy budgets (IG officers)."""


@budget.command("show")
@connection_options("county-coordinator")
@click.option("--node", "node_direct", is_flag=True, help="--address is a node: ask it directly")
@node_district_option
@click.option("--detail", is_flag=True, help="county-wide: also each node's spending by analyst and purpose")
@json_option
@grpc_errors
def budget_show(where, node_direct, node_district, detail, as_json) -> None:
    """Spent and left per node (county-wide through the coordinator, or one node with --district or --node)."""
    target = node_endpoint(where, node_district)
    if node_direct or node_district:
        status_msg = node_stub(target).Budget(node_pb2.BudgetRequest(), timeout=30)
        click.echo(to_json(status_msg) if as_json else budget_table([status_msg]) + "\n\n" + spend_table(status_msg))
        return
    county = coordinator_stub(target).Budgets(coordinator_pb2.CountyBudgetRequest(), timeout=60)
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
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(path_type=Path, exists=True),
    help="the node's new policy TOML",
)
@node_district_option
@json_option
@grpc_errors
def budget_set(where, policy_path, node_district, as_json) -> None:
    """Replace a node's policy (total, per-query and per-analyst caps, delta, minimum cell); audited."""
    target = node_endpoint(where, node_district)
    status_msg = node_stub(target).SetPolicy(node_pb2.SetPolicyRequest(policy_toml=policy_path.read_text()), timeout=30)
    click.echo(to_json(status_msg) if as_json else budget_table([status_msg]))


@click.group()
def audit() -> None:
    """Check and export a node's tamper-evident audit log (IG officers)."""


@audit.command("verify")
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, exists=True),
    help="the node's state database (on the node's machine)",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(path_type=Path, exists=True),
    help="the node's audit key file (its public half is used)",
)
@connection_options()
@node_district_option
@json_option
@grpc_errors
def audit_verify(db_path, key_path, where, node_district, as_json) -> None:
    """Check the hash chain and every signature; name the first bad entry."""
    if db_path is not None:
        from privacy.audit import AuditSigner, verify_chain

        if key_path is None:
            fail("--db needs --key (the node's audit key file)")
        report = verify_chain(db_path, AuditSigner.load_or_create(key_path).public_key)
        ok, entries, first_bad, reason = report.ok, report.entries, report.first_bad_seq, report.reason
    else:
        target = node_endpoint(where, node_district)
        r = node_stub(target).AuditVerify(node_pb2.AuditRequest(), timeout=60)
        ok, entries, first_bad, reason = r.ok, r.entries, r.first_bad_seq, r.reason
    if as_json:
        body = {"ok": ok, "entries": entries, "first_bad_seq": first_bad, "reason": reason}
        click.echo(json.dumps(body, indent=2))
        if not ok:
            sys.exit(1)
        return
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
