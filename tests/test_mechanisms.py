"""OpenDP measurements: charges come from OpenDP's maps, releases from OpenDP's samplers."""

from __future__ import annotations

import math

import numpy as np
import opendp.combinators as dpc
import opendp.domains as dpd
import opendp.measurements as dpm
import opendp.metrics as dpmet
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opendp.mod import enable_features

from privacy.mechanisms import Mechanism, build_measurement, charge_rho, privacy_loss, release, scale_for_loss
from privacy.sensitivity import Sensitivity, sensitivity

enable_features("contrib")

LAPLACE, GAUSSIAN = Mechanism.DISCRETE_LAPLACE, Mechanism.DISCRETE_GAUSSIAN
SENS = sensitivity("sum", 0, 250, 3, 2)


def _independent(mechanism: Mechanism, scale: float):
    """The chain as the OpenDP notes write it, built here independently of privacy.mechanisms."""
    domain = dpd.vector_domain(dpd.atom_domain(T="i64"))
    if mechanism is LAPLACE:
        return (domain, dpmet.l1_distance(T="f64")) >> dpm.then_laplace(scale)
    return (domain, dpmet.l2_distance(T="f64")) >> dpm.then_gaussian(scale)


def test_laplace_charge_matches_opendp_privacy_map():
    scale = 123.0
    eps = _independent(LAPLACE, scale).map(float(SENS.l1))
    assert privacy_loss(LAPLACE, scale, SENS) == eps
    assert charge_rho(LAPLACE, scale, SENS) == dpc.make_pureDP_to_zCDP(_independent(LAPLACE, scale)).map(float(SENS.l1))
    assert charge_rho(LAPLACE, scale, SENS) == pytest.approx(eps**2 / 2)


def test_gaussian_charge_matches_opendp_privacy_map():
    scale = 77.0
    rho = _independent(GAUSSIAN, scale).map(SENS.l2)
    assert privacy_loss(GAUSSIAN, scale, SENS) == rho
    assert charge_rho(GAUSSIAN, scale, SENS) == rho


@settings(max_examples=40, deadline=None)
@given(
    mechanism=st.sampled_from(list(Mechanism)),
    target=st.floats(1e-4, 5.0),
    months=st.integers(1, 12),
    upper=st.integers(1, 5000),
)
def test_scale_for_loss_meets_the_loss_and_is_the_smallest_that_does(mechanism, target, months, upper):
    sens = sensitivity("sum", 0, upper, months, 2)
    scale = scale_for_loss(mechanism, rho=target, sens=sens)
    assert charge_rho(mechanism, scale, sens) <= target
    assert charge_rho(mechanism, scale * (1 - 1e-9), sens) > target


def test_scale_for_epsilon_meets_laplace_epsilon():
    scale = scale_for_loss(LAPLACE, epsilon=0.7, sens=SENS)
    assert privacy_loss(LAPLACE, scale, SENS) <= 0.7
    assert scale == pytest.approx(SENS.l1 / 0.7)


def test_gaussian_scale_for_pure_epsilon_is_refused():
    with pytest.raises(ValueError, match="not pure-DP"):
        scale_for_loss(GAUSSIAN, epsilon=1.0, sens=SENS)


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_release_returns_whole_numbers_one_per_cell(mechanism):
    noisy = release([10, 20, 30], mechanism, 5.0, SENS)
    assert len(noisy) == 3 and all(type(v) is int for v in noisy)


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_release_adds_noise(mechanism):
    exact = [1000] * 200
    assert release(exact, mechanism, 10.0, SENS) != exact


def test_release_accepts_read_only_numpy_int64_arrays():
    values = np.arange(5, dtype=np.int64)
    values.setflags(write=False)
    assert len(release(values, GAUSSIAN, 3.0, SENS)) == 5


def test_release_handles_sums_beyond_32_bits():
    big = 5 * 10**12
    (noisy,) = release([big], LAPLACE, 2.0, SENS)
    assert abs(noisy - big) < 10_000


def test_release_refuses_fractional_pounds_with_advice():
    with pytest.raises(TypeError, match="whole pounds"):
        release([10.5], LAPLACE, 2.0, SENS)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_nonpositive_or_infinite_scales_are_refused(bad):
    with pytest.raises(ValueError, match="scale"):
        build_measurement(LAPLACE, bad, SENS)


def test_zero_sensitivity_is_refused():
    with pytest.raises(ValueError, match="sensitivity"):
        privacy_loss(GAUSSIAN, 1.0, Sensitivity(l1=0, l2=0.0))
