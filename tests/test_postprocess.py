"""Specifications for coordinator.postprocess (weighted-least-squares consistency)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.estimates import Estimate
from coordinator.postprocess import county_total, reconcile

values = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)
pos_variances = st.floats(min_value=1e-2, max_value=1e4)
estimates = st.builds(Estimate, values, pos_variances)
group_maps = st.dictionaries(st.text(min_size=1, max_size=6), estimates, min_size=1, max_size=30)


def objective(x: dict[str, float], groups: dict[str, Estimate], total: Estimate) -> float:
    return (
        math.fsum((x[k] - g.value) ** 2 / g.variance for k, g in groups.items())
        + (math.fsum(x.values()) - total.value) ** 2 / total.variance
    )


@given(group_maps, estimates)
def test_reconciled_groups_add_up_exactly_to_reconciled_total(groups: dict[str, Estimate], total: Estimate) -> None:
    r = reconcile(groups, total)
    assert math.fsum(g.value for g in r.groups.values()) == r.total.value


@given(group_maps, estimates)
def test_reconciled_total_is_inverse_variance_mean_of_group_sum_and_total(
    groups: dict[str, Estimate], total: Estimate
) -> None:
    s = math.fsum(g.value for g in groups.values())
    v = math.fsum(g.variance for g in groups.values())
    expected = (s / v + total.value / total.variance) / (1 / v + 1 / total.variance)
    assert reconcile(groups, total).total.value == pytest.approx(expected, rel=1e-9, abs=1e-6)


@given(group_maps, estimates, st.integers(min_value=0, max_value=29), st.sampled_from([-1e-3, 1e-3]))
def test_reconciliation_minimises_the_weighted_squared_error(
    groups: dict[str, Estimate], total: Estimate, which: int, step: float
) -> None:
    best = {k: e.value for k, e in reconcile(groups, total).groups.items()}
    moved = dict(best)
    key = list(moved)[which % len(moved)]
    moved[key] += step * (1 + abs(moved[key]))
    assert objective(moved, groups, total) >= objective(best, groups, total) * (1 - 1e-12)


@given(group_maps, estimates)
def test_reconciled_variances_equal_the_linear_maps_covariance_diagonal(
    groups: dict[str, Estimate], total: Estimate
) -> None:
    # x = A·[y; t] with A = [I − a·1ᵀ | a], a_g = v_g/(V + v_t): the exact covariance is A·diag(v)·Aᵀ.
    keys = list(groups)
    v = np.array([groups[k].variance for k in keys] + [total.variance])
    a = v[:-1] / v.sum()
    matrix = np.hstack([np.eye(len(keys)) - np.outer(a, np.ones(len(keys))), a[:, None]])
    cov = matrix @ np.diag(v) @ matrix.T
    r = reconcile(groups, total)
    for i, k in enumerate(keys):
        assert r.groups[k].variance == pytest.approx(cov[i, i], rel=1e-9, abs=1e-9)
    assert r.total.variance == pytest.approx(cov.sum(), rel=1e-9, abs=1e-9)


@given(group_maps, estimates)
def test_reconciled_total_is_no_noisier_than_either_input(groups: dict[str, Estimate], total: Estimate) -> None:
    v = math.fsum(g.variance for g in groups.values())
    assert reconcile(groups, total).total.variance <= min(v, total.variance) * (1 + 1e-12)


@given(group_maps, st.floats(min_value=-1e4, max_value=1e4))
def test_public_total_is_kept_and_absorbs_all_disagreement(groups: dict[str, Estimate], t: float) -> None:
    r = reconcile(groups, Estimate(t, 0.0))
    assert r.total.value == pytest.approx(t, rel=1e-9, abs=1e-6)
    assert r.total.variance == 0.0


@given(group_maps)
def test_consistent_inputs_are_left_unchanged(groups: dict[str, Estimate]) -> None:
    s = math.fsum(g.value for g in groups.values())
    r = reconcile(groups, Estimate(s, 5.0))
    for k, g in groups.items():
        assert r.groups[k].value == pytest.approx(g.value, abs=1e-9)


def test_empty_group_set_is_rejected() -> None:
    with pytest.raises(ValueError):
        reconcile({}, Estimate(10.0, 1.0))


def test_contradictory_exact_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        reconcile({"a": Estimate(1.0, 0.0)}, Estimate(2.0, 0.0))


@given(st.dictionaries(st.text(max_size=4), estimates, max_size=12))
def test_county_total_adds_values_and_variances_of_districts(districts: dict[str, Estimate]) -> None:
    c = county_total(districts)
    assert c.value == pytest.approx(math.fsum(d.value for d in districts.values()), abs=1e-6)
    assert c.variance == pytest.approx(math.fsum(d.variance for d in districts.values()))


# --- Simulation with OpenDP noise -------------------------------------------------------------------
# Setup: one real district's ward list (Ashford, the district with most wards), synthetic exact ward
# counts, noisy ward cells and a noisy district total from OpenDP's discrete Laplace, many repetitions.

DISTRICT = "E07000105"
WARD_SCALE = 5.0
TOTAL_SCALE = 5.0
REPS = 1500


def discrete_laplace_variance(scale: float) -> float:
    q = math.exp(-1.0 / scale)
    return 2.0 * q / (1.0 - q) ** 2


@dataclass(frozen=True)
class Simulation:
    truth_total: int
    raw_sums: np.ndarray
    reconciled: list[tuple[Estimate, list[tuple[Estimate, int]]]]


@cache
def simulate() -> Simulation:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    with resources.files("reference").joinpath("packs/kent/wards.csv").open() as f:
        wards = [row for row in csv.DictReader(f) if row["district_code"] == DISTRICT]
    # Synthetic exact counts: any non-negative integers do; ward area gives a realistic spread.
    truth = [round(float(w["area_km2"]) * 10) for w in wards]
    space = (dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"))
    ward_release = space >> dp.m.then_laplace(WARD_SCALE)
    total_release = space >> dp.m.then_laplace(TOTAL_SCALE)
    v_ward, v_total = discrete_laplace_variance(WARD_SCALE), discrete_laplace_variance(TOTAL_SCALE)
    raw_sums, reconciled = [], []
    for _ in range(REPS):
        noisy_wards = ward_release(truth)
        (noisy_total,) = total_release([sum(truth)])
        groups = {w["code"]: Estimate(float(y), v_ward) for w, y in zip(wards, noisy_wards, strict=True)}
        r = reconcile(groups, Estimate(float(noisy_total), v_total))
        raw_sums.append(sum(noisy_wards))
        pairs = [(r.groups[w["code"]], x) for w, x in zip(wards, truth, strict=True)]
        reconciled.append((r.total, pairs))
    return Simulation(sum(truth), np.array(raw_sums, dtype=float), reconciled)


def covered(e: Estimate, truth: float) -> bool:
    low, high = e.ci(0.95)
    return low <= truth <= high


def test_reconciled_district_total_beats_summed_noisy_wards_on_opendp_noise(
    record_property: pytest.RecordProperty,
) -> None:
    sim = simulate()
    mse_raw = float(np.mean((sim.raw_sums - sim.truth_total) ** 2))
    mse_rec = float(np.mean([(t.value - sim.truth_total) ** 2 for t, _ in sim.reconciled]))
    n_wards = len(sim.reconciled[0][1])
    message = (
        f"{n_wards} wards, ward scale {WARD_SCALE}, total scale {TOTAL_SCALE}, {REPS} reps: "
        f"MSE summed wards {mse_raw:.1f}, reconciled {mse_rec:.1f}, ratio {mse_raw / mse_rec:.1f}x"
    )
    print(message)
    record_property("mse_reduction", message)
    assert mse_rec < mse_raw, message


def test_reconciled_total_variance_predicts_its_mse_on_opendp_noise() -> None:
    sim = simulate()
    mse_rec = float(np.mean([(t.value - sim.truth_total) ** 2 for t, _ in sim.reconciled]))
    predicted = sim.reconciled[0][0].variance
    assert 0.8 < mse_rec / predicted < 1.2, f"MSE {mse_rec:.1f} vs predicted variance {predicted:.1f}"


def test_reconciled_total_intervals_cover_about_95_percent_on_opendp_noise() -> None:
    sim = simulate()
    rate = sum(covered(t, sim.truth_total) for t, _ in sim.reconciled) / REPS
    assert 0.90 <= rate <= 0.99, f"coverage {rate:.3f}"


def test_reconciled_ward_intervals_cover_about_95_percent_on_opendp_noise() -> None:
    # Single discrete-Laplace cells are heavier-tailed than normal, so expect ~94%, not exactly 95%.
    sim = simulate()
    hits = [covered(e, x) for _, wards in sim.reconciled for e, x in wards]
    rate = sum(hits) / len(hits)
    assert 0.90 <= rate <= 0.99, f"coverage {rate:.3f}"
