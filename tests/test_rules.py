"""Worked examples for each household rule, using the 2025-26 rates (rates read from the TOML file)."""

from __future__ import annotations

import math

import pytest

from node import rules
from reference.rates import load_rates, rates_for_month

R = load_rates("2025-26")


def test_weekly_income_adds_every_type_and_converts_uc_monthly_to_weekly():
    income = rules.weekly_income(100, 50, 25, 10, 26.05, 73.90, 83.30, 433.33, 40)
    assert income == pytest.approx(100 + 50 + 25 + 10 + 26.05 + 73.90 + 83.30 + 433.33 * 12 / 52 + 40)


def test_zero_income_household_has_zero_weekly_income():
    assert rules.weekly_income(0, 0, 0, 0, 0, 0, 0, 0, 0) == 0


def test_household_size_counts_claimant_partner_children_and_non_dependants():
    assert rules.household_size(True, 2, 1) == 5
    assert rules.household_size(False, 0, 0) == 1


def test_single_person_is_pension_age_from_state_pension_age():
    assert rules.is_pension_age(66, None, False, False, 66)
    assert not rules.is_pension_age(65, None, False, False, 66)


def test_mixed_age_couple_on_uc_is_not_pension_age():
    assert not rules.is_pension_age(70, 64, on_hb=False, on_uc=True, state_pension_age=66)


def test_mixed_age_couple_still_on_housing_benefit_is_protected():
    assert rules.is_pension_age(70, 64, on_hb=True, on_uc=False, state_pension_age=66)


def test_couple_both_over_pension_age_is_pension_age():
    assert rules.is_pension_age(70, 68, on_hb=False, on_uc=False, state_pension_age=66)


def test_nan_partner_age_means_single():
    assert rules.is_pension_age(70, math.nan, False, False, 66)


def test_unclaimed_pension_credit_is_the_weekly_gap_times_52():
    income = rules.pc_assessable_income_weekly(0, 180.00, 20.00, 0, 0, "under_6k", R)
    gap = rules.pc_unclaimed_gap_weekly(True, income, rules.pc_guarantee_weekly(False, R), "none", "under_6k")
    assert gap == pytest.approx(227.10 - 200.00)
    assert rules.pc_unclaimed_annual(gap) == pytest.approx(27.10 * 52)


def test_couple_gap_uses_the_couple_guarantee():
    gap = rules.pc_unclaimed_gap_weekly(True, 300.0, rules.pc_guarantee_weekly(True, R), "none", "under_6k")
    assert gap == pytest.approx(346.60 - 300.0)


def test_zero_income_pensioner_misses_the_whole_guarantee():
    income = rules.pc_assessable_income_weekly(0, 0, 0, 0, 0, "under_6k", R)
    assert rules.pc_unclaimed_gap_weekly(True, income, 227.10, "none", "under_6k") == pytest.approx(227.10)


def test_disability_benefits_do_not_count_towards_pension_credit_income():
    # Attendance Allowance is not an argument of the assessable income: it cannot close the gap.
    income = rules.pc_assessable_income_weekly(0, 200, 0, 0, 0, "under_6k", R)
    assert income == 200


def test_savings_between_6k_and_16k_add_tariff_income():
    income = rules.pc_assessable_income_weekly(0, 200, 0, 0, 0, "6k_to_16k", R)
    assert income == pytest.approx(200 + R.pc_tariff_income_6k_to_16k_weekly)


def test_savings_over_16k_are_not_counted_as_unclaimed():
    assert rules.pc_unclaimed_gap_weekly(True, 150.0, 227.10, "none", "over_16k") == 0


def test_households_already_on_the_guarantee_are_not_unclaimed():
    assert rules.pc_unclaimed_gap_weekly(True, 150.0, 227.10, "pension_credit_guarantee", "under_6k") == 0


def test_working_age_household_is_never_unclaimed_pension_credit():
    assert rules.pc_unclaimed_gap_weekly(False, 50.0, 227.10, "none", "under_6k") == 0


def test_income_above_guarantee_has_no_gap():
    assert rules.pc_unclaimed_gap_weekly(True, 230.0, 227.10, "none", "under_6k") == 0


def test_housing_cost_converts_weekly_rent_to_monthly():
    assert rules.housing_cost_monthly(120.0, 0.0) == pytest.approx(120 * 52 / 12)


def test_missing_rent_is_taken_as_the_housing_benefit_award():
    assert rules.housing_cost_monthly(None, 95.0) == pytest.approx(95 * 52 / 12)
    assert rules.housing_cost_monthly(math.nan, 0.0) == 0


def test_council_tax_net_of_support_never_goes_negative():
    assert rules.council_tax_net_monthly(1800, 600) == pytest.approx(100)
    assert rules.council_tax_net_monthly(1000, 1200) == 0


def test_food_and_other_essentials_scale_with_composition():
    assert rules.food_budget_monthly(True, 2, 0, R) == pytest.approx(200 + 150 + 2 * 110)
    assert rules.other_essentials_monthly(False, 0, 1, R) == pytest.approx(170 + 80)


def test_energy_for_the_month_follows_the_season():
    jan, jul = rates_for_month("2026-01"), rates_for_month("2025-07")
    assert rules.energy_monthly(2, "D", jan) == pytest.approx(1785 * 0.92 / 12 * 1.55)
    assert rules.energy_monthly(2, "D", jul) < rules.energy_monthly(2, "D", jan)


def test_monthly_surplus_subtracts_housing_council_tax_and_essentials():
    assert rules.monthly_surplus(300.0, 500.0, 100.0, 600.0) == pytest.approx(1300 - 1200)


@pytest.mark.parametrize(
    ("surplus", "ct_arrears", "rent_arrears", "expected"),
    [
        (-1.0, 50.0, 0.0, "in_crisis"),
        (-1.0, 0.0, 200.0, "in_crisis"),
        (-1.0, 0.0, 0.0, "at_risk"),
        (0.0, 500.0, 0.0, "struggling"),
        (99.99, 0.0, 0.0, "struggling"),
        (100.0, 0.0, 0.0, "coping"),
    ],
)
def test_resilience_category(surplus, ct_arrears, rent_arrears, expected):
    assert rules.resilience(surplus, ct_arrears, rent_arrears) == expected


def test_cash_shortfall_is_a_negative_surplus():
    assert rules.cash_shortfall(-0.01) and not rules.cash_shortfall(0.0)


def test_equivalence_factor_is_one_for_a_couple_without_children():
    assert rules.equivalence_factor(True, 0, 0, R) == pytest.approx(1.0)
    assert rules.equivalence_factor(False, 2, 0, R) == pytest.approx(0.67 + 0.4)


def test_efficient_home_is_never_fuel_poor():
    assert not rules.is_fuel_poor("C", 0.0, 0.0, 1000.0, 1.0, R)


def test_inefficient_low_income_home_is_fuel_poor():
    # couple, £450 a week, rent £100 a week, energy £1,800 a year: 450 - 100 - 34.6 = 315 < £384
    assert rules.is_fuel_poor("E", 450.0, 100 * 52 / 12, 1800.0, 1.0, R)


def test_inefficient_home_with_enough_income_is_not_fuel_poor():
    assert not rules.is_fuel_poor("E", 600.0, 100 * 52 / 12, 1800.0, 1.0, R)


def test_water_poverty_threshold_is_five_percent_of_income_after_housing():
    # £703 bill: poor below £14,060 a year after housing = £270.38 a week
    assert rules.is_water_poor(270.0, 0.0, R)
    assert not rules.is_water_poor(271.0, 0.0, R)


def test_income_below_housing_costs_is_water_poor():
    assert rules.is_water_poor(100.0, 1000.0, R)


def test_food_poverty_when_money_left_is_below_the_food_budget():
    # £1,300 a month less 800 rent, 100 energy, 58.58 water, 50 council tax leaves £291.42
    assert rules.is_food_poor(300.0, 800.0, 100.0, 58.58, 50.0, 300.0)
    assert not rules.is_food_poor(300.0, 800.0, 100.0, 58.58, 50.0, 291.0)


FSM_LIMIT_WEEKLY = 142.30  # £7,399.60 a year: the last whole penny a week within £7,400


def test_fsm_unclaimed_for_low_earning_uc_household_with_school_children():
    assert rules.fsm_unclaimed(True, FSM_LIMIT_WEEKLY, 2, False, R)


def test_fsm_earnings_just_over_the_threshold_are_not_eligible():
    assert not rules.fsm_unclaimed(True, 142.31, 2, False, R)


def test_fsm_already_awarded_is_not_unclaimed():
    assert not rules.fsm_unclaimed(True, 0.0, 2, True, R)


def test_fsm_needs_school_age_children_and_uc():
    assert not rules.fsm_unclaimed(True, 0.0, 0, False, R)
    assert not rules.fsm_unclaimed(False, 0.0, 2, False, R)


def test_uc_household_without_council_tax_support():
    assert rules.uc_without_cts(True, 0.0)
    assert not rules.uc_without_cts(True, 10.0)
    assert not rules.uc_without_cts(False, 0.0)
