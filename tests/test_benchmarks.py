"""Specifications for analysis.benchmarks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.benchmarks import RankRange, change, ordinal, per_thousand, rank_ranges, vs_county
from common.estimates import Estimate

estimates = st.builds(Estimate, st.floats(min_value=0, max_value=500), st.floats(min_value=0.0, max_value=400.0))
area_maps = st.dictionaries(st.text(min_size=1, max_size=5), estimates, min_size=1, max_size=14)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (101, "101st"),
        (111, "111th"),
        (112, "112th"),
    ],
)
def test_ordinal_suffixes_follow_english_including_teens(n: int, text: str) -> None:
    assert ordinal(n) == text


def test_certain_rank_label_is_a_single_ordinal() -> None:
    assert RankRange(point=1, best=1, worst=1).label == "1st"


def test_uncertain_rank_label_is_a_range_with_en_dash() -> None:
    assert RankRange(point=3, best=2, worst=12).label == "2nd–12th"


def test_per_thousand_divides_by_public_households() -> None:
    r = per_thousand(Estimate(120.0, 16.0), 60_000)
    assert r.value == pytest.approx(2.0)
    assert r.variance == pytest.approx(16.0 / 60**2)


def test_per_thousand_rejects_non_positive_household_count() -> None:
    with pytest.raises(ValueError):
        per_thousand(Estimate(1.0, 1.0), 0)


@given(area_maps, st.booleans())
def test_point_rank_lies_within_its_rank_range(areas: dict[str, Estimate], higher_is_worse: bool) -> None:
    for r in rank_ranges(areas, higher_is_worse=higher_is_worse).values():
        assert 1 <= r.best <= r.point <= r.worst <= len(areas)


@given(area_maps)
def test_point_ranks_are_a_permutation(areas: dict[str, Estimate]) -> None:
    assert sorted(r.point for r in rank_ranges(areas).values()) == list(range(1, len(areas) + 1))


@given(area_maps)
def test_higher_confidence_never_narrows_rank_ranges(areas: dict[str, Estimate]) -> None:
    narrow, wide = rank_ranges(areas, level=0.8), rank_ranges(areas, level=0.99)
    for k in areas:
        assert wide[k].best <= narrow[k].best and wide[k].worst >= narrow[k].worst


def test_well_separated_areas_get_certain_ranks_with_highest_value_first() -> None:
    ranks = rank_ranges({"a": Estimate(10, 1), "b": Estimate(50, 1), "c": Estimate(30, 1)})
    assert {k: r.label for k, r in ranks.items()} == {"b": "1st", "c": "2nd", "a": "3rd"}


def test_lower_is_worse_puts_lowest_value_first() -> None:
    ranks = rank_ranges({"a": Estimate(10, 1), "b": Estimate(50, 1)}, higher_is_worse=False)
    assert (ranks["a"].point, ranks["b"].point) == (1, 2)


def test_overlapping_intervals_leave_every_rank_open() -> None:
    ranks = rank_ranges({"a": Estimate(10, 100), "b": Estimate(11, 100), "c": Estimate(12, 100)})
    assert all((r.best, r.worst) == (1, 3) for r in ranks.values())


def test_tied_values_are_ranked_by_key_for_determinism() -> None:
    ranks = rank_ranges({"z": Estimate(5, 0), "a": Estimate(5, 0)})
    assert (ranks["a"].point, ranks["z"].point) == (1, 2)


@given(estimates, estimates)
def test_change_is_current_minus_previous_with_added_variance(cur: Estimate, prev: Estimate) -> None:
    c = change(cur, prev)
    assert c.value == pytest.approx(cur.value - prev.value)
    assert c.variance == pytest.approx(cur.variance + prev.variance)


@given(estimates, estimates, st.floats(min_value=0.0, max_value=1.0))
def test_vs_county_variance_accounts_for_district_inside_county(district: Estimate, rest: Estimate, w: float) -> None:
    # county = w·district + (1 − w)·rest, so district − county = (1 − w)(district − rest).
    county = Estimate(
        w * district.value + (1 - w) * rest.value, w * w * district.variance + (1 - w) ** 2 * rest.variance
    )
    gap = vs_county(district, county, district_weight=w)
    assert gap.value == pytest.approx((1 - w) * (district.value - rest.value), abs=1e-6)
    assert gap.variance == pytest.approx((1 - w) ** 2 * (district.variance + rest.variance), abs=1e-6)


@given(estimates, estimates)
def test_vs_county_default_treats_rates_as_independent(district: Estimate, county: Estimate) -> None:
    assert vs_county(district, county).variance == pytest.approx(district.variance + county.variance)
