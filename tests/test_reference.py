"""Reference geography and rates: the public facts every other module builds on."""

from __future__ import annotations

import csv

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import geography
from reference.rates import RatesError, load_rates, rates_for_month, tax_year_of

REF = geography.BUILTIN_PACK
MEDWAY = "E06000035"  # a unitary council the Kent pack draws for context only
KENT_WARDS_2025 = {
    "E07000105": 39, "E07000106": 21, "E07000107": 20, "E07000108": 17, "E07000109": 17, "E07000110": 22,
    "E07000111": 26, "E07000112": 13, "E07000113": 24, "E07000114": 23, "E07000115": 19, "E07000116": 14,
}  # fmt: skip


def test_there_are_twelve_districts_in_ons_code_order_without_medway():
    codes = [d.code for d in geography.districts()]
    assert len(codes) == 12
    assert codes == sorted(codes)
    assert MEDWAY not in codes


def test_district_figures_match_the_reference_table():
    ashford = geography.district("E07000105")
    assert (ashford.name, ashford.population, ashford.dwellings, ashford.uc_households) == (
        "Ashford",
        132600,
        59350,
        11692,
    )


def test_public_household_denominator_is_dwellings():
    thanet = geography.district("E07000114")
    assert thanet.households == thanet.dwellings == 70010


def test_unknown_district_names_the_known_codes():
    with pytest.raises(KeyError, match="E07000116 \\(Tunbridge Wells\\)"):
        geography.district("E07999999")


def test_medway_is_rejected_with_an_explanation():
    with pytest.raises(KeyError, match="unitary"):
        geography.district("E06000035")


@pytest.mark.parametrize("d", geography.districts(), ids=lambda d: d.name)
def test_ward_count_matches_the_2025_ward_total(d):
    assert len(geography.wards(d.code)) == KENT_WARDS_2025[d.code]


def test_wards_are_sorted_by_code_and_belong_to_their_district():
    wards = geography.wards("E07000106")
    assert [w.code for w in wards] == sorted(w.code for w in wards)
    assert {w.district_code for w in wards} == {"E07000106"}


def test_all_wards_cover_the_twelve_districts_only():
    with (REF / "wards.csv").open() as f:
        kent = [r for r in csv.DictReader(f) if r["district_code"] != MEDWAY]
    assert len(geography.all_wards()) == len(kent)
    assert MEDWAY not in {w.district_code for w in geography.all_wards()}


@given(st.integers(2000, 2100), st.integers(1, 12))
def test_tax_year_starts_in_april(year, month):
    start = year if month >= 4 else year - 1
    assert tax_year_of(f"{year}-{month:02d}") == f"{start}-{(start + 1) % 100:02d}"


def test_march_and_april_fall_in_different_tax_years():
    assert rates_for_month("2025-03").tax_year == "2024-25"
    assert rates_for_month("2025-04").tax_year == "2025-26"


def test_2024_25_rates_are_the_published_dwp_figures():
    r = load_rates("2024-25")
    assert (r.pc_guarantee_single_weekly, r.pc_guarantee_couple_weekly) == (218.15, 332.95)
    assert (r.pc_savings_credit_max_single_weekly, r.pc_savings_credit_max_couple_weekly) == (17.01, 19.04)
    assert (r.attendance_allowance_higher_weekly, r.attendance_allowance_lower_weekly) == (108.55, 72.65)
    assert r.uc_standard_single_under25_monthly == 311.68
    assert r.uc_standard_couple_25plus_monthly == 617.60
    assert (r.uc_child_first_pre2017_monthly, r.uc_child_monthly) == (333.33, 287.92)
    assert (r.uc_lcwra_monthly, r.uc_carer_monthly) == (416.19, 198.31)
    assert (r.uc_work_allowance_with_housing_monthly, r.uc_work_allowance_without_housing_monthly) == (404, 673)


def test_2025_26_rates_match_the_reference_notes():
    r = load_rates("2025-26")
    assert (r.pc_guarantee_single_weekly, r.pc_guarantee_couple_weekly) == (227.10, 346.60)
    assert r.uc_standard_single_25plus_monthly == 400.14
    assert r.fsm_uc_net_earnings_threshold_annual == 7400
    assert r.council_tax_band_d_annual == 2244.84
    assert r.water_annual_bill == 703
    assert r.council_tax_ratio("A") == pytest.approx(6 / 9)
    assert r.council_tax_ratio("H") == pytest.approx(18 / 9)


def test_2026_27_is_marked_partial_and_carries_the_published_guarantee():
    r = load_rates("2026-27")
    assert r.partial and not load_rates("2025-26").partial
    assert (r.pc_guarantee_single_weekly, r.pc_guarantee_couple_weekly) == (238.00, 363.25)


@pytest.mark.parametrize("year", ["2024-25", "2025-26", "2026-27"])
def test_seasonal_energy_factors_average_to_one(year):
    assert sum(load_rates(year).energy_monthly_factor) == pytest.approx(12.0)


def test_winter_energy_costs_more_than_summer():
    assert rates_for_month("2025-01").energy_season_factor > rates_for_month("2025-07").energy_season_factor


def test_energy_bill_rises_with_worse_epc_band_and_bigger_household():
    r = load_rates("2025-26")
    assert r.energy_annual(2, "G") > r.energy_annual(2, "D") > r.energy_annual(2, "B")
    assert r.energy_annual(4, "D") > r.energy_annual(1, "D")
    assert r.energy_annual(9, "D") == r.energy_annual(5, "D")  # five or more share the top factor


def test_missing_tax_year_names_the_files_available():
    with pytest.raises(RatesError, match="available: 2024-25, 2025-26, 2026-27"):
        rates_for_month("2019-06")


def test_malformed_month_is_rejected():
    with pytest.raises(RatesError, match="YYYY-MM"):
        rates_for_month("2025-13")


def test_reference_wards_are_the_twelve_districts_wards_plus_medways() -> None:
    every = geography.reference_wards()
    outside = {w.district_code for w in every} - {d.code for d in geography.districts()}
    assert outside == {MEDWAY}
    assert sorted(w.code for w in every if w.district_code != MEDWAY) == sorted(w.code for w in geography.all_wards())


def test_every_reference_ward_has_an_outline_in_the_same_order() -> None:
    outlines = geography.ward_outlines()
    assert [o.code for o in outlines] == [w.code for w in geography.reference_wards()]
    assert all(o.rings and all(len(r) >= 4 and r[0] == r[-1] for r in o.rings) for o in outlines)
