"""Splitting a refresh's rho across its queries: the least-variance split for a weighted sum of Gaussian releases."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.allocation import Input, even_split, optimal_split, split_variance
from analysis.index_refresh import allocation_inputs, index_queries, index_split

positive = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)
inputs_strategy = st.lists(st.tuples(positive, positive), min_size=1, max_size=12).map(
    lambda pairs: [Input(f"q{i}", w, d) for i, (w, d) in enumerate(pairs)]
)
rho_strategy = st.floats(min_value=1e-4, max_value=10.0, allow_nan=False)


@given(inputs_strategy, rho_strategy)
def test_the_optimal_split_spends_exactly_the_total_and_never_more(inputs: list[Input], rho: float) -> None:
    split = optimal_split(inputs, rho)
    assert set(split) == {i.name for i in inputs}
    assert all(v > 0 for v in split.values())
    assert math.fsum(split.values()) <= rho
    assert math.fsum(split.values()) == pytest.approx(rho, rel=1e-12)


@given(inputs_strategy, rho_strategy)
def test_the_optimal_split_is_never_noisier_than_the_even_split(inputs: list[Input], rho: float) -> None:
    best = split_variance(inputs, optimal_split(inputs, rho))
    assert best <= split_variance(inputs, even_split(inputs, rho)) * (1 + 1e-9)


@given(inputs_strategy, rho_strategy, st.data())
def test_no_other_split_of_the_same_rho_beats_the_optimal_one(inputs: list[Input], rho: float, data) -> None:
    raw = data.draw(st.lists(positive, min_size=len(inputs), max_size=len(inputs)))
    other = {i.name: rho * r / math.fsum(raw) for i, r in zip(inputs, raw, strict=True)}
    assert split_variance(inputs, optimal_split(inputs, rho)) <= split_variance(inputs, other) * (1 + 1e-9)


def test_the_optimal_split_gives_rho_in_proportion_to_weight_times_sensitivity() -> None:
    split = optimal_split([Input("a", 1.0, 1.0), Input("b", 0.5, 6.0)], 0.4)
    assert split == {"a": pytest.approx(0.1), "b": pytest.approx(0.3)}


def test_equal_inputs_split_evenly() -> None:
    inputs = [Input(n, 0.3, 2.0) for n in "abc"]
    assert optimal_split(inputs, 0.9) == pytest.approx(even_split(inputs, 0.9))


@pytest.mark.parametrize(
    ("inputs", "rho", "named"),
    [
        ([], 1.0, "no inputs"),
        ([Input("a", 1.0, 1.0)], 0.0, "rho"),
        ([Input("a", 1.0, 1.0)], math.nan, "rho"),
        ([Input("a", 1.0, 1.0), Input("a", 2.0, 1.0)], 1.0, "distinct"),
    ],
)
def test_an_impossible_split_is_refused_naming_the_problem(inputs: list[Input], rho: float, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        optimal_split(inputs, rho)


@pytest.mark.parametrize(("weight", "sensitivity"), [(0.0, 1.0), (1.0, -1.0), (math.inf, 1.0)])
def test_an_input_without_a_positive_weight_and_sensitivity_is_refused(weight: float, sensitivity: float) -> None:
    with pytest.raises(ValueError, match="positive finite"):
        Input("q", weight, sensitivity)


def test_the_index_refresh_spends_its_whole_rho_split_by_weight_times_sensitivity() -> None:
    queries = index_queries("2025-10", rho=0.7)
    assert math.fsum(q.privacy.rho for q in queries) == pytest.approx(0.7)
    assert {q.indicator: q.privacy.rho for q in queries} == index_split(0.7)
    by_name = {q.indicator: q.privacy.rho for q in queries}
    # The money component's clamp makes it the dearest input; the heaviest share outranks the lightest.
    assert by_name["mean_monthly_surplus"] == max(by_name.values())
    assert by_name["cash_shortfall"] > by_name["water_poverty"]


def test_the_index_split_cuts_the_index_variance_by_a_third_against_the_even_split() -> None:
    inputs = allocation_inputs()
    ratio = split_variance(inputs, index_split(1.0)) / split_variance(inputs, even_split(inputs, 1.0))
    assert ratio < 0.7
