"""What an information governance officer does: read and set budgets, verify and export the audit trail."""

from __future__ import annotations

import csv
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner

from cli.local_county import ANALYST, COORDINATOR, COUNTY_IG_OFFICER, ig_officer_name, node_name
from cli.main import main
from privacy.policy import load_policy, save_policy
from protos.lsi.v1 import coordinator_pb2, node_pb2, query_pb2
from reference.geography import districts
from security.pki import Role, issue, revoke
from tests.county import RunningCounty, running_county

CODES = [d.code for d in districts()[:2]]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCounty]:
    with running_county(tmp_path_factory.mktemp("governance"), codes=CODES) as county:
        yield county


def ask(
    county: RunningCounty, purpose: str = "caseload review", query_id: str | None = None, month: str = "2025-10"
) -> coordinator_pb2.FederatedResult:
    query = query_pb2.Query(
        query_id=query_id or str(uuid.uuid4()),
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        filters=[query_pb2.Filter(column="on_hb", op=query_pb2.Filter.EQ, flag=True)],
        months=[month],
        privacy=query_pb2.PrivacyRequest(epsilon=0.5),
        purpose=purpose,
    )
    return county.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)


def node_paths(county: RunningCounty, code: str) -> tuple[Path, Path, Path]:
    folder = county.local.root / "nodes" / code
    return folder / "state.sqlite", folder / "audit-ed25519.pem", folder / "policy.toml"


def cli(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def ig_args(county: RunningCounty, address: str, server_name: str, identity: str = COUNTY_IG_OFFICER) -> list[str]:
    return [
        "--address",
        address,
        "--pki",
        str(county.local.pki_dir),
        "--identity",
        identity,
        "--server-name",
        server_name,
    ]


def test_budget_show_lists_every_node_county_wide(small: RunningCounty) -> None:
    ask(small)
    out = cli("budget", "show", *ig_args(small, small.local.coordinator_address, COORDINATOR))
    assert out.exit_code == 0, out.output
    for d in districts()[:2]:
        assert d.name in out.output


def test_budget_show_at_a_node_breaks_spending_down_by_analyst_and_purpose(small: RunningCounty) -> None:
    ask(small, purpose="winter fuel planning", month="2025-08")
    d = districts()[0]
    out = cli(
        "budget", "show", "--node", *ig_args(small, small.local.node_address(d.code), node_name(d), ig_officer_name(d))
    )
    assert out.exit_code == 0, out.output
    assert ANALYST in out.output and "winter fuel planning" in out.output


def test_budget_set_changes_the_policy_and_is_audited(small: RunningCounty, tmp_path: Path) -> None:
    d = districts()[1]
    db, key, policy_path = node_paths(small, d.code)
    policy = load_policy(policy_path)
    new = tmp_path / "policy.toml"
    save_policy(type(policy)(**{**policy.__dict__, "total_rho": policy.total_rho + 1}), new)
    out = cli(
        "budget",
        "set",
        "--policy",
        str(new),
        *ig_args(small, small.local.node_address(d.code), node_name(d), ig_officer_name(d)),
    )
    assert out.exit_code == 0, out.output
    status = small.node_stub(d.code).Budget(node_pb2.BudgetRequest(), timeout=30)
    assert status.total_rho == pytest.approx(policy.total_rho + 1)
    with sqlite3.connect(db) as conn:
        actors = conn.execute("SELECT actor FROM audit_log WHERE action = 'policy_change'").fetchall()
    assert (ig_officer_name(d),) in actors


def test_an_analyst_cannot_change_a_node_policy(small: RunningCounty) -> None:
    d = districts()[0]
    _, _, policy_path = node_paths(small, d.code)
    stub = small.node_stub(d.code, identity=ANALYST)
    with pytest.raises(grpc.RpcError) as err:
        stub.SetPolicy(node_pb2.SetPolicyRequest(policy_toml=policy_path.read_text()), timeout=30)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_audit_verify_passes_on_an_untouched_log(small: RunningCounty) -> None:
    ask(small)
    db, key, _ = node_paths(small, CODES[0])
    out = cli("audit", "verify", "--db", str(db), "--key", str(key))
    assert out.exit_code == 0, out.output
    assert "intact" in out.output


def test_audit_verify_over_grpc_is_open_to_ig_officers(small: RunningCounty) -> None:
    d = districts()[0]
    out = cli("audit", "verify", *ig_args(small, small.local.node_address(d.code), node_name(d), ig_officer_name(d)))
    assert out.exit_code == 0, out.output
    assert "intact" in out.output


def test_audit_export_writes_one_csv_row_per_entry(small: RunningCounty, tmp_path: Path) -> None:
    ask(small, purpose="export check")
    db, _, _ = node_paths(small, CODES[0])
    out = cli("audit", "export", "--db", str(db), "--csv", str(tmp_path / "audit.csv"))
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader((tmp_path / "audit.csv").open()))
    with sqlite3.connect(db) as conn:
        (entries,) = conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()
    assert len(rows) == entries
    assert any(r["purpose"] == "export check" for r in rows)


def test_reusing_a_query_id_for_a_different_question_is_refused(small: RunningCounty) -> None:
    ask(small, query_id="one-id")
    with pytest.raises(grpc.RpcError) as err:
        ask(small, query_id="one-id", month="2025-09")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_a_revoked_analyst_is_refused_without_restarting_the_coordinator(small: RunningCounty) -> None:
    issue(small.local.pki_dir, "analyst-leaver", Role.ANALYST)
    stub = small.coordinator_stub(identity="analyst-leaver")
    stub.Nodes(coordinator_pb2.NodesRequest(), timeout=30)
    revoke(small.local.pki_dir, "analyst-leaver")
    with pytest.raises(grpc.RpcError) as err:
        stub.Nodes(coordinator_pb2.NodesRequest(), timeout=30)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_an_edited_audit_row_is_detected_and_named(tmp_path: Path) -> None:
    # Its own county: tampering must not leak into other tests.
    with running_county(tmp_path, codes=CODES[:1]) as county:
        ask(county)
        ask(county)
    db, key, _ = node_paths(county, CODES[0])
    with sqlite3.connect(db) as conn:
        seq = conn.execute("SELECT MIN(seq) FROM audit_log WHERE action = 'release'").fetchone()[0]
        conn.execute("UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = ?", (seq,))
    out = cli("audit", "verify", "--db", str(db), "--key", str(key))
    assert out.exit_code == 1
    assert f"#{seq}" in out.output


def test_budget_show_county_wide_in_detail_breaks_each_node_down(small: RunningCounty) -> None:
    ask(small, purpose="detail check", month="2025-09")
    out = cli("budget", "show", "--detail", *ig_args(small, small.local.coordinator_address, COORDINATOR))
    assert out.exit_code == 0, out.output
    assert out.output.count("by purpose") == len(CODES) and "detail check" in out.output


def test_a_release_carries_budget_totals_but_not_who_else_spent_it(small: RunningCounty) -> None:
    result = ask(small, purpose="private purpose")
    for district in result.districts:
        assert district.budget.total_rho > 0
        assert not district.budget.by_analyst and not district.budget.by_purpose


def test_a_node_only_command_finds_the_node_by_district_name_through_the_registry(small: RunningCounty) -> None:
    ask(small)
    d = districts()[0]
    args = ig_args(small, small.local.coordinator_address, COORDINATOR, ig_officer_name(d))
    out = cli("budget", "show", "--district", d.name, *args)
    assert out.exit_code == 0, out.output
    assert f"{d.name}, by purpose" in out.output and ANALYST in out.output  # the node's own breakdown
    verified = cli("audit", "verify", "--district", d.code, *args)
    assert verified.exit_code == 0 and "audit log intact" in verified.output


def test_a_node_only_command_sent_to_the_coordinator_says_how_to_name_the_node(small: RunningCounty) -> None:
    d = districts()[0]
    out = cli("audit", "verify", *ig_args(small, small.local.coordinator_address, COORDINATOR, ig_officer_name(d)))
    assert out.exit_code != 0 and "--district NAME" in out.output
