"""Ward cells and district totals on synthetic data: wards at one cell's sensitivity, totals derived from them."""

from __future__ import annotations

import statistics

import pytest

from coordinator.combine import reconcile_release
from node.engine import NodeEngine
from node.executor import exact_aggregate
from node.query import validate
from privacy.accuracy import noise_variance
from privacy.mechanisms import Mechanism
from protos.lsi.v1 import query_pb2
from tests.county import RunningCounty

REPETITIONS = 150


def crisis_by_ward(rho: float) -> query_pb2.Query:
    return query_pb2.Query(
        query_id="consistency",
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        filters=[query_pb2.Filter(column="resilience", op=query_pb2.Filter.EQ, text="in_crisis")],
        group_by=["ward_code"],
        months=["2025-10"],
        privacy=query_pb2.PrivacyRequest(rho=rho),
    )


def draws(engine: NodeEngine, query: query_pb2.Query) -> tuple[int, list[query_pb2.Release]]:
    """The exact district total and repeated releases through the node's own release path (no ledger)."""
    vq = validate(query, columns=engine.columns, months=engine.months)
    exact = exact_aggregate(engine.frames, vq, engine.columns, engine.wards)
    plans = engine._plan(vq, exact)
    releases = [query_pb2.Release.FromString(engine._draw_unledgered(vq, exact, plans)) for _ in range(REPETITIONS)]
    return exact.counts[-1], releases


def ward_squared_errors(engine: NodeEngine, query: query_pb2.Query) -> list[float]:
    vq = validate(query, columns=engine.columns, months=engine.months)
    exact = exact_aggregate(engine.frames, vq, engine.columns, engine.wards)
    truth = {key.groups: n for key, n in zip(exact.keys, exact.counts, strict=True) if key.level == "group"}
    _, releases = draws(engine, query)
    return [
        (c.value - truth[tuple((k.column, k.value) for k in c.keys[1:])]) ** 2
        for release in releases
        for c in release.cells
        if c.level == query_pb2.Cell.GROUP
    ]


def test_ward_cells_cost_one_cells_sensitivity(county: RunningCounty) -> None:
    # Releasing ward cells alone at rho 0.5: a count's L2 sensitivity is 1, so sigma = 1 (variance ~1). Noising
    # the district total as well would double the squared sensitivity, and so the wards' mean squared error.
    engine = next(iter(county.engines.values()))
    errors = ward_squared_errors(engine, crisis_by_ward(rho=0.5))
    alone = noise_variance(Mechanism.DISCRETE_GAUSSIAN, 1.0)
    assert statistics.mean(errors) / alone < 1.3


def test_a_district_total_is_the_sum_of_its_released_ward_cells_with_their_summed_variance(
    county: RunningCounty,
) -> None:
    engine = next(iter(county.engines.values()))
    _, releases = draws(engine, crisis_by_ward(rho=0.5))
    wards = [c for c in releases[0].cells if c.level == query_pb2.Cell.GROUP]
    (total,) = [c for c in releases[0].cells if c.level == query_pb2.Cell.DISTRICT]
    assert total.post_processed
    assert total.value == sum(c.value for c in wards)
    assert total.variance == pytest.approx(sum(c.variance for c in wards))


def test_reconciled_wards_add_up_to_the_reconciled_district_total(county: RunningCounty) -> None:
    engine = next(iter(county.engines.values()))
    _, releases = draws(engine, crisis_by_ward(rho=0.5))
    cells = reconcile_release(releases[0])
    total = next(c.value for c in cells if c.level == query_pb2.Cell.DISTRICT)
    assert abs(sum(c.value for c in cells if c.level == query_pb2.Cell.GROUP) - total) < 1e-6
