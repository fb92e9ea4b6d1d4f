"""Specification of who may do what in a running county: IG officers act for their own district only, results
belong to their analyst, spending detail goes to IG officers, and nodes and callers with bad certificates are
shut out in both directions."""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import grpc  # noqa: E402
import pytest  # noqa: E402

from cli.local_county import ANALYST, COORDINATOR, COUNTY_IG_OFFICER, ig_officer_name, node_name  # noqa: E402
from node.config import load_node_config  # noqa: E402
from node.engine import NodeEngine  # noqa: E402
from node.server import build_server as build_node  # noqa: E402
from privacy.policy import load_policy, save_policy  # noqa: E402
from protos.lsi.v1 import coordinator_pb2, coordinator_pb2_grpc, node_pb2, query_pb2  # noqa: E402
from reference.geography import districts  # noqa: E402
from security import pki  # noqa: E402
from security.pki import PkiError, Role  # noqa: E402
from security.testing import backdate, move_under_intermediate  # noqa: E402
from tests.county import RunningCounty, running_county  # noqa: E402

ASHFORD, CANTERBURY = districts()[0], districts()[1]
CODES = [ASHFORD.code, CANTERBURY.code]
BOB = "analyst-bob"


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCounty]:
    with running_county(tmp_path_factory.mktemp("access"), codes=CODES) as running:
        pki.issue(running.local.pki_dir, BOB, Role.ANALYST)
        yield running


def ask(
    county: RunningCounty, analyst: str = ANALYST, purpose: str = "rent arrears review", query_id: str | None = None
) -> coordinator_pb2.FederatedResult:
    query = query_pb2.Query(
        query_id=query_id or str(uuid.uuid4()),
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        filters=[query_pb2.Filter(column="on_hb", op=query_pb2.Filter.EQ, flag=True)],
        months=["2025-10"],
        privacy=query_pb2.PrivacyRequest(epsilon=0.5),
        purpose=purpose,
    )
    return county.coordinator_stub(analyst).Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)


def result(county: RunningCounty, identity: str, query_id: str) -> coordinator_pb2.FederatedResult:
    return county.coordinator_stub(identity).Result(coordinator_pb2.ResultRequest(query_id=query_id), timeout=30)


def refusal(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value


def policy_toml(county: RunningCounty, code: str, total_rho: float) -> str:
    path = county.local.root / "nodes" / code / "policy.toml"
    policy = load_policy(path)
    out = path.with_name("proposed.toml")
    save_policy(type(policy)(**{**policy.__dict__, "total_rho": total_rho}), out)
    return out.read_text()


# --- point 9: IG officers act for their own district ----------------------------------------------------------


def test_an_ig_officer_cannot_change_another_districts_policy(county: RunningCounty) -> None:
    before = county.node_stub(ASHFORD.code).Budget(node_pb2.BudgetRequest(), timeout=30).total_rho
    stub = county.node_stub(ASHFORD.code, identity=ig_officer_name(CANTERBURY))
    err = refusal(
        lambda: stub.SetPolicy(
            node_pb2.SetPolicyRequest(policy_toml=policy_toml(county, ASHFORD.code, 500.0)), timeout=30
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "Canterbury" in err.details() and "Ashford" in err.details()
    assert county.node_stub(ASHFORD.code).Budget(node_pb2.BudgetRequest(), timeout=30).total_rho == before


def test_an_ig_officer_changes_their_own_districts_policy(county: RunningCounty) -> None:
    stub = county.node_stub(CANTERBURY.code)
    total = stub.Budget(node_pb2.BudgetRequest(), timeout=30).total_rho + 1
    status = stub.SetPolicy(
        node_pb2.SetPolicyRequest(policy_toml=policy_toml(county, CANTERBURY.code, total)), timeout=30
    )
    assert status.total_rho == pytest.approx(total)


def test_the_county_ig_officer_cannot_change_a_policy(county: RunningCounty) -> None:
    stub = county.node_stub(ASHFORD.code, identity=COUNTY_IG_OFFICER)
    err = refusal(
        lambda: stub.SetPolicy(
            node_pb2.SetPolicyRequest(policy_toml=policy_toml(county, ASHFORD.code, 500.0)), timeout=30
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


def test_another_districts_ig_officer_cannot_read_a_nodes_detailed_budget(county: RunningCounty) -> None:
    stub = county.node_stub(ASHFORD.code, identity=ig_officer_name(CANTERBURY))
    err = refusal(lambda: stub.Budget(node_pb2.BudgetRequest(), timeout=30))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "Canterbury" in err.details() and "Ashford" in err.details()


@pytest.mark.parametrize("officer", [ig_officer_name(ASHFORD), COUNTY_IG_OFFICER])
def test_own_district_and_county_ig_officers_read_a_nodes_spending_breakdown(
    county: RunningCounty, officer: str
) -> None:
    ask(county, purpose="breakdown check")
    status = county.node_stub(ASHFORD.code, identity=officer).Budget(node_pb2.BudgetRequest(), timeout=30)
    assert any(s.key == "breakdown check" for s in status.by_purpose)


def test_another_districts_ig_officer_cannot_verify_a_nodes_audit(county: RunningCounty) -> None:
    stub = county.node_stub(ASHFORD.code, identity=ig_officer_name(CANTERBURY))
    err = refusal(lambda: stub.AuditVerify(node_pb2.AuditRequest(), timeout=30))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_county_ig_officer_verifies_any_nodes_audit(county: RunningCounty) -> None:
    report = county.node_stub(CANTERBURY.code, identity=COUNTY_IG_OFFICER).AuditVerify(
        node_pb2.AuditRequest(), timeout=30
    )
    assert report.ok


def test_a_node_refuses_to_start_with_another_districts_certificate(county: RunningCounty) -> None:
    cfg = load_node_config(county.local.root / "nodes" / ASHFORD.code / "node.toml")
    other = county.local.tls(node_name(CANTERBURY))
    wrong = type(cfg)(**{**cfg.__dict__, "tls": other, "listen": "127.0.0.1:0"})
    engine = county.engines[ASHFORD.code]
    with pytest.raises(PkiError, match=r"Canterbury \(E07000106\).*configured for Ashford \(E07000105\)"):
        build_node(engine, wrong)


def test_a_node_refuses_to_start_with_an_ig_officer_certificate(county: RunningCounty) -> None:
    cfg = load_node_config(county.local.root / "nodes" / ASHFORD.code / "node.toml")
    wrong = type(cfg)(**{**cfg.__dict__, "tls": county.local.tls(ig_officer_name(ASHFORD)), "listen": "127.0.0.1:0"})
    with pytest.raises(PkiError, match="role 'ig-officer'"):
        build_node(county.engines[ASHFORD.code], wrong)


# --- point 8: results belong to their analyst, spending detail to IG officers ---------------------------------


def test_an_analyst_cannot_read_another_analysts_result(county: RunningCounty) -> None:
    mine = ask(county, purpose="alice's private purpose")
    err = refusal(lambda: result(county, BOB, mine.query_id))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert "alice's private purpose" not in err.details()


def test_someone_elses_result_is_refused_exactly_like_a_missing_one(county: RunningCounty) -> None:
    mine = ask(county)
    taken = refusal(lambda: result(county, BOB, mine.query_id))
    missing = refusal(lambda: result(county, BOB, "no-such-id"))
    assert taken.code() == missing.code()
    assert taken.details().replace(mine.query_id, "ID") == missing.details().replace("no-such-id", "ID")


def test_an_analyst_reads_their_own_result(county: RunningCounty) -> None:
    mine = ask(county, purpose="my own")
    assert result(county, ANALYST, mine.query_id).query.purpose == "my own"


@pytest.mark.parametrize("officer", [ig_officer_name(ASHFORD), COUNTY_IG_OFFICER])
def test_ig_officers_read_results_of_queries_sent_to_their_district(county: RunningCounty, officer: str) -> None:
    mine = ask(county, purpose="governed")
    assert result(county, officer, mine.query_id).query.purpose == "governed"


def test_a_district_ig_officer_cannot_read_a_result_their_district_was_not_asked_for(county: RunningCounty) -> None:
    query = query_pb2.Query(
        query_id=str(uuid.uuid4()),
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        months=["2025-10"],
        privacy=query_pb2.PrivacyRequest(epsilon=0.5),
        purpose="canterbury only",
    )
    stored = county.coordinator_stub().Submit(
        coordinator_pb2.FederatedQuery(query=query, districts=[CANTERBURY.code]), timeout=60
    )
    err = refusal(lambda: result(county, ig_officer_name(ASHFORD), stored.query_id))
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_repeating_another_analysts_question_and_id_never_returns_their_purpose(county: RunningCounty) -> None:
    first = ask(county, purpose="alice's secret reason")
    again = ask(county, analyst=BOB, purpose="bob's reason", query_id=first.query_id)
    assert again.query.analyst == BOB and again.query.purpose == "bob's reason"
    assert "alice's secret reason" not in str(again)


def test_analysts_get_county_budget_totals_without_the_breakdown(county: RunningCounty) -> None:
    ask(county, purpose="totals only")
    budgets = county.coordinator_stub(BOB).Budgets(coordinator_pb2.CountyBudgetRequest(), timeout=60)
    assert len(budgets.nodes) == len(CODES) and all(b.spent_rho > 0 for b in budgets.nodes)
    assert not any(b.by_analyst or b.by_purpose for b in budgets.nodes)


def test_a_district_ig_officer_gets_the_breakdown_for_their_district_only(county: RunningCounty) -> None:
    ask(county, purpose="district detail")
    budgets = county.coordinator_stub(ig_officer_name(ASHFORD)).Budgets(
        coordinator_pb2.CountyBudgetRequest(), timeout=60
    )
    detailed = {b.district_code for b in budgets.nodes if b.by_purpose}
    assert detailed == {ASHFORD.code}


def test_the_county_ig_officer_gets_every_districts_breakdown(county: RunningCounty) -> None:
    ask(county, purpose="county detail")
    budgets = county.coordinator_stub(COUNTY_IG_OFFICER).Budgets(coordinator_pb2.CountyBudgetRequest(), timeout=60)
    assert {b.district_code for b in budgets.nodes if b.by_purpose} == set(CODES)


# --- point 12: certificates checked in both directions ----------------------------------------------------------


def _stub_as(county: RunningCounty, identity: str) -> coordinator_pb2_grpc.CoordinatorStub:
    """A coordinator stub presenting the identity's files as they are, without our own side's checks."""
    d = county.local.pki_dir
    creds = grpc.ssl_channel_credentials(
        (d / "ca.crt").read_bytes(), (d / f"{identity}.key").read_bytes(), (d / f"{identity}.crt").read_bytes()
    )
    channel = grpc.secure_channel(
        county.local.coordinator_address, creds, options=[("grpc.ssl_target_name_override", COORDINATOR)]
    )
    return coordinator_pb2_grpc.CoordinatorStub(channel)


def test_the_coordinator_refuses_an_analyst_with_an_expired_certificate(county: RunningCounty) -> None:
    pki.issue(county.local.pki_dir, "analyst-expired", Role.ANALYST)
    backdate(county.local.pki_dir, "analyst-expired")
    err = refusal(lambda: _stub_as(county, "analyst-expired").Nodes(coordinator_pb2.NodesRequest(), timeout=30))
    assert err.code() == grpc.StatusCode.UNAVAILABLE


def test_the_coordinator_refuses_an_analyst_under_an_intermediate_ca(county: RunningCounty) -> None:
    pki.issue(county.local.pki_dir, "analyst-chained", Role.ANALYST)
    move_under_intermediate(county.local.pki_dir, "analyst-chained")
    err = refusal(lambda: _stub_as(county, "analyst-chained").Nodes(coordinator_pb2.NodesRequest(), timeout=30))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "intermediate CA" in err.details()


def test_a_node_refuses_an_ig_officer_under_an_intermediate_ca(county: RunningCounty) -> None:
    pki.issue(county.local.pki_dir, "ig-chained", Role.IG_OFFICER, district=ASHFORD.code)
    move_under_intermediate(county.local.pki_dir, "ig-chained")
    d = county.local.pki_dir
    creds = grpc.ssl_channel_credentials(
        (d / "ca.crt").read_bytes(), (d / "ig-chained.key").read_bytes(), (d / "ig-chained.crt").read_bytes()
    )
    from protos.lsi.v1 import node_pb2_grpc

    with grpc.secure_channel(
        county.local.node_address(ASHFORD.code), creds, options=[("grpc.ssl_target_name_override", node_name(ASHFORD))]
    ) as channel:
        err = refusal(lambda: node_pb2_grpc.NodeStub(channel).Budget(node_pb2.BudgetRequest(), timeout=30))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_revoked_node_is_missing_with_the_reason_while_the_others_answer(tmp_path: Path) -> None:
    with running_county(tmp_path, codes=CODES) as own:
        ask(own)  # the coordinator has dialled and trusted both nodes
        pki.revoke(own.local.pki_dir, node_name(ASHFORD))
        after = ask(own)
    outcomes = {d.district_code: d for d in after.districts}
    assert not outcomes[ASHFORD.code].answered
    assert "revoked by the county CA" in outcomes[ASHFORD.code].error
    assert outcomes[CANTERBURY.code].answered
    assert any(c.district_code == CANTERBURY.code for c in after.cells)


def test_a_node_with_an_expired_certificate_is_missing_with_the_reason(tmp_path: Path) -> None:
    with running_county(tmp_path, codes=CODES) as own:
        # Expired while running: the node keeps serving its old certificate, so only the coordinator's check stops it.
        backdate(own.local.pki_dir, node_name(ASHFORD))
        own.stop_node(ASHFORD.code)
        cfg = load_node_config(own.local.root / "nodes" / ASHFORD.code / "node.toml")
        engine: NodeEngine = own.engines[ASHFORD.code]
        _start_with_raw_credentials(own, engine, cfg)
        after = ask(own)
    outcomes = {d.district_code: d for d in after.districts}
    assert not outcomes[ASHFORD.code].answered and "expired" in outcomes[ASHFORD.code].error
    assert outcomes[CANTERBURY.code].answered


def _start_with_raw_credentials(county: RunningCounty, engine: NodeEngine, cfg) -> None:
    """Serve a node with whatever certificate its files hold, as a node started before it expired would."""
    from concurrent import futures

    from node.server import NodeServicer
    from protos.lsi.v1 import node_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)])
    node_pb2_grpc.add_NodeServicer_to_server(NodeServicer(engine, cfg.tls), server)
    creds = grpc.ssl_server_credentials(
        [(cfg.tls.key.read_bytes(), cfg.tls.cert.read_bytes())],
        root_certificates=cfg.tls.ca.read_bytes(),
        require_client_auth=True,
    )
    server.add_secure_port(cfg.listen, creds)
    server.start()
    county.node_servers[engine.district.code] = server
