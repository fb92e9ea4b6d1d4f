"""Nothing slow inside the ledger lock: plans, charges' maps and accuracy run before it, for any input."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import opendp.accuracy as dpa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import node.engine as engine_module
import privacy.draw as draw_module
from node.engine import Caller, NodeEngine
from node.loader import load_district
from node.query import MAX_CLAMP_ABS, QueryError
from node.synth import _write_district
from privacy.accuracy import (
    MAX_SCALE,
    OPENDP_GAUSSIAN_SCALE_LIMIT,
    accuracy,
    interval,
    noise_variance,
    scale_for_accuracy,
)
from privacy.audit import AuditSigner
from privacy.ledger import PrivacyStore
from privacy.mechanisms import MIN_LOSS, Mechanism, scale_for_loss
from privacy.sensitivity import Sensitivity
from protos.lsi.v1 import query_pb2
from reference.geography import districts
from tests.county import policy_with

DISTRICT = districts()[0]
MONTH = "2025-10"
CALLER = Caller(name="alice", role="analyst")
GAUSSIAN, LAPLACE = Mechanism.DISCRETE_GAUSSIAN, Mechanism.DISCRETE_LAPLACE


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> NodeEngine:
    root = tmp_path_factory.mktemp("lock")
    _write_district((DISTRICT.code, root / "data", 7, 0.05, 1, MONTH, "csv"))
    policy = policy_with(total_rho=1e6, per_query_rho=1e5)(DISTRICT)
    store = PrivacyStore(root / "state.db", policy, AuditSigner.generate())
    return NodeEngine(DISTRICT.code, load_district(root / "data" / DISTRICT.code, DISTRICT.code), store)


def query(
    qid: str,
    kind: Any = query_pb2.Measure.COUNT,
    *,
    lower: float = 0,
    upper: float = 0,
    group_by: tuple[str, ...] = ("ward_code",),
    **privacy: float,
) -> query_pb2.Query:
    measure = query_pb2.Measure(
        kind=kind, column="" if kind == query_pb2.Measure.COUNT else "earnings_weekly", lower=lower, upper=upper
    )
    return query_pb2.Query(
        query_id=qid,
        measure=measure,
        group_by=list(group_by),
        months=[MONTH],
        privacy=query_pb2.PrivacyRequest(**privacy),
        purpose="lock test",
    )


def outside_the_lock(store: PrivacyStore, fn: Callable[..., Any], calls: list[str]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        assert not store.holding_lock(), f"{fn.__name__} ran inside the ledger's write transaction"
        calls.append(fn.__name__)
        return fn(*args, **kwargs)

    return guarded


@pytest.mark.parametrize(
    "q",
    [
        query("count-rho", rho=0.5),
        query("count-accuracy", target_accuracy=40.0),
        query("sum-gaussian", query_pb2.Measure.SUM, lower=0, upper=500, rho=0.5),
        query("mean-epsilon", query_pb2.Measure.MEAN, lower=0, upper=500, epsilon=1.0),
    ],
    ids=lambda q: q.query_id,
)
def test_no_plan_charge_map_or_accuracy_runs_inside_the_ledger_lock(engine, monkeypatch, q):
    calls: list[str] = []
    for module, name in [
        (engine_module, "plan_release"),
        (engine_module, "plan_mean"),
        (engine_module, "half_width"),
        (engine_module, "noise_variance"),
        (draw_module, "make_charge"),
    ]:
        monkeypatch.setattr(module, name, outside_the_lock(engine.store, getattr(module, name), calls))
    release = engine.answer(q, CALLER)
    assert release.cells and not release.replayed
    assert {"half_width", "noise_variance", "make_charge"} <= set(calls)


def test_the_noise_is_drawn_inside_the_lock_after_the_charge(engine, monkeypatch):
    seen: list[bool] = []
    real = draw_module.release

    def spy(*args: Any, **kwargs: Any) -> list[int]:
        seen.append(engine.store.holding_lock())
        return real(*args, **kwargs)

    monkeypatch.setattr(draw_module, "release", spy)
    engine.answer(query("drawn-in-lock", rho=0.25), CALLER)
    assert seen == [True]


def test_a_loss_of_1e_minus_300_is_refused_with_a_reason_and_charges_nothing(engine):
    spent = engine.store.spent().spent_rho
    with pytest.raises(QueryError, match="loss"):
        engine.answer(query("tiny-loss", rho=1e-300), CALLER)
    assert engine.store.spent().spent_rho == spent


def test_huge_sum_bounds_with_a_tiny_loss_are_refused_before_the_ledger(engine):
    spent = engine.store.spent().spent_rho
    hostile = query("huge-bounds", query_pb2.Measure.SUM, lower=-MAX_CLAMP_ABS, upper=MAX_CLAMP_ABS, rho=1e-24)
    with pytest.raises(QueryError, match="noise"):
        engine.answer(hostile, CALLER)
    assert engine.store.spent().spent_rho == spent


def test_an_absurd_accuracy_target_is_planned_or_refused_not_searched_for_ever(engine):
    with pytest.raises(QueryError):
        engine.answer(query("absurd-accuracy", target_accuracy=1e300), CALLER)


def test_a_huge_but_allowed_noise_scale_is_answered_with_finite_intervals(engine):
    release = engine.answer(
        query("huge-scale", query_pb2.Measure.SUM, lower=0, upper=MAX_CLAMP_ABS, rho=1e-9, group_by=()), CALLER
    )
    assert all(math.isfinite(c.ci_low) and math.isfinite(c.ci_high) and c.ci_high > c.ci_low for c in release.cells)
    assert engine.store.db.longest_write_hold >= 0.0  # recorded (benchmarks report it; no timing asserted here)


@settings(max_examples=15, deadline=None)
@given(
    scale=st.floats(OPENDP_GAUSSIAN_SCALE_LIMIT * 1.0001, OPENDP_GAUSSIAN_SCALE_LIMIT * 3),
    alpha=st.sampled_from([0.05, 0.025, 0.01]),
)
def test_the_closed_form_gaussian_accuracy_never_understates_opendps(scale, alpha):
    exact = float(dpa.discrete_gaussian_scale_to_accuracy(scale, alpha))
    bound = accuracy(GAUSSIAN, scale, alpha)
    assert exact <= bound <= exact * 1.002


@pytest.mark.parametrize("mechanism", [GAUSSIAN, LAPLACE])
def test_accuracy_interval_and_variance_are_finite_at_the_largest_scale(mechanism):
    low, high = interval(0, mechanism, MAX_SCALE / 2)
    assert math.isfinite(low) and math.isfinite(high) and high > 0
    assert math.isfinite(noise_variance(mechanism, 1e17)) and noise_variance(mechanism, 1e17) > 0


def test_laplace_variance_past_1e16_does_not_divide_by_zero():
    assert noise_variance(LAPLACE, 1e17) == pytest.approx(2 * 1e17**2, rel=1e-6)


@pytest.mark.parametrize("mechanism", [GAUSSIAN, LAPLACE])
def test_a_scale_above_the_library_limit_is_refused(mechanism):
    with pytest.raises(ValueError, match="largest"):
        accuracy(mechanism, MAX_SCALE * 2)


def test_scale_for_a_large_gaussian_accuracy_is_found_in_bounded_steps():
    scale = scale_for_accuracy(GAUSSIAN, 1e15)
    assert accuracy(GAUSSIAN, scale) <= 1e15 and scale > 1e14


def test_a_loss_below_the_floor_is_refused_before_any_scale_search():
    with pytest.raises(ValueError, match="smallest"):
        scale_for_loss(GAUSSIAN, rho=MIN_LOSS / 10, sens=Sensitivity(l1=1, l2=1.0))
