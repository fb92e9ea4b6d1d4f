"""Consistency post-processing on synthetic data: reconciled totals beat summed noisy ward cells."""

from __future__ import annotations

import statistics

from coordinator.combine import reconcile_release
from node.engine import NodeEngine
from node.executor import exact_aggregate
from node.query import validate
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


def squared_errors(exact_total: int, releases: list[query_pb2.Release]) -> tuple[list[float], list[float]]:
    summed, reconciled = [], []
    for release in releases:
        wards = [c.value for c in release.cells if c.level == query_pb2.Cell.GROUP]
        summed.append((sum(wards) - exact_total) ** 2)
        (total,) = [c for c in reconcile_release(release) if c.level == query_pb2.Cell.DISTRICT]
        reconciled.append((total.value - exact_total) ** 2)
    return summed, reconciled


def test_reconciled_district_totals_have_lower_error_than_summed_ward_cells(county: RunningCounty) -> None:
    summed, reconciled = [], []
    for engine in list(county.engines.values())[:4]:
        exact_total, releases = draws(engine, crisis_by_ward(rho=0.5))
        s, r = squared_errors(exact_total, releases)
        summed += s
        reconciled += r
    ratio = statistics.mean(summed) / statistics.mean(reconciled)
    # Ashford alone has 39 wards: summing them adds 39 noise terms; the direct total has one. Expect well over 5x.
    assert ratio > 5, f"MSE of summed wards / MSE of reconciled totals = {ratio:.1f}"


def test_reconciled_wards_add_up_to_the_reconciled_district_total(county: RunningCounty) -> None:
    engine = next(iter(county.engines.values()))
    _, releases = draws(engine, crisis_by_ward(rho=0.5))
    cells = reconcile_release(releases[0])
    total = next(c.value for c in cells if c.level == query_pb2.Cell.DISTRICT)
    assert abs(sum(c.value for c in cells if c.level == query_pb2.Cell.GROUP) - total) < 1e-6
