"""Specifications for outbound-only nodes: a node that dials the coordinator is treated exactly as a dialled one."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from cli.local_county import ANALYST, COORDINATOR, ig_officer_name, node_name
from coordinator.config import NodeEntry
from coordinator.outbound import Session, StreamLink
from node.outbound import OutboundLink, answer
from node.server import NodeServicer
from privacy.audit import verify_chain
from protos.lsi.v1 import coordinator_pb2, coordinator_pb2_grpc, node_pb2, query_pb2
from reference.geography import districts
from tests.county import MODES, RunningCounty, running_county

CODES = ["E07000105", "E07000106", "E07000107"]


@pytest.fixture(scope="module", params=MODES)
def county(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCounty]:
    with running_county(
        tmp_path_factory.mktemp(f"outbound-{request.param}"), codes=CODES, months=1, mode=request.param
    ) as running:
        yield running


def count(epsilon: float = 1.0) -> query_pb2.Query:
    return query_pb2.Query(
        query_id=str(uuid.uuid4()),
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        months=["2025-10"],
        privacy=query_pb2.PrivacyRequest(epsilon=epsilon),
        purpose="outbound",
        group_by=["tenure"],
    )


def submit(county: RunningCounty, query: query_pb2.Query) -> coordinator_pb2.FederatedResult:
    return county.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)


def district(code: str):  # noqa: ANN201
    return next(d for d in districts() if d.code == code)


def test_every_district_answers_in_either_mode(county: RunningCounty) -> None:
    result = submit(county, count())
    assert result.complete
    assert sorted(d.district_code for d in result.districts if d.answered) == sorted(CODES)


def test_a_retry_is_replayed_at_no_charge_in_either_mode(county: RunningCounty) -> None:
    query = count(epsilon=1.5)
    first = submit(county, query)
    spent = {c: e.budget().spent_rho for c, e in county.engines.items()}
    again = submit(county, query)
    assert [c.value for c in again.cells] == [c.value for c in first.cells]
    assert {c: e.budget().spent_rho for c, e in county.engines.items()} == spent


def test_every_charge_is_in_the_ledger_and_the_audit_chain_verifies_in_either_mode(county: RunningCounty) -> None:
    before = {c: e.budget().spent_rho for c, e in county.engines.items()}
    result = submit(county, count(epsilon=0.7))
    for outcome in result.districts:
        engine = county.engines[outcome.district_code]
        assert engine.budget().spent_rho == pytest.approx(before[outcome.district_code] + outcome.charge.rho)
        assert verify_chain(engine.store.path, engine.store.signer.public_key).ok


def test_status_and_budgets_reach_every_node_in_either_mode(county: RunningCounty) -> None:
    nodes = county.coordinator_stub().Nodes(coordinator_pb2.NodesRequest(), timeout=30).nodes
    assert all(n.serving for n in nodes) and len(nodes) == len(CODES)
    budgets = county.coordinator_stub().Budgets(coordinator_pb2.CountyBudgetRequest(), timeout=30)
    assert sorted(b.district_code for b in budgets.nodes) == sorted(CODES)


def connect_as(county: RunningCounty, identity: str) -> grpc.RpcError:
    stub = coordinator_pb2_grpc.CoordinatorStub(county.channel(identity, county.local.coordinator_address, COORDINATOR))
    with pytest.raises(grpc.RpcError) as err:
        for _ in stub.Connect(iter([coordinator_pb2.NodeMessage()]), timeout=10):
            pass
    return err.value


def test_an_analyst_cannot_open_a_node_stream(county: RunningCounty) -> None:
    assert connect_as(county, ANALYST).code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_node_not_registered_as_outbound_cannot_open_a_stream(county: RunningCounty) -> None:
    # Dover is not registered at all in this three-district county.
    err = connect_as(county, node_name(district("E07000108")))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not registered here as an outbound node" in err.details()


def test_a_node_will_not_dial_a_server_that_is_not_the_coordinator(county: RunningCounty) -> None:
    code = CODES[0]
    engine = county.engines[code]
    tls = county.local.tls(node_name(district(code)))
    # Another district's node answers at this address with a node certificate, not a coordinator's.
    link = OutboundLink(
        NodeServicer(engine, tls), county.local.node_address(CODES[1]), node_name(district(CODES[1])), tls
    )
    assert link._coordinator_certificate() is None  # noqa: SLF001 - the vetting step, without the retry loop


def test_an_outbound_node_comes_back_after_its_stream_is_dropped(tmp_path: Path) -> None:
    with running_county(tmp_path, codes=CODES[:1], months=1, mode="outbound") as county:
        link = county.pool.links[CODES[0]]  # type: ignore[attr-defined]
        link.close()  # the coordinator drops the stream, as a network outage would
        missing = submit(county, count())
        assert not missing.complete
        assert missing.districts[0].error_code == "UNAVAILABLE"
        end = time.monotonic() + 30
        while link.vet() is not None and time.monotonic() < end:
            time.sleep(0.05)
        assert submit(county, count(epsilon=1.1)).complete


def test_the_node_answers_a_stream_call_through_its_own_role_checks(county: RunningCounty) -> None:
    code = CODES[0]
    tls = county.local.tls(node_name(district(code)))
    servicer = NodeServicer(county.engines[code], tls)
    officer_pem = county.local.tls(ig_officer_name(district(code))).read()[1]
    call = coordinator_pb2.CoordinatorMessage(
        call_id=7, method="Query", request=count().SerializeToString(), timeout_seconds=10
    )
    # Whoever holds the stream, only a coordinator's certificate may query: an IG officer's is refused.
    reply = answer(servicer, call, officer_pem)
    assert reply.call_id == 7 and reply.error_code == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    ("method", "payload", "code"),
    [
        ("SetPolicy", b"", "UNIMPLEMENTED"),
        ("Query", b"\xff\xff\xff", "INVALID_ARGUMENT"),
    ],
)
def test_a_stream_call_the_node_cannot_take_gets_a_status_not_a_crash(
    county: RunningCounty, method: str, payload: bytes, code: str
) -> None:
    servicer = NodeServicer(county.engines[CODES[0]], county.local.tls(node_name(district(CODES[0]))))
    call = coordinator_pb2.CoordinatorMessage(call_id=1, method=method, request=payload, timeout_seconds=10)
    assert answer(servicer, call, b"").error_code == code


def test_a_reply_to_a_call_no_longer_waited_for_is_dropped() -> None:
    link = StreamLink(NodeEntry("E07000105", "outbound", "node", "outbound"), None)
    session = Session(context=None, tls=None)
    link.attach(session)
    future = link.start("Budget", node_pb2.BudgetRequest(), 1.0, ())
    future.cancel()
    session.deliver(coordinator_pb2.NodeMessage(call_id=1, reply=query_pb2.BudgetStatus().SerializeToString()))
    assert future.cancelled()


def test_calls_waiting_on_a_stream_that_closes_fail_as_unavailable() -> None:
    link = StreamLink(NodeEntry("E07000105", "outbound", "node", "outbound"), None)
    session = Session(context=None, tls=None)
    link.attach(session)
    future = link.start("Budget", node_pb2.BudgetRequest(), 1.0, ())
    link.detach(session)
    with pytest.raises(Exception, match="UNAVAILABLE"):
        future.result(timeout=1)
