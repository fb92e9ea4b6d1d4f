"""Sensitivity: the one derivation, checked against OpenDP's own transformations and brute force."""

from __future__ import annotations

import math

import opendp.combinators as dpc
import opendp.domains as dpd
import opendp.measurements as dpm
import opendp.metrics as dpmet
import opendp.transformations as dpt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opendp.mod import enable_features

from privacy.sensitivity import sensitivity

enable_features("contrib")

WARDS = ["A", "B", "C"]


def _aggregate(rows, months, measure, lower, upper, *, per_month: bool, with_total: bool) -> list[int]:
    """The node's aggregation, written independently: clamp, round to whole pounds, sum per cell."""
    cells: dict[tuple, int] = {}
    keys = [(m, w) for m in months for w in WARDS + (["TOTAL"] if with_total else [])]
    if not per_month:
        keys = [(None, w) for w in WARDS + (["TOTAL"] if with_total else [])]
    for k in keys:
        cells[k] = 0
    for _household, month, ward, value in rows:
        v = 1 if measure == "count" else round(min(max(value, lower), upper))
        m = month if per_month else None
        cells[(m, ward)] += v
        if with_total:
            cells[(m, "TOTAL")] += v
    return [cells[k] for k in keys]


def _distance(a: list[int], b: list[int]) -> tuple[int, float]:
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    return sum(abs(d) for d in diffs), math.sqrt(sum(d * d for d in diffs))


def test_count_l1_matches_opendp_count_by_categories():
    k = 6  # months: one household contributes six rows
    t = dpt.make_count_by_categories(
        dpd.vector_domain(dpd.atom_domain(T=str)),
        dpmet.symmetric_distance(),
        categories=WARDS,
        null_category=False,
    )
    assert sensitivity("count", 0, 0, k, 1).l1 == t.map(k)


@pytest.mark.parametrize(("lower", "upper"), [(0, 250), (-40, 10), (-300, 300)])
def test_sum_l1_matches_opendp_clamp_then_sum(lower, upper):
    k = 4
    t = (
        dpt.make_clamp(dpd.vector_domain(dpd.atom_domain(T="i64")), dpmet.symmetric_distance(), bounds=(lower, upper))
        >> dpt.then_sum()
    )
    assert sensitivity("sum", lower, upper, k, 1).l1 == t.map(k)


def test_pooled_l2_never_exceeds_opendp_generic_l2_bound():
    # OpenDP's L2 map for counts assumes all of a household's rows may land in one cell; with the total cell
    # counted as extra rows, its bound must dominate ours.
    k, cells = 5, 2
    t = dpt.make_count_by_categories(
        dpd.vector_domain(dpd.atom_domain(T=str)),
        dpmet.symmetric_distance(),
        categories=WARDS + ["TOTAL"],
        null_category=False,
        MO=dpmet.L2Distance[int],
    )
    assert sensitivity("count", 0, 0, k, cells).l2 <= t.map(k * cells)


def test_per_month_l2_matches_opendp_composition_of_monthly_releases():
    k, cells, c, scale = 6, 2, 250, 40.0
    space = dpd.vector_domain(dpd.atom_domain(T="i64")), dpmet.l2_distance(T="f64")
    monthly = dpm.make_gaussian(*space, scale=scale)
    month_rho = monthly.map(math.sqrt(cells) * c)
    composed = dpc.make_composition([monthly] * k).map(math.sqrt(cells) * c)
    whole = dpm.make_gaussian(*space, scale=scale).map(
        sensitivity("sum", 0, c, k, cells, months_in_separate_cells=True).l2
    )
    assert composed == pytest.approx(k * month_rho)
    assert whole == pytest.approx(composed, rel=1e-12)


def test_fractional_bound_rounds_up_to_next_whole_pound():
    assert sensitivity("sum", 0, 99.5, 1, 1).l1 == 100


def test_l2_is_never_below_the_true_square_root():
    s = sensitivity("count", 0, 0, 3, 2, months_in_separate_cells=True)
    assert s.l2 * s.l2 >= 6


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("sum", 10, 0, 1, 1), "reversed"),
        (("sum", 0, 0, 1, 1), "[0, 0]"),
        (("count", 0, 0, 0, 1), "contributions"),
        (("count", 0, 0, 1, 0), "cells_per_contribution"),
        (("sum", 0, math.inf, 1, 1), "finite"),
    ],
)
def test_invalid_arguments_are_refused_with_a_reason(args, fragment):
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        sensitivity(*args)


household_rows = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 2), st.sampled_from(WARDS), st.floats(-500, 500)),
    max_size=25,
)


@settings(max_examples=80, deadline=None)
@given(
    rows=household_rows,
    measure=st.sampled_from(["count", "sum"]),
    bounds=st.tuples(st.integers(-300, 0), st.integers(1, 300)),
    per_month=st.booleans(),
    with_total=st.booleans(),
    victim=st.integers(0, 5),
)
def test_removing_any_household_moves_the_vector_within_the_sensitivity(
    rows, measure, bounds, per_month, with_total, victim
):
    months = [0, 1, 2]
    # One row per household per month, as in the node's snapshots.
    seen, data = set(), []
    for h, m, w, v in rows:
        if (h, m) not in seen:
            seen.add((h, m))
            data.append((h, m, w, v))
    lower, upper = bounds
    full = _aggregate(data, months, measure, lower, upper, per_month=per_month, with_total=with_total)
    without = [r for r in data if r[0] != victim]
    neighbour = _aggregate(without, months, measure, lower, upper, per_month=per_month, with_total=with_total)
    l1, l2 = _distance(full, neighbour)
    s = sensitivity(measure, lower, upper, len(months), 2 if with_total else 1, months_in_separate_cells=per_month)
    assert l1 <= s.l1
    assert l2 <= s.l2 + 1e-9


@pytest.mark.parametrize("per_month", [True, False])
def test_worst_case_household_attains_the_bound(per_month):
    months, lower, upper = [0, 1, 2], -20, 100
    victim = [(0, m, "A", 1000.0) for m in months]  # same ward every month, value above the clamp
    full = _aggregate(victim, months, "sum", lower, upper, per_month=per_month, with_total=True)
    empty = _aggregate([], months, "sum", lower, upper, per_month=per_month, with_total=True)
    l1, l2 = _distance(full, empty)
    s = sensitivity("sum", lower, upper, 3, 2, months_in_separate_cells=per_month)
    assert (l1, l2) == (s.l1, pytest.approx(s.l2))
