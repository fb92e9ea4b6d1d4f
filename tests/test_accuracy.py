"""Accuracy: intervals cover at their stated level, variances are exact, scales meet targets."""

from __future__ import annotations

import math

import opendp.accuracy as dpa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.accuracy import (
    accuracy,
    half_width,
    interval,
    loss_for_accuracy,
    noise_variance,
    scale_for_accuracy,
)
from privacy.mechanisms import Mechanism, privacy_loss, release
from privacy.sensitivity import sensitivity

LAPLACE, GAUSSIAN = Mechanism.DISCRETE_LAPLACE, Mechanism.DISCRETE_GAUSSIAN
SENS = sensitivity("count", 0, 0, 1, 2)
DRAWS = 16000  # the binomial sd is then 0.17%: every case sits over 5 sd inside 93-97%


# Scales of 10 and more: at small scales integer noise makes coverage jump in steps (at scale 3 the
# Gaussian's choice is 93% or 97%), and the interval then rightly takes the safe step.
@pytest.mark.parametrize("mechanism", list(Mechanism))
@pytest.mark.parametrize("scale", [10.0, 40.0])
def test_95_percent_intervals_cover_between_93_and_97_percent(mechanism, scale):
    truth = 500
    noisy = release([truth] * DRAWS, mechanism, scale, SENS)  # independent OpenDP draws
    covered = sum(lo <= truth <= hi for lo, hi in (interval(v, mechanism, scale, 0.05) for v in noisy))
    assert 0.93 <= covered / DRAWS <= 0.97


def test_half_width_is_the_largest_whole_number_below_opendp_accuracy():
    a = dpa.discrete_laplacian_scale_to_accuracy(10.0, 0.05)
    assert half_width(LAPLACE, 10.0) == math.floor(a) and half_width(LAPLACE, 10.0) < a
    g = dpa.discrete_gaussian_scale_to_accuracy(10.0, 0.05)
    assert half_width(GAUSSIAN, 10.0) < g <= half_width(GAUSSIAN, 10.0) + 1


def test_interval_is_centred_on_the_value():
    low, high = interval(100, GAUSSIAN, 10.0)
    assert (low + high) / 2 == 100 and high > low


def _pmf_variance(log_weight, limit: int) -> float:
    xs = range(-limit, limit + 1)
    w = [math.exp(log_weight(x)) for x in xs]
    return math.fsum(x * x * wi for x, wi in zip(xs, w, strict=True)) / math.fsum(w)


@pytest.mark.parametrize("scale", [0.3, 1.0, 4.0, 25.0])
def test_laplace_variance_matches_the_pmf(scale):
    expected = _pmf_variance(lambda x: -abs(x) / scale, int(60 * scale) + 20)
    assert noise_variance(LAPLACE, scale) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("scale", [0.3, 1.0, 4.0, 25.0])
def test_gaussian_variance_matches_the_pmf(scale):
    expected = _pmf_variance(lambda x: -(x * x) / (2 * scale * scale), int(40 * scale) + 20)
    assert noise_variance(GAUSSIAN, scale) == pytest.approx(expected, rel=1e-9)


def test_small_scale_gaussian_variance_is_below_scale_squared():
    assert noise_variance(GAUSSIAN, 0.3) < 0.3**2


def test_large_scale_gaussian_variance_is_scale_squared():
    assert noise_variance(GAUSSIAN, 400.0) == 400.0**2


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_empirical_variance_agrees_with_noise_variance(mechanism):
    noisy = release([0] * DRAWS, mechanism, 6.0, SENS)
    empirical = sum(v * v for v in noisy) / DRAWS
    assert empirical == pytest.approx(noise_variance(mechanism, 6.0), rel=0.15)


@settings(max_examples=40, deadline=None)
@given(mechanism=st.sampled_from(list(Mechanism)), target=st.floats(2.0, 5000.0), alpha=st.floats(0.01, 0.2))
def test_scale_for_accuracy_meets_the_target(mechanism, target, alpha):
    scale = scale_for_accuracy(mechanism, target, alpha)
    assert accuracy(mechanism, scale, alpha) <= target


def test_scale_for_accuracy_is_opendp_inverse():
    assert scale_for_accuracy(LAPLACE, 30.0) == pytest.approx(dpa.accuracy_to_discrete_laplacian_scale(30.0, 0.05))


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_loss_for_accuracy_is_the_opendp_loss_at_that_scale(mechanism):
    scale, loss = loss_for_accuracy(mechanism, 25.0, SENS)
    assert loss == privacy_loss(mechanism, scale, SENS)


def test_loss_for_accuracy_grows_with_sensitivity():
    _, small = loss_for_accuracy(LAPLACE, 25.0, sensitivity("count", 0, 0, 1, 1))
    _, large = loss_for_accuracy(LAPLACE, 25.0, sensitivity("count", 0, 0, 6, 2))
    assert large == pytest.approx(12 * small)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1])
def test_alpha_outside_zero_one_is_refused(alpha):
    with pytest.raises(ValueError, match="alpha"):
        interval(0, LAPLACE, 1.0, alpha)
