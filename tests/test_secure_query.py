"""`Submit` with secure=true over mutual-TLS gRPC (issue 15): a county total only, contributors listed, charged once."""

from __future__ import annotations

import grpc
import pytest

from analysis.queries import build_query
from protos.lsi.v1 import coordinator_pb2, query_pb2
from protos.serde import measure_to_wire


def _spent(county) -> dict[str, float]:
    return {code: e.store.spent().spent_rho for code, e in county.engines.items()}


def _count(**privacy) -> query_pb2.Query:
    return build_query(measure_to_wire("count"), months=["2025-10"], purpose="secure route test", **privacy)


@pytest.fixture(scope="module")
def answered(county):
    """One secure count at rho 0.01 over the whole county, with the ledgers before and after."""
    before = _spent(county)
    query = _count(rho=0.01)
    result = county.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query, secure=True), timeout=120)
    return query, result, before, _spent(county)


def test_a_secure_count_answers_with_county_cells_only(answered):
    _, result, _, _ = answered
    assert result.secure and result.cells
    assert {c.level for c in result.cells} == {query_pb2.Cell.COUNTY}
    assert all(c.ci_low < c.value < c.ci_high and c.variance > 0 for c in result.cells)


def test_a_secure_count_lists_every_contributing_district(answered, county):
    _, result, _, _ = answered
    assert sorted(d.district_code for d in result.districts if d.answered) == sorted(county.pool.nodes)
    assert result.complete


def test_a_secure_count_charges_each_district_exactly_once(answered):
    _, result, before, after = answered
    for d in result.districts:
        assert d.charge.rho > 0
        assert after[d.district_code] - before[d.district_code] == pytest.approx(d.charge.rho, rel=1e-9)


def test_a_retry_with_the_same_id_charges_nothing_and_returns_the_same_total(answered, county):
    query, result, _, after = answered
    again = county.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query, secure=True), timeout=120)
    assert [c.value for c in again.cells] == [c.value for c in result.cells]
    assert all(d.replayed and d.charge.rho == 0 for d in again.districts)
    assert _spent(county) == after


def test_the_same_id_asked_without_secure_is_refused_as_another_question(answered, county):
    query, _, _, _ = answered
    with pytest.raises(grpc.RpcError) as err:
        county.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (
            build_query(measure_to_wire("mean", "weekly_income", 0, 2000), months=["2025-10"], rho=0.01),
            "measure",
        ),
        (_count(epsilon=0.5), "privacy.epsilon"),
    ],
    ids=["mean", "epsilon"],
)
def test_a_secure_mean_or_epsilon_is_refused_naming_the_field(county, query, field):
    before = _spent(county)
    with pytest.raises(grpc.RpcError) as err:
        county.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query, secure=True), timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}:")
    assert _spent(county) == before


def _lsi(county, *args: str):
    from click.testing import CliRunner

    from cli.local_county import ANALYST
    from cli.main import main

    connection = ["--address", county.local.coordinator_address, "--pki", str(county.local.pki_dir)]
    return CliRunner().invoke(main, [*args, *connection, "--identity", ANALYST, "--yes"])


def test_the_cli_prints_a_secure_county_total_with_its_contributors(county):
    out = _lsi(county, "query", "count", "--where", "on_cts = true", "--rho", "0.01", "--secure")
    assert out.exit_code == 0, out.output
    assert "Secure aggregate" in out.output and "12 contributing districts" in out.output
    assert "county total" in out.output and "95% interval" in out.output
    assert "Ashford" in out.output  # in the charges table only: no district figure
    assert "of 0.000" not in out.output  # each contributor's budget left after its charge, not an empty one
    rows = [line for line in out.output.splitlines() if line.startswith("Kent, 12 of 12 districts")]
    assert len(rows) == 1  # one county row, no district rows


def test_the_cli_refuses_a_secure_count_at_an_epsilon_naming_the_flag(county):
    out = _lsi(county, "query", "count", "--epsilon", "1.0", "--secure")
    assert out.exit_code != 0
    assert "privacy.epsilon" in out.output and "Traceback" not in out.output


def test_districts_that_dropped_out_are_listed_unanswered_with_the_nodes_reason():
    from coordinator.secure import SecureTotal
    from coordinator.secure_query import secure_outcomes

    total = SecureTotal(
        round_id="r",
        cells=[],
        contributors=["A", "B"],
        charges={"A": query_pb2.Charge(rho=0.01), "B": query_pb2.Charge(rho=0.01)},
        dropped={"C": "UNAVAILABLE: connection refused"},
    )
    out = secure_outcomes(["A", "B", "C"], total, name=str.lower)
    assert [(d.district_code, d.answered) for d in out] == [("A", True), ("B", True), ("C", False)]
    assert (out[2].error_code, out[2].error, out[2].district_name) == ("UNAVAILABLE", "connection refused", "c")
    assert out[0].charge.rho == 0.01


def test_a_contributor_outcome_carries_its_budget_left_after_the_charge():
    from coordinator.secure import SecureTotal
    from coordinator.secure_query import secure_outcomes

    left = query_pb2.BudgetStatus(district_code="A", total_rho=1.0, spent_rho=0.25, remaining_rho=0.75)
    total = SecureTotal(
        round_id="r",
        cells=[],
        contributors=["A"],
        charges={"A": query_pb2.Charge(rho=0.01)},
        dropped={"B": "UNAVAILABLE: gone"},
        budgets={"A": left},
    )
    a, b = secure_outcomes(["A", "B"], total, name=str.lower)
    assert (a.budget.total_rho, a.budget.remaining_rho) == (1.0, 0.75)
    assert not b.HasField("budget")


def test_the_three_steps_share_the_callers_deadline_instead_of_taking_it_each():
    from coordinator.fanout import NodeReply
    from coordinator.secure import pool_fanout

    now = [100.0]
    given: dict[str, float] = {}

    class Pool:
        def call(self, codes, method, request, deadline):
            given[method] = deadline
            now[0] += deadline / 2  # each step uses half of what it was given
            return [NodeReply(entry=None, message=None) for _ in codes]

    fanout = pool_fanout(Pool(), 10.0, clock=lambda: now[0])  # type: ignore[arg-type]
    for method in ("SecureSetup", "SecureShare", "SecureSum"):
        fanout([], method, lambda _c: None)
    assert given["SecureSetup"] == pytest.approx(4.0)  # 2 of 5 parts
    assert given["SecureShare"] == pytest.approx(8.0 * 2 / 3)  # 2 of the 3 parts left, of the 8 s left
    assert given["SecureSum"] == pytest.approx(10.0 - 2.0 - 8.0 / 3)  # all that is left
    assert sum(given.values()) > 10.0 - 1e-9  # unused time passes on ...
    assert max(given.values()) < 10.0  # ... but no step is given the whole deadline


@pytest.mark.parametrize("remaining", [0.0, 0.5, 30.0])
def test_no_step_is_given_more_than_the_time_left_nor_less_than_nothing(remaining):
    from coordinator.secure import STEP_WEIGHTS, step_seconds

    for method in STEP_WEIGHTS:
        assert 0.0 <= step_seconds(method, remaining) <= remaining
    assert step_seconds("SecureSum", remaining) == remaining
    assert step_seconds("SecureSetup", -1.0) == 0.0


def test_too_few_districts_for_the_dropout_margin_are_refused_naming_districts():
    from coordinator.secure_query import SecureRefused, secure_threshold

    assert secure_threshold(12, 3) == 9
    with pytest.raises(SecureRefused, match="^districts:"):
        secure_threshold(4, 3)


def test_a_round_that_every_district_refused_at_setup_answers_their_shared_refusal():
    from coordinator.secure import SecureAbort
    from coordinator.secure_query import abort_status

    refused = SecureAbort("setup", "stopped", {"A": "INVALID_ARGUMENT: months: 2031-01 not held"})
    assert abort_status(refused) == ("INVALID_ARGUMENT", "months: 2031-01 not held")
    dropped = SecureAbort("sum", "stopped at sum", {"A": "UNAVAILABLE: gone", "B": "DEADLINE_EXCEEDED: slow"})
    code, message = abort_status(dropped)
    assert code == "UNAVAILABLE" and "A: UNAVAILABLE: gone" in message
