"""Attacks through the real county (gRPC, mutual TLS): what averaging and differencing learn is bounded by the ledger.

Each test runs one district with a small budget: queries at epsilon 0.5 (rho 0.125 each, discrete Laplace).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from node.engine import NodeEngine
from node.executor import exact_aggregate
from node.query import validate
from node.schema import CT_BANDS, EMPLOYMENT, EPC_BANDS, PASSPORTS, SAVINGS_BANDS, TENURES
from privacy.mechanisms import Mechanism, release
from privacy.policy import DEFAULT_MAX_CLAMP_ABS
from privacy.sensitivity import Sensitivity
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import districts
from tests.county import RunningCounty, policy_with, running_county

CODE = districts()[0].code
MONTH = "2025-10"
EPSILON = 0.5
RHO = EPSILON**2 / 2
Op = query_pb2.Filter


def num(column: str, op: int, value: float) -> query_pb2.Filter:
    return query_pb2.Filter(column=column, op=op, number=value)


def every(column: str, values: tuple[str, ...]) -> query_pb2.Filter:
    return query_pb2.Filter(column=column, op=Op.IN, values=list(values))


ON_UC = query_pb2.Filter(column="on_uc", op=Op.EQ, flag=True)


def count(*filters: query_pb2.Filter, indicator: str = "", purpose: str = "attack") -> query_pb2.Query:
    return query_pb2.Query(
        query_id=str(uuid.uuid4()),
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        filters=list(filters),
        months=[MONTH],
        privacy=query_pb2.PrivacyRequest(epsilon=EPSILON),
        purpose=purpose,
        indicator=indicator,
    )


def submit(county: RunningCounty, query: query_pb2.Query) -> coordinator_pb2.FederatedResult:
    return county.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)


def district_cell(result: coordinator_pb2.FederatedResult) -> query_pb2.Cell:
    (cell,) = [c for c in result.cells if c.level == query_pb2.Cell.DISTRICT and c.district_code == CODE]
    return cell


def spent(county: RunningCounty) -> float:
    return county.engines[CODE].store.spent().spent_rho


@pytest.fixture
def small_budget(tmp_path: Path) -> Iterator[RunningCounty]:
    """One district whose whole budget is four queries at epsilon 0.5."""
    with running_county(
        tmp_path, codes=[CODE], months=1, policy=policy_with(total_rho=4 * RHO, per_query_rho=RHO)
    ) as county:
        yield county


# 25 ways of asking "how many households are on Universal Credit?" that the normaliser recognises as one question.
TAUTOLOGIES: list[query_pb2.Query] = [
    count(ON_UC),
    count(ON_UC, indicator="uc_households"),
    count(ON_UC, purpose="a different purpose"),
    count(query_pb2.Filter(column="on_uc", op=Op.NE, flag=False)),
    count(ON_UC, ON_UC),
    count(ON_UC, num("claimant_age", Op.GE, -1)),
    count(num("claimant_age", Op.GE, 16), ON_UC),
    count(ON_UC, num("claimant_age", Op.GT, 15.5)),
    count(ON_UC, num("claimant_age", Op.LE, 110)),
    count(ON_UC, num("claimant_age", Op.LT, 200)),
    count(ON_UC, num("claimant_age", Op.NE, 3)),
    count(ON_UC, num("claimant_age", Op.NE, 40.5)),
    count(ON_UC, num("n_children", Op.GE, 0)),
    count(ON_UC, num("n_children", Op.LE, 12)),
    count(ON_UC, num("n_non_dependants", Op.GE, -5)),
    count(ON_UC, num("earnings_weekly", Op.GE, 0)),
    count(ON_UC, num("earnings_weekly", Op.LE, 5000)),
    count(ON_UC, every("tenure", TENURES)),
    count(ON_UC, every("tenure", tuple(reversed(TENURES)))),
    count(ON_UC, every("epc_band", EPC_BANDS)),
    count(ON_UC, every("council_tax_band", CT_BANDS)),
    count(ON_UC, every("savings_band", SAVINGS_BANDS)),
    count(ON_UC, every("employment_status", EMPLOYMENT)),
    count(ON_UC, every("passported", PASSPORTS), indicator="again"),
    count(num("n_children", Op.GE, -2), ON_UC, num("claimant_age", Op.GE, 0), every("tenure", TENURES)),
]


def test_averaging_25_tautological_variants_gets_one_draw_charged_once(small_budget: RunningCounty) -> None:
    assert len(TAUTOLOGIES) == 25
    results = [submit(small_budget, q) for q in TAUTOLOGIES]
    values = {district_cell(r).value for r in results}
    replayed = [r.districts[0].replayed for r in results]
    assert len(values) == 1  # averaging 25 copies of one draw is that draw
    assert replayed == [False] + [True] * 24
    assert spent(small_budget) == pytest.approx(RHO)


def test_variants_the_normaliser_cannot_merge_are_charged_until_the_budget_refuses(
    small_budget: RunningCounty,
) -> None:
    # A derived column has no range the loader enforces, so "weekly_income > -1000 - k" is a new question each
    # time (to recognise it as a tautology would need the data): each is charged, and the budget runs out.
    outcomes = []
    for k in range(8):
        try:
            submit(small_budget, count(ON_UC, num("weekly_income", Op.GT, -1000.0 - k)))
            outcomes.append("charged")
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
            outcomes.append("refused")
    assert outcomes == ["charged"] * 4 + ["refused"] * 4
    assert spent(small_budget) == pytest.approx(4 * RHO)


def one_household_thresholds(engine: NodeEngine) -> tuple[float, float]:
    """Two incomes with exactly one household between them: filters above each differ by that household."""
    counts = engine.frames[MONTH]["weekly_income"].dropna().value_counts().sort_index()
    i = next(i for i in range(1, len(counts) - 1) if counts.iloc[i] == 1)
    values = counts.index
    return float(values[i - 1] + values[i]) / 2, float(values[i] + values[i + 1]) / 2


def exact_count(engine: NodeEngine, query: query_pb2.Query) -> int:
    vq = validate(query, columns=engine.columns, months=engine.months)
    return exact_aggregate(engine.frames, vq, engine.columns, engine.wards).counts[-1]


def test_differencing_two_filters_one_household_apart_is_charged_twice_and_bounded_by_the_ledger(
    tmp_path: Path,
) -> None:
    with running_county(
        tmp_path, codes=[CODE], months=1, policy=policy_with(total_rho=2 * RHO, per_query_rho=RHO)
    ) as county:
        engine = county.engines[CODE]
        below, above = one_household_thresholds(engine)
        with_target = count(num("weekly_income", Op.GT, below))
        without = count(num("weekly_income", Op.GT, above))
        assert exact_count(engine, with_target) - exact_count(engine, without) == 1
        releases = [submit(county, q) for q in (with_target, without)]
        assert [r.districts[0].replayed for r in releases] == [False, False]
        with pytest.raises(grpc.RpcError) as err:
            submit(county, count(num("weekly_income", Op.GE, below)))  # a third look: over the budget
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert spent(county) == pytest.approx(2 * RHO)
        charged_epsilon = sum(r.districts[0].charge.epsilon for r in releases)
        scale = district_cell(releases[0]).noise_scale
    # Simulate the attack many times with the node's own mechanism at the scale it used: guess the household's
    # bit (in the first filter or not) from the difference of the two noisy counts. No test can beat the
    # e^eps / (1 + e^eps) bound of the total epsilon the ledger charged.
    trials = 20_000
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2, trials)
    noise_a = release([0] * trials, Mechanism.DISCRETE_LAPLACE, scale, Sensitivity(1, 1.0))
    noise_b = release([0] * trials, Mechanism.DISCRETE_LAPLACE, scale, Sensitivity(1, 1.0))
    guesses = (bits + np.array(noise_a) - np.array(noise_b)) >= 0.5
    success = float(np.mean(guesses == bits.astype(bool)))
    bound = math.exp(charged_epsilon) / (1 + math.exp(charged_epsilon))
    slack = 4 * math.sqrt(bound * (1 - bound) / trials)
    assert charged_epsilon == pytest.approx(2 * EPSILON)
    assert 0.5 < success <= bound + slack, (success, bound)


def test_an_overflowing_clamp_is_refused_with_invalid_argument_naming_the_bound(small_budget: RunningCounty) -> None:
    near = 2**63 / 5003
    query = count()
    query.measure.CopyFrom(
        query_pb2.Measure(kind=query_pb2.Measure.SUM, column="earnings_weekly", lower=near - 1, upper=near)
    )
    with pytest.raises(grpc.RpcError) as err:
        submit(small_budget, query)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The policy's clamp limit (max_clamp_abs, by default below the hard MAX_CLAMP_ABS) refuses it first.
    assert "measure.lower" in err.value.details() and f"{DEFAULT_MAX_CLAMP_ABS:,.0f}" in err.value.details()
    assert spent(small_budget) == 0
