"""Specifications for common.estimates."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.estimates import Estimate, add, difference, exact, ratio, scale, z_value

values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
variances = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
estimates = st.builds(Estimate, values, variances)


def test_ci_at_95_percent_is_value_plus_minus_1_96_sd() -> None:
    low, high = Estimate(10.0, 4.0).ci()
    assert low == pytest.approx(10.0 - 1.959964 * 2.0, abs=1e-5)
    assert high == pytest.approx(10.0 + 1.959964 * 2.0, abs=1e-5)


@given(estimates, st.floats(min_value=0.5, max_value=0.98))
def test_ci_widens_with_confidence_level(e: Estimate, level: float) -> None:
    low1, high1 = e.ci(level)
    low2, high2 = e.ci(level + 0.01)
    assert low2 <= low1 and high2 >= high1


def test_public_number_has_a_zero_width_interval() -> None:
    assert exact(648_300).ci() == (648_300.0, 648_300.0)


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 1.5])
def test_confidence_level_outside_open_unit_interval_is_rejected(level: float) -> None:
    with pytest.raises(ValueError):
        z_value(level)


@pytest.mark.parametrize("variance", [-1.0, math.nan, math.inf])
def test_invalid_variance_is_rejected(variance: float) -> None:
    with pytest.raises(ValueError):
        Estimate(1.0, variance)


def test_estimate_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Estimate(1.0, 1.0).value = 2.0  # type: ignore[misc]


@given(estimates, estimates)
def test_add_sums_values_and_variances(a: Estimate, b: Estimate) -> None:
    s = add(a, b)
    assert s.value == pytest.approx(a.value + b.value)
    assert s.variance == pytest.approx(a.variance + b.variance)


@given(estimates, estimates)
def test_difference_subtracts_values_and_adds_variances(a: Estimate, b: Estimate) -> None:
    d = difference(a, b)
    assert d.value == pytest.approx(a.value - b.value)
    assert d.variance == pytest.approx(a.variance + b.variance)


@given(estimates, st.floats(min_value=-1e3, max_value=1e3, allow_nan=False))
def test_scale_multiplies_variance_by_square_of_constant(e: Estimate, k: float) -> None:
    s = scale(e, k)
    assert s.value == pytest.approx(e.value * k)
    assert s.variance == pytest.approx(e.variance * k * k)


@given(estimates, st.floats(min_value=1.0, max_value=1e6))
def test_ratio_over_public_denominator_has_exact_variance(num: Estimate, den: float) -> None:
    r = ratio(num, exact(den))
    assert r.value == pytest.approx(num.value / den)
    assert r.variance == pytest.approx(num.variance / den**2)


@given(
    st.floats(min_value=1.0, max_value=1e5),
    st.floats(min_value=0.0, max_value=1e3),
    st.floats(min_value=10.0, max_value=1e5),
    st.floats(min_value=0.0, max_value=1e3),
)
def test_ratio_variance_is_the_delta_method_gradient_form(n: float, vn: float, d: float, vd: float) -> None:
    # Gradient of n/d is (1/d, −n/d²); with independent noise var = vn/d² + vd·n²/d⁴.
    r = ratio(Estimate(n, vn), Estimate(d, vd))
    assert r.variance == pytest.approx(vn / d**2 + vd * n**2 / d**4, rel=1e-9)


def test_ratio_with_zero_denominator_is_rejected() -> None:
    with pytest.raises(ValueError):
        ratio(Estimate(1.0, 1.0), Estimate(0.0, 1.0))
