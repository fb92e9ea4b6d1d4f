"""The gRPC layers: each refusal gets the status an officer would expect, and nothing else leaks."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from coordinator.config import NodeEntry
from coordinator.fanout import NodeReply
from coordinator.results import ResultStore
from coordinator.server import CoordinatorServicer
from node.engine import Caller, NodeEngine
from node.loader import load_snapshot
from node.query import QueryError
from node.server import _guarded
from node.synth import generate_district
from privacy.audit import AuditSigner
from privacy.ledger import MechanismNotAllowed, PeriodClosed, PrivacyStore
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import district
from tests.county import policy_with

CODE = "E07000105"  # Ashford
MONTH = "2025-10"


class Aborted(Exception):
    pass


class FakeContext:
    """Records the status a servicer aborts with, raising as grpc's context.abort does."""

    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise Aborted(details)


def aborted_with(error: Exception) -> FakeContext:
    context = FakeContext()

    def fail() -> None:
        raise error

    with pytest.raises(Aborted):
        _guarded(context, fail, "query 'q1'")  # type: ignore[arg-type]
    return context


def test_a_closed_period_is_a_failed_precondition() -> None:
    context = aborted_with(PeriodClosed("query 'q1' refused: today is outside the privacy period"))
    assert context.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "privacy period" in context.details


def test_a_mechanism_the_policy_forbids_is_an_invalid_argument() -> None:
    context = aborted_with(MechanismNotAllowed("mechanism 'discrete_gaussian' is not allowed"))
    assert context.code == grpc.StatusCode.INVALID_ARGUMENT


def test_an_unexpected_error_reaches_the_caller_without_its_text() -> None:
    # An exact (unnoised) aggregate in an exception message must not cross the node boundary.
    context = aborted_with(OverflowError("cell 3 = 98765432109876543210 does not fit in a 64-bit integer"))
    assert context.code == grpc.StatusCode.INTERNAL
    assert "98765432109876543210" not in context.details
    assert "query 'q1'" in context.details and "log" in context.details


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> NodeEngine:
    folder = tmp_path_factory.mktemp("ashford")
    frame = generate_district(CODE, seed=5, scale=0.2, months=1, end_month=MONTH)[MONTH]
    frame.to_csv(folder / f"{MONTH}.csv", index=False)
    policy = policy_with(total_rho=1000.0, per_query_rho=50.0)(district(CODE))
    store = PrivacyStore(folder / "node.sqlite", policy, AuditSigner.load_or_create(folder / "k.pem"))
    return NodeEngine(CODE, {MONTH: load_snapshot(folder / f"{MONTH}.csv", CODE)}, store)


def test_a_loss_opendp_cannot_plan_is_refused_naming_the_privacy_field(engine: NodeEngine) -> None:
    query = query_pb2.Query(
        query_id="huge",
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        months=[MONTH],
        privacy=query_pb2.PrivacyRequest(epsilon=1e300),
    )
    with pytest.raises(QueryError, match="^privacy: no release can be planned") as err:
        engine.answer(query, Caller("coordinator", "coordinator"))
    assert err.value.field == "privacy"
    assert engine.budget().spent_rho == 0


@pytest.mark.parametrize("deadline", [-1.0, float("nan"), float("inf")])
def test_the_coordinator_refuses_a_deadline_that_is_not_a_number_of_seconds(tmp_path: Path, deadline: float) -> None:
    from coordinator.config import NodeEntry
    from coordinator.fanout import NodePool
    from coordinator.results import ResultStore
    from coordinator.server import CoordinatorServicer
    from protos.lsi.v1 import coordinator_pb2

    pool = NodePool([NodeEntry(CODE, "127.0.0.1:1", "node-ashford")], None)
    servicer = CoordinatorServicer(pool, ResultStore(tmp_path / "c.sqlite"), 5.0, None, plaintext=True)
    query = query_pb2.Query(
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT), privacy=query_pb2.PrivacyRequest(epsilon=1.0)
    )
    context = FakeContext()
    try:
        with pytest.raises(Aborted):
            servicer.Submit(coordinator_pb2.FederatedQuery(query=query, deadline_seconds=deadline), context)  # type: ignore[arg-type]
    finally:
        pool.close()
    assert context.code == grpc.StatusCode.INVALID_ARGUMENT
    assert context.details.startswith("deadline_seconds:")


class _PoolOfFailedReplies:
    """Every node's call failed with a status but no details (a node may send an empty status message)."""

    nodes = {CODE: NodeEntry(CODE, "ashford.example:50051", "node-ashford")}

    def call(self, codes, method, request, deadline, **_options) -> list[NodeReply]:
        return [NodeReply(self.nodes[c], None, code="INTERNAL", error="") for c in codes]


class _StatusContext(FakeContext):
    def time_remaining(self) -> None:
        return None


def test_node_status_shows_the_code_of_a_failed_reply_that_carries_no_details(tmp_path):
    pool = _PoolOfFailedReplies()
    servicer = CoordinatorServicer(pool, ResultStore(tmp_path / "county.sqlite"), 10.0, None, plaintext=True)
    status = servicer.Nodes(coordinator_pb2.NodesRequest(), _StatusContext())
    assert [(n.district_code, n.serving, n.detail) for n in status.nodes] == [(CODE, False, "INTERNAL")]
