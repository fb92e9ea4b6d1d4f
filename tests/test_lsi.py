"""Specifications for analysis.lsi (the Living Standards Index)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.lsi import COMPONENTS, Component, area_month_index, index_series, rates_year_breaks
from common.estimates import Estimate

DOC = Path(__file__).resolve().parents[1] / "docs" / "lsi.md"


def component_estimate(c: Component) -> st.SearchStrategy[Estimate]:
    if c.reference is None:
        return st.builds(Estimate, st.floats(0.0, 0.6), st.floats(0.0, 1e-3))
    return st.builds(Estimate, st.floats(-200.0, 600.0), st.floats(0.0, 400.0))


months = st.fixed_dictionaries({c.name: component_estimate(c) for c in COMPONENTS})
component_names = st.sampled_from([c.name for c in COMPONENTS])


def test_component_weights_sum_to_one() -> None:
    assert math.fsum(c.weight for c in COMPONENTS) == pytest.approx(1.0, abs=1e-12)


def test_component_names_are_unique() -> None:
    assert len({c.name for c in COMPONENTS}) == len(COMPONENTS)


def test_every_component_and_weight_is_documented() -> None:
    doc = DOC.read_text()
    for c in COMPONENTS:
        assert f"`{c.name}`" in doc and f"{c.weight:g}" in doc, c.name


@given(months)
def test_same_estimates_as_base_give_exactly_100(month: dict[str, Estimate]) -> None:
    assert area_month_index(month, month).value == 100.0


@given(months, months, st.sampled_from(["2025-04", "2025-05"]))
def test_base_month_of_a_series_is_exactly_100_with_no_noise(
    a: dict[str, Estimate], b: dict[str, Estimate], base: str
) -> None:
    assert index_series({"2025-04": a, "2025-05": b}, base)[base] == Estimate(100.0, 0.0)


@given(months, months, component_names, st.floats(1e-3, 0.3))
def test_worse_component_lowers_the_index(
    cur: dict[str, Estimate], base: dict[str, Estimate], name: str, step: float
) -> None:
    c = next(c for c in COMPONENTS if c.name == name)
    # Move the component in its bad direction by a visible amount (shares by points, £ by pounds).
    delta = step if c.reference is None else step * 100
    moved = dict(cur)
    moved[name] = replace(cur[name], value=cur[name].value + (delta if c.higher_is_worse else -delta))
    assert area_month_index(moved, base).value < area_month_index(cur, base).value


@given(months, months, component_names, st.booleans(), st.floats(1e-4, 1.0))
def test_interval_widens_with_any_input_variance(
    cur: dict[str, Estimate], base: dict[str, Estimate], name: str, in_base: bool, extra: float
) -> None:
    target = base if in_base else cur
    noisier = dict(target)
    noisier[name] = replace(target[name], variance=target[name].variance + extra)
    before = area_month_index(cur, base)
    after = area_month_index(cur, noisier) if in_base else area_month_index(noisier, base)
    assert after.variance > before.variance
    assert after.ci()[1] - after.ci()[0] > before.ci()[1] - before.ci()[0]


@given(months, months)
def test_variance_is_delta_method_over_all_current_and_base_inputs(
    cur: dict[str, Estimate], base: dict[str, Estimate]
) -> None:
    # Independent check: numerical gradient of the index with respect to every input value.
    def value_with(which: dict[str, Estimate], name: str, h: float) -> float:
        bumped = dict(which)
        bumped[name] = replace(which[name], value=which[name].value + h)
        return area_month_index(bumped, base).value if which is cur else area_month_index(cur, bumped).value

    expected = 0.0
    for which in (cur, base):
        for c in COMPONENTS:
            h = 1e-6 if c.reference is None else 1e-3
            grad = (value_with(which, c.name, h) - value_with(which, c.name, -h)) / (2 * h)
            expected += grad**2 * which[c.name].variance
    assert area_month_index(cur, base).variance == pytest.approx(expected, rel=1e-4, abs=1e-9)


@given(months, months, st.sampled_from([c for c in COMPONENTS if c.reference is None]))
def test_a_share_falling_to_zero_moves_the_index_a_bounded_amount(
    cur: dict[str, Estimate], base: dict[str, Estimate], c: Component
) -> None:
    # Stability: the normaliser is the base share *free of* the hardship, so no share near zero blows up.
    zeroed = dict(cur)
    zeroed[c.name] = Estimate(0.0, cur[c.name].variance)
    b = base[c.name].value
    jump = area_month_index(zeroed, base).value - area_month_index(cur, base).value
    assert 0.0 <= jump <= 100 * c.weight * (cur[c.name].value) / (1 - b) + 1e-9


def test_missing_component_is_rejected() -> None:
    month = {c.name: Estimate(0.1, 0.0) for c in COMPONENTS}
    partial = {k: v for k, v in month.items() if k != "fuel_poverty"}
    with pytest.raises(KeyError, match="fuel_poverty"):
        area_month_index(partial, month)


def test_base_share_of_one_is_rejected() -> None:
    month = {c.name: Estimate(0.1, 0.0) for c in COMPONENTS}
    base = dict(month, cash_shortfall=Estimate(1.0, 0.0))
    with pytest.raises(ValueError, match="cash_shortfall"):
        area_month_index(month, base)


def test_series_without_its_base_month_is_rejected() -> None:
    with pytest.raises(KeyError):
        index_series({}, "2025-04")


def test_share_component_must_be_a_hardship() -> None:
    with pytest.raises(ValueError):
        Component("owns_home", 0.1, higher_is_worse=False)


def test_a_new_rates_year_is_marked_as_a_break_each_april() -> None:
    months = ["2024-10", "2025-03", "2025-04", "2025-10", "2026-03", "2026-04"]
    assert rates_year_breaks(months) == ("2025-04", "2026-04")


def test_a_series_within_one_rates_year_has_no_break() -> None:
    assert rates_year_breaks(["2025-04", "2025-05", "2026-03"]) == ()


def _exact_shares(frame) -> dict[str, Estimate]:
    return {
        "cash_shortfall": Estimate(float(frame["cash_shortfall"].mean()), 0.0),
        "households_in_crisis": Estimate(float((frame["resilience"] == "in_crisis").mean()), 0.0),
        "fuel_poverty": Estimate(float(frame["fuel_poverty"].mean()), 0.0),
        "food_poverty": Estimate(float(frame["food_poverty"].mean()), 0.0),
        "water_poverty": Estimate(float(frame["water_poverty"].mean()), 0.0),
        "mean_monthly_surplus": Estimate(float(frame["monthly_surplus"].mean()), 0.0),
    }


def test_households_whose_lives_do_not_change_do_not_move_the_index_across_seasons() -> None:
    # The same records in October, December and the following March (one rates year): winter energy bills
    # are seasonally adjusted, so the index stays exactly 100 (it fell 5.1 points October-December before).
    from node.derive import derive
    from node.synth import generate_district
    from reference.rates import rates_for_month

    frame = generate_district("E07000112", scale=0.1, months=1, end_month="2025-10")["2025-10"]
    series = {m: _exact_shares(derive(frame, rates_for_month(m))) for m in ("2025-10", "2025-12", "2026-03")}
    assert all(e.value == 100.0 for e in index_series(series, "2025-10").values())
