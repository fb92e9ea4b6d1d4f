"""Specifications for bounded inputs: every string, list and loss has a limit, and every error stays small."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.limits import (
    MAX_BREAKDOWN,
    MAX_BREAKDOWN_KEY,
    MAX_DISTRICTS,
    MAX_ERROR,
    MAX_PURPOSE,
    LimitExceeded,
    bounded,
    bounded_budget,
    unique_districts,
)
from privacy.policy import DEFAULT_MIN_QUERY_RHO, PolicyError, parse_policy
from protos.lsi.v1 import coordinator_pb2, node_pb2, query_pb2
from tests.county import RunningCounty, running_county

CODES = ["E07000105", "E07000106"]  # Ashford, Canterbury


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCounty]:
    with running_county(tmp_path_factory.mktemp("limits"), codes=CODES, months=1, mode="mixed") as county:
        yield county


def count(**kwargs: object) -> query_pb2.Query:
    fields = {
        "query_id": str(uuid.uuid4()),
        "measure": query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        "months": ["2025-10"],
        "privacy": query_pb2.PrivacyRequest(epsilon=1.0),
        "purpose": "limits",
    }
    fields.update(kwargs)
    return query_pb2.Query(**fields)  # type: ignore[arg-type]


def refusal(county: RunningCounty, request: coordinator_pb2.FederatedQuery) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        county.coordinator_stub().Submit(request, timeout=30)
    return err.value


def spent(county: RunningCounty) -> float:
    return sum(e.budget().spent_rho for e in county.engines.values())


def test_a_purpose_over_the_limit_is_refused_naming_the_field_and_the_limit(two: RunningCounty) -> None:
    before = spent(two)
    err = refusal(two, coordinator_pb2.FederatedQuery(query=count(purpose="x" * 1_000_000)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "purpose" in err.details() and f"{MAX_PURPOSE:,}" in err.details()
    assert spent(two) == before


def test_a_node_refuses_an_over_long_purpose_sent_straight_to_it(two: RunningCounty) -> None:
    from cli.local_county import COORDINATOR

    stub = two.node_stub(CODES[0], identity=COORDINATOR)
    with pytest.raises(grpc.RpcError) as err:
        stub.Query(count(purpose="y" * (MAX_PURPOSE + 1)), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "purpose" in err.value.details()


def test_a_district_named_twice_is_counted_once_in_every_cell(two: RunningCounty) -> None:
    query = count(group_by=["tenure"])
    twice = two.coordinator_stub().Submit(
        coordinator_pb2.FederatedQuery(query=query, districts=[CODES[0], CODES[0]]), timeout=30
    )
    assert [d.district_code for d in twice.districts] == [CODES[0]]
    groups = [c for c in twice.cells if c.level == query_pb2.Cell.GROUP]
    county_groups = [c for c in twice.cells if c.level == query_pb2.Cell.COUNTY and len(c.keys) > 1]
    by_key = {tuple((k.column, k.value) for k in c.keys): c.value for c in groups}
    for cell in county_groups:
        assert cell.value == pytest.approx(by_key[tuple((k.column, k.value) for k in cell.keys)])


def test_ten_thousand_district_entries_are_refused_at_once(two: RunningCounty) -> None:
    err = refusal(two, coordinator_pb2.FederatedQuery(query=count(), districts=[CODES[0]] * 10_000))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "districts" in err.details()


@pytest.mark.parametrize("deadline", [1e12, -1.0, float("nan"), float("inf")])
def test_an_absurd_deadline_is_refused(two: RunningCounty, deadline: float) -> None:
    err = refusal(two, coordinator_pb2.FederatedQuery(query=count(), deadline_seconds=deadline))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "deadline_seconds" in err.details()


def test_a_loss_below_the_policy_floor_is_refused_without_a_charge(two: RunningCounty) -> None:
    before = spent(two)
    err = refusal(two, coordinator_pb2.FederatedQuery(query=count(privacy=query_pb2.PrivacyRequest(rho=1e-300))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "privacy.rho" in err.details() and f"{DEFAULT_MIN_QUERY_RHO:g}" in err.details()
    assert spent(two) == before


def test_a_clamp_beyond_the_policy_limit_is_refused(two: RunningCounty) -> None:
    query = count(measure=query_pb2.Measure(kind=query_pb2.Measure.SUM, column="earnings_weekly", lower=0, upper=1e17))
    err = refusal(two, coordinator_pb2.FederatedQuery(query=query))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "measure.upper" in err.details()


def test_malformed_bytes_get_invalid_argument_from_both_services(two: RunningCounty) -> None:
    from cli.local_county import ANALYST, COORDINATOR

    garbage = b"\xff\xff\xff\xff\x0f"
    channels = [
        (two.channel(ANALYST, two.local.coordinator_address, COORDINATOR), "/lsi.v1.Coordinator/Submit"),
        (two.channel(COORDINATOR, two.local.node_address(CODES[0]), _node_name(CODES[0])), "/lsi.v1.Node/Query"),
    ]
    for channel, method in channels:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as err:
            call(garbage, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _node_name(code: str) -> str:
    from cli.local_county import node_name
    from reference.geography import districts

    return node_name(next(d for d in districts() if d.code == code))


def test_an_error_about_a_huge_value_stays_small(two: RunningCounty) -> None:
    from cli.local_county import ANALYST

    with pytest.raises(grpc.RpcError) as err:
        two.coordinator_stub(ANALYST).Result(coordinator_pb2.ResultRequest(query_id="q" * 3_000_000), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(err.value.details()) <= MAX_ERROR + 100


def test_a_budget_stays_answerable_after_queries_with_long_purposes(two: RunningCounty) -> None:
    for _ in range(3):
        two.coordinator_stub().Submit(
            coordinator_pb2.FederatedQuery(query=count(purpose="p" * MAX_PURPOSE)), timeout=30
        )
    status = two.node_stub(CODES[0]).Budget(node_pb2.BudgetRequest(), timeout=30)
    assert all(len(s.key) <= MAX_BREAKDOWN_KEY + 60 for s in status.by_purpose)
    assert two.coordinator_stub().Budgets(coordinator_pb2.CountyBudgetRequest(), timeout=30).nodes


@given(st.lists(st.tuples(st.text(max_size=3_000), st.floats(0, 10)), max_size=2 * MAX_BREAKDOWN))
def test_a_budget_reply_is_bounded_however_many_and_long_the_purposes(rows: list[tuple[str, float]]) -> None:
    status = query_pb2.BudgetStatus(by_purpose=[query_pb2.Spend(key=k, rho=r) for k, r in rows])
    out = bounded_budget(status)
    assert len(out.by_purpose) == min(len(rows), MAX_BREAKDOWN)
    assert all(len(s.key) <= MAX_BREAKDOWN_KEY + 60 for s in out.by_purpose)
    kept = sorted((r for _, r in rows), reverse=True)[:MAX_BREAKDOWN]
    assert sorted((s.rho for s in out.by_purpose), reverse=True) == kept


@given(st.text(max_size=20_000))
def test_a_bounded_message_never_exceeds_its_limit_and_keeps_short_ones_whole(text: str) -> None:
    out = bounded(text)
    assert len(out) <= MAX_ERROR + 60
    assert out == text or len(text) > MAX_ERROR


@given(st.lists(st.sampled_from(["A", "B", "C", "D"]), max_size=50))
def test_districts_are_de_duplicated_in_the_order_first_asked(codes: list[str]) -> None:
    assert unique_districts(codes) == list(dict.fromkeys(codes))


def test_more_districts_than_the_limit_are_refused() -> None:
    with pytest.raises(LimitExceeded, match="districts"):
        unique_districts([f"E{i:08d}" for i in range(MAX_DISTRICTS + 1)])


POLICY = """district_code = "E07000105"
period_start = 2025-04-01
period_end = 2026-03-31
delta = 1e-7
total_rho = 1.0
per_query_rho = 0.05
min_published_cell = 0
"""


def test_a_policy_has_safe_loss_floors_and_clamp_limit_by_default() -> None:
    policy = parse_policy(POLICY)
    assert 0 < policy.min_query_rho < policy.per_query_rho
    assert policy.min_query_epsilon > 0
    assert policy.max_clamp_abs > 0


def test_a_loss_floor_above_the_per_query_ceiling_is_refused() -> None:
    with pytest.raises(PolicyError, match="min_query_rho"):
        parse_policy(POLICY + "min_query_rho = 0.1\n")
