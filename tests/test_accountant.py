"""Accountant: plans and charges, every figure from OpenDP's maps and conversions."""

from __future__ import annotations

import dataclasses
import math

import opendp.combinators as dpc
import opendp.domains as dpd
import opendp.measurements as dpm
import opendp.metrics as dpmet
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opendp.mod import enable_features

from privacy.accountant import Charge, epsilon_to_rho, plan_mean, plan_release, rho_to_epsilon
from privacy.accuracy import accuracy
from privacy.mechanisms import Mechanism
from privacy.sensitivity import sensitivity

enable_features("contrib")

LAPLACE, GAUSSIAN = Mechanism.DISCRETE_LAPLACE, Mechanism.DISCRETE_GAUSSIAN
DELTA = 1e-7
COUNT = sensitivity("count", 0, 0, 3, 2)
SUM = sensitivity("sum", 0, 400, 3, 2)


@pytest.mark.parametrize("rho", [1e-4, 0.01, 0.5, 3.0])
def test_rho_to_epsilon_matches_opendp_conversion_of_a_gaussian(rho):
    # A Gaussian whose OpenDP map is rho at d_in = 1, converted by OpenDP directly.
    scale = (1 / (2 * rho)) ** 0.5
    meas = dpm.make_gaussian(dpd.atom_domain(T="f64", nan=False), dpmet.absolute_distance(T="f64"), scale=scale)
    expected = dpc.make_zCDP_to_approxDP(meas).map(1.0).epsilon(delta=DELTA)
    assert rho_to_epsilon(meas.map(1.0), DELTA) == pytest.approx(expected, rel=1e-12)


def test_zero_rho_is_zero_epsilon():
    assert rho_to_epsilon(0.0, DELTA) == 0.0


@settings(max_examples=30, deadline=None)
@given(rho=st.floats(1e-5, 10.0), factor=st.floats(1.01, 3.0))
def test_rho_to_epsilon_increases_with_rho(rho, factor):
    assert rho_to_epsilon(rho * factor, DELTA) > rho_to_epsilon(rho, DELTA)


@pytest.mark.parametrize("epsilon", [0.1, 1.0, 4.0])
def test_epsilon_to_rho_inverts_rho_to_epsilon_without_exceeding(epsilon):
    rho = epsilon_to_rho(epsilon, DELTA)
    assert rho_to_epsilon(rho, DELTA) <= epsilon
    assert rho_to_epsilon(rho, DELTA) == pytest.approx(epsilon, rel=1e-9)


def test_laplace_plan_charges_opendp_pure_to_zcdp_conversion():
    plan = plan_release(LAPLACE, COUNT, epsilon=1.0, delta=DELTA)
    meas = dpm.make_laplace(dpd.vector_domain(dpd.atom_domain(T="i64")), dpmet.l1_distance(T="f64"), scale=plan.scale)
    assert plan.charge.epsilon == meas.map(float(COUNT.l1)) <= 1.0
    assert plan.charge.rho == dpc.make_pureDP_to_zCDP(meas).map(float(COUNT.l1))
    assert plan.charge.rho == pytest.approx(0.5)


def test_gaussian_plan_charges_opendp_map_and_reports_epsilon_at_delta():
    plan = plan_release(GAUSSIAN, SUM, rho=0.02, delta=DELTA)
    meas = dpm.make_gaussian(dpd.vector_domain(dpd.atom_domain(T="i64")), dpmet.l2_distance(T="f64"), scale=plan.scale)
    assert plan.charge.rho == meas.map(SUM.l2) <= 0.02
    assert plan.charge.epsilon == rho_to_epsilon(plan.charge.rho, DELTA)
    assert plan.charge.delta == DELTA


def test_gaussian_plan_for_epsilon_meets_it_at_delta():
    plan = plan_release(GAUSSIAN, COUNT, epsilon=1.5, delta=DELTA)
    assert plan.charge.epsilon <= 1.5
    assert plan.charge.epsilon == pytest.approx(1.5, rel=1e-6)


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_accuracy_plan_meets_the_accuracy(mechanism):
    plan = plan_release(mechanism, COUNT, accuracy=40.0, delta=DELTA)
    assert accuracy(mechanism, plan.scale, 0.05) <= 40.0


def test_plan_records_mechanism_and_sensitivity_for_the_release():
    plan = plan_release(GAUSSIAN, SUM, rho=0.1, delta=DELTA)
    assert (plan.mechanism, plan.sensitivity, plan.charge.scale) == (GAUSSIAN, SUM, plan.scale)


@pytest.mark.parametrize("targets", [{}, {"epsilon": 1.0, "rho": 0.1}, {"rho": 0.1, "accuracy": 5.0}])
def test_exactly_one_target_is_required(targets):
    with pytest.raises(ValueError, match="exactly one"):
        plan_release(LAPLACE, COUNT, delta=DELTA, **targets)


@settings(max_examples=25, deadline=None)
@given(mechanism=st.sampled_from(list(Mechanism)), rho=st.floats(1e-4, 2.0))
def test_mean_plans_split_rho_evenly_and_add_up_to_the_charge(mechanism, rho):
    sum_plan, count_plan = plan_mean(mechanism, SUM, COUNT, rho=rho, delta=DELTA)
    assert sum_plan.charge.rho + count_plan.charge.rho <= rho
    assert sum_plan.charge.rho + count_plan.charge.rho == pytest.approx(rho, rel=1e-9)
    assert sum_plan.charge.rho == pytest.approx(count_plan.charge.rho, rel=1e-9)


def test_laplace_mean_for_epsilon_is_two_releases_at_half_epsilon():
    sum_plan, count_plan = plan_mean(LAPLACE, SUM, COUNT, epsilon=1.0, delta=DELTA)
    # Together epsilon-DP, as asked; in zCDP the two halves cost (1/2)^2/2 each.
    assert sum_plan.charge.epsilon + count_plan.charge.epsilon == pytest.approx(1.0)
    assert sum_plan.charge.rho + count_plan.charge.rho == pytest.approx(0.25)


def test_charge_is_immutable():
    charge = Charge(rho=0.1, epsilon=1.0, delta=DELTA, mechanism="discrete_gaussian", scale=3.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        charge.rho = 0.0  # type: ignore[misc]


def test_an_enormous_rho_still_converts_to_a_finite_epsilon() -> None:
    eps = rho_to_epsilon(1e6, 1e-7)
    assert math.isfinite(eps) and eps > 1e6
