"""Worked examples for each household rule, using the 2025-26 rates (rates read from the TOML file)."""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

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


def test_mixed_age_couple_with_a_claim_from_before_may_2019_is_protected():
    protected = rules.mixed_age_protected(True, False, "2019-05-14", R, older_partner_age=75)
    assert protected
    assert rules.is_pension_age(75, 64, on_hb=True, on_uc=False, state_pension_age=66, protected=protected)


def test_mixed_age_couple_on_housing_benefit_without_protection_is_not_pension_age():
    # Changed in issue 12: HB alone is no evidence of protection; 66 with a 65-year-old partner claims UC.
    assert not rules.mixed_age_protected(True, False, "2019-05-15", R, older_partner_age=75)
    assert not rules.mixed_age_protected(True, False, "", R, older_partner_age=75)
    assert not rules.is_pension_age(66, 65, on_hb=True, on_uc=False, state_pension_age=66)


def test_mixed_age_couple_on_pension_credit_since_before_2019_is_protected():
    assert rules.mixed_age_protected(
        False, False, "2017-01-01", R, passported="pension_credit_guarantee", older_partner_age=75
    )
    assert not rules.mixed_age_protected(False, False, "2017-01-01", R, older_partner_age=75)


def test_a_66_year_old_with_a_65_year_old_partner_and_a_2018_claim_is_not_protected():
    # Issue 12: in May 2019 the older partner was 59 or 60, years short of Pension Credit qualifying age, so the
    # couple could not have been entitled as a pension-age couple then, whatever the claim date.
    protected = rules.mixed_age_protected(True, False, "2018-06-01", R, older_partner_age=66)
    assert not protected
    assert not rules.is_pension_age(66, 65, on_hb=True, on_uc=False, state_pension_age=66, protected=protected)


def test_an_older_partner_surely_at_qualifying_age_in_may_2019_keeps_the_protection():
    # 75 in April 2025: at least 69 in May 2019, past the qualifying age of about 65 years 3 months.
    assert rules.older_partner_age_lower_bound_then(75, R) >= R.pc_mixed_age_qualifying_age
    assert rules.mixed_age_protected(True, False, "2018-06-01", R, older_partner_age=75)


def test_in_october_2025_the_youngest_older_partner_protected_is_72():
    # 31 October 2025 is 6.46 years after 14 May 2019: 72 gives at least 65.54 then, 71 only 64.54.
    october = rates_for_month("2025-10")
    assert rules.mixed_age_protected(True, False, "2018-06-01", october, older_partner_age=72)
    assert not rules.mixed_age_protected(True, False, "2018-06-01", october, older_partner_age=71)


def _latest_birth_date(age: int, snapshot_day: date) -> date:
    """The latest day someone aged ``age`` on ``snapshot_day`` can have been born."""
    try:
        return snapshot_day.replace(year=snapshot_day.year - age)
    except ValueError:  # 29 February in a year without one
        return date(snapshot_day.year - age, 2, 28)


# On 14 May 2019 Pension Credit qualifying age had been reached by those born on or before 5 February 1954
# (GOV.UK State Pension age timetable, Pensions Act 2011): the law's own boundary, in dates rather than years.
QUALIFIED_BY_MAY_2019_IF_BORN_BY = date(1954, 2, 5)


@given(st.integers(2019, 2040), st.integers(1, 12), st.integers(55, 110), st.sampled_from(["2010-01-31", "2019-05-14"]))
def test_protection_is_never_granted_unless_the_older_partner_was_surely_of_qualifying_age(year, month, age, start):
    snapshot = f"{year}-{month:02d}"
    assume(snapshot >= "2019-06")
    r = dataclasses.replace(R, month=snapshot)  # the qualifying date and age are the same in every rates year
    # The youngest the older partner can be: born on the last possible day for their age at the month's end.
    youngest_birth = _latest_birth_date(age, rules.snapshot_last_day(snapshot))
    if rules.mixed_age_protected(True, False, start, r, older_partner_age=age):
        assert youngest_birth <= QUALIFIED_BY_MAY_2019_IF_BORN_BY
        assert rules.older_partner_age_lower_bound_then(age, r) >= r.pc_mixed_age_qualifying_age


def test_older_partner_at_pension_age_makes_a_mixed_age_couple_too():
    assert not rules.is_pension_age(64, 70, on_hb=True, on_uc=False, state_pension_age=66)
    assert rules.is_pension_age(64, 70, on_hb=True, on_uc=False, state_pension_age=66, protected=True)


def test_couple_both_over_pension_age_is_pension_age():
    assert rules.is_pension_age(70, 68, on_hb=False, on_uc=False, state_pension_age=66)


def test_nan_partner_age_means_single():
    assert rules.is_pension_age(70, math.nan, False, False, 66)


def test_unclaimed_pension_credit_is_the_weekly_gap_times_52():
    income = rules.pc_assessable_income_weekly(0, 180.00, 20.00, 0, 0, "under_6k", R)
    gap = rules.pc_unclaimed_gap_weekly(True, income, rules.pc_guarantee_weekly(False, R), "none", "under_6k")
    assert gap == pytest.approx(227.10 - 200.00)
    assert rules.pc_unclaimed_annual(gap) == pytest.approx(27.10 * 52)


def test_severe_disability_addition_for_a_single_pensioner_on_attendance_allowance():
    n = rules.severe_disability_additions(False, 1, 0, False)
    assert n == 1
    assert rules.pc_guarantee_weekly(False, R, n) == pytest.approx(227.10 + 82.90)


def test_no_severe_disability_addition_with_a_non_dependant_in_the_home():
    assert rules.severe_disability_additions(False, 1, 1, False) == 0


def test_no_severe_disability_addition_when_someone_is_paid_carers_allowance_for_them():
    assert rules.severe_disability_additions(False, 1, 0, True) == 0


def test_couple_needs_both_partners_on_a_qualifying_benefit_for_the_addition():
    assert rules.severe_disability_additions(True, 1, 0, False) == 0
    assert rules.severe_disability_additions(True, 2, 0, False) == 2
    assert rules.severe_disability_additions(True, 2, 0, True) == 1


def test_partner_registered_blind_brings_a_couple_within_the_severe_disability_addition():
    # one partner on Attendance Allowance, the other registered blind: one addition (the blind partner brings none)
    n = rules.severe_disability_additions(True, 1, 0, False, partner_registered_blind=True)
    assert n == 1
    assert rules.pc_guarantee_weekly(True, R, n) == pytest.approx(346.60 + 82.90)


def test_blind_partner_gives_no_addition_when_someone_is_paid_to_care_for_the_other():
    assert rules.severe_disability_additions(True, 1, 0, True, partner_registered_blind=True) == 0


def test_blind_partner_gives_no_addition_with_a_non_dependant_in_the_home():
    assert rules.severe_disability_additions(True, 1, 1, False, partner_registered_blind=True) == 0


def test_blind_partner_alone_does_not_qualify_a_couple():
    assert rules.severe_disability_additions(True, 0, 0, False, partner_registered_blind=True) == 0


@given(
    partner=st.booleans(),
    adults=st.integers(0, 2),
    non_dependants=st.integers(0, 3),
    carer_paid=st.booleans(),
)
def test_a_blind_partner_never_reduces_the_additions(partner, adults, non_dependants, carer_paid):
    without = rules.severe_disability_additions(partner, adults, non_dependants, carer_paid, False)
    with_blind = rules.severe_disability_additions(partner, adults, non_dependants, carer_paid, True)
    assert with_blind >= without
    assert with_blind <= 2


def test_carer_addition_per_carer():
    assert rules.pc_guarantee_weekly(True, R, 0, 1) == pytest.approx(346.60 + 46.40)


def test_attendance_allowance_pensioner_at_the_standard_guarantee_misses_the_addition():
    # Income £227.10 meets the standard guarantee; with AA and no one else there she is due £82.90 a week more
    income = rules.pc_assessable_income_weekly(0, 227.10, 0, 0, 0, "under_6k", R)
    guarantee = rules.pc_guarantee_weekly(False, R, rules.severe_disability_additions(False, 1, 0, False))
    assert rules.pc_unclaimed_gap_weekly(True, income, guarantee, "none", "under_6k") == pytest.approx(82.90)


def test_earnings_disregards_are_5_single_10_couple_20_carer_or_disabled():
    assert rules.pc_earnings_disregard_weekly(False, False, R) == 5
    assert rules.pc_earnings_disregard_weekly(True, False, R) == 10
    assert rules.pc_earnings_disregard_weekly(True, True, R) == 20


def test_assessable_income_counts_earnings_after_the_disregard():
    assert rules.pc_assessable_income_weekly(30, 200, 0, 0, 0, "under_6k", R, earnings_disregard=5) == 225
    assert rules.pc_assessable_income_weekly(3, 200, 0, 0, 0, "under_6k", R, earnings_disregard=5) == 200


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


def test_energy_for_the_month_is_seasonally_adjusted():
    # Changed in issue 12: a household whose circumstances do not change costs the same in January and July.
    jan, jul = rates_for_month("2026-01"), rates_for_month("2025-07")
    assert rules.energy_monthly(2, "D", jan) == pytest.approx(1785 * 0.92 / 12)
    assert rules.energy_monthly(2, "D", jul) == rules.energy_monthly(2, "D", jan)


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
    assert rules.equivalence_factor(False, 2, 0, R) == pytest.approx(0.58 + 0.4)


def test_equivalence_uses_the_after_housing_costs_scale_because_the_line_is_after_housing_costs():
    # HBAI's AHC scale: a single adult is 0.58 of a couple (0.67 is the before-housing-costs scale)
    assert rules.equivalence_factor(False, 0, 0, R) == pytest.approx(0.58)
    assert rules.equivalence_factor(False, 0, 1, R) == pytest.approx(1.0)


def test_efficient_home_is_never_fuel_poor():
    assert not rules.is_fuel_poor("C", 0.0, 0.0, 0.0, 1000.0, 1.0, R)


def test_inefficient_low_income_home_is_fuel_poor():
    # couple, £450 a week, rent £100 a week, energy £1,800 a year: 450 - 100 - 34.6 = 315 < £384
    assert rules.is_fuel_poor("E", 450.0, 100 * 52 / 12, 0.0, 1800.0, 1.0, R)


def test_inefficient_home_with_enough_income_is_not_fuel_poor():
    assert not rules.is_fuel_poor("E", 600.0, 100 * 52 / 12, 0.0, 1800.0, 1.0, R)


def test_council_tax_is_deducted_before_the_fuel_poverty_line():
    # £430 a week less £34.62 energy is £395.38, above £384; £60 a month of council tax (£13.85 a week) tips it
    assert not rules.is_fuel_poor("E", 430.0, 0.0, 0.0, 1800.0, 1.0, R)
    assert rules.is_fuel_poor("E", 430.0, 0.0, 60.0, 1800.0, 1.0, R)


def test_water_poverty_threshold_is_five_percent_of_income_after_housing_and_council_tax():
    # £703 bill: poor below £14,060 a year after housing and council tax = £270.38 a week
    assert rules.is_water_poor(270.0, 0.0, 0.0, 703.0, R)
    assert not rules.is_water_poor(271.0, 0.0, 0.0, 703.0, R)
    # £20 a month of council tax is £4.62 a week: £274 a week is then £269.38 after it, below the line
    assert rules.is_water_poor(274.0, 0.0, 20.0, 703.0, R)


def test_income_below_housing_costs_is_water_poor():
    assert rules.is_water_poor(100.0, 1000.0, 0.0, 370.0, R)


def test_metered_water_bill_grows_with_occupants():
    one, four = (rules.water_bill_annual(n, True, R) for n in (1, 4))
    assert one == pytest.approx(127 + 240) and four == pytest.approx(127 + 4 * 240)


def test_metered_bill_of_an_average_household_is_the_published_average():
    # 2.4 people, the Kent average household (Census 2021), pays Southern Water's £703 average (to a pound)
    assert R.water_metered_standing_annual + 2.4 * R.water_metered_per_person_annual == pytest.approx(703, abs=1)


def test_unmetered_water_bill_does_not_depend_on_household_size():
    assert rules.water_bill_annual(1, False, R) == rules.water_bill_annual(6, False, R) == 703


def test_social_tariff_gives_45_percent_where_that_brings_the_bill_within_3_percent_of_income():
    # £367 against £200 a week after housing costs (3% is £312 a year): 45% off leaves £201.85
    assert rules.water_social_tariff_discount(367.0, 200.0, False, R) == 0.45
    assert rules.water_bill_after_tariff(367.0, True, 200.0, False, R) == pytest.approx(367 * 0.55)


def test_social_tariff_gives_90_percent_where_45_would_leave_the_bill_above_3_percent_of_income():
    # £100 a week after housing costs: 3% is £156 a year, and 55% of £367 is £201.85
    assert rules.water_social_tariff_discount(367.0, 100.0, False, R) == 0.90
    assert rules.water_bill_after_tariff(367.0, True, 100.0, False, R) == pytest.approx(36.70)


def test_social_tariff_gives_90_percent_when_nothing_is_left_after_housing_costs():
    assert rules.water_social_tariff_discount(367.0, -20.0, True, R) == 0.90


def test_pension_credit_route_gives_20_percent_when_the_bill_is_already_within_3_percent():
    # £300 a week after housing costs: 3% is £468 a year, above a £367 bill
    assert rules.water_social_tariff_discount(367.0, 300.0, True, R) == 0.20
    assert rules.water_social_tariff_discount(367.0, 300.0, False, R) == 0.45


def test_no_discount_off_the_tariff():
    assert rules.water_bill_after_tariff(367.0, False, 50.0, True, R) == 367.0


@given(
    bill=st.floats(50, 2000),
    low=st.floats(-100, 1500),
    extra=st.floats(0, 1500),
    pension_credit=st.booleans(),
)
def test_a_lower_income_never_gets_a_smaller_social_tariff_discount(bill, low, extra, pension_credit):
    poorer = rules.water_social_tariff_discount(bill, low, pension_credit, R)
    richer = rules.water_social_tariff_discount(bill, low + extra, pension_credit, R)
    assert poorer >= richer
    assert poorer in (*R.water_social_tariff_bands, R.water_social_tariff_pension_credit_discount)


def test_non_dependants_pay_their_own_share_of_the_water_bill():
    # a couple with a grown-up son at home: the family pays two thirds of a £847 bill, £564.67
    share = rules.benefit_unit_share(3, 1)
    assert share == pytest.approx(2 / 3)
    # £11,000 a year after housing costs (£211.54 a week): 5% is £550
    assert rules.is_water_poor(211.54, 0.0, 0.0, 847.0, R, share)
    assert not rules.is_water_poor(230.0, 0.0, 0.0, 847.0, R, share)
    assert rules.is_water_poor(230.0, 0.0, 0.0, 847.0, R)


def test_single_pensioner_at_the_guarantee_is_not_water_poor_on_a_metered_bill():
    # £227.10 a week, full HB and CTS: £367 is 3.1% of income, under the 5% line (the flat £703 was 6%)
    bill = rules.water_bill_annual(1, True, R)
    assert not rules.is_water_poor(227.10, 0.0, 0.0, bill, R)
    assert rules.is_water_poor(227.10, 0.0, 0.0, 703.0, R)


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


def test_fsm_needs_school_age_children_and_a_qualifying_benefit():
    assert not rules.fsm_unclaimed(True, 0.0, 0, False, R)
    assert not rules.fsm_unclaimed(False, 0.0, 2, False, R)


def test_fsm_line_of_exactly_7400_a_year_is_eligible_in_whole_pence():
    # £7,400 / 52 a week: x 52 in floating point is 7400.000000000001, which a float comparison refused
    assert (7400 / 52) * 52 > 7400
    assert rules.fsm_unclaimed(True, 7400 / 52, 1, False, R)
    assert rules.annual_pence(7400 / 52) == 740000


@pytest.mark.parametrize("passported", ["income_support", "income_based_jsa_esa", "pension_credit_guarantee"])
def test_fsm_legacy_benefits_and_pension_credit_qualify_without_uc(passported):
    assert rules.fsm_unclaimed(False, 300.0, 1, False, R, passported=passported)


def test_fsm_every_uc_household_qualifies_from_september_2026():
    r = rates_for_month("2026-09")
    assert rules.fsm_unclaimed(True, 600.0, 2, False, r)
    assert not rules.fsm_unclaimed(True, 600.0, 2, False, rates_for_month("2026-08"))


def test_fsm_rule_follows_the_month_given_not_the_tax_year():
    r = rates_for_month("2026-04")
    assert not rules.fsm_unclaimed(True, 600.0, 2, False, r)
    assert rules.fsm_unclaimed(True, 600.0, 2, False, r, month="2027-01")


def test_fsm_change_date_is_carried_by_the_rates_table():
    assert {rates_for_month(m).fsm_uc_all_households_from for m in ("2024-06", "2025-10", "2026-10")} == {"2026-09"}


def test_uc_household_without_council_tax_support():
    assert rules.uc_without_cts(True, 0.0)
    assert not rules.uc_without_cts(True, 10.0)
    assert not rules.uc_without_cts(False, 0.0)


def test_a_single_pensioners_income_under_the_personal_allowance_pays_no_income_tax():
    incomes = rules.partner_taxable_incomes_annual(False, (True, False), 0, 227.10, 0)
    assert rules.pc_income_tax_weekly(incomes, False, R) == 0


def test_pension_credit_counts_a_single_pensioners_income_after_basic_rate_tax():
    # £256 a week is £13,312 a year: 20% of the £742 over the £12,570 allowance is £148.40, £2.85 a week.
    incomes = rules.partner_taxable_incomes_annual(False, (True, False), 30, 180.80, 45.20)
    tax = rules.pc_income_tax_weekly(incomes, False, R)
    assert tax == pytest.approx(148.40 / 52)
    assert rules.pc_assessable_income_weekly(30, 180.80, 45.20, 0, 0, "under_6k", R, 5, tax) == pytest.approx(
        25 + 226 - 148.40 / 52
    )


def test_a_mixed_age_couples_state_pension_is_the_older_partners_and_the_rest_is_shared():
    assert rules.partner_taxable_incomes_annual(True, (True, False), 30, 264, 66) == (
        pytest.approx((48 + 264) * 52),
        pytest.approx(48 * 52),
    )


def test_a_partner_with_unused_allowance_passes_the_marriage_allowance_to_the_taxpayer():
    # £15,444 and £1,716: tax on £2,874 over the allowance is £574.80, less 20% of the £1,260 transferred.
    tax = rules.pc_income_tax_weekly((15444.0, 1716.0), True, R)
    assert tax == pytest.approx((574.80 - 252) / 52)


def test_the_marriage_allowance_is_only_what_the_partner_leaves_unused_rounded_up_to_ten_pounds():
    tax = rules.pc_income_tax_weekly((14000.0, 11925.0), True, R)  # £645 unused, £650 transferred
    assert tax == pytest.approx((14000 - 12570 - 650) * 0.2 / 52)


@given(st.floats(0, 1000), st.floats(0, 1000), st.floats(0, 1000), st.booleans(), st.booleans())
def test_income_tax_never_takes_more_than_a_fifth_of_income(earnings, sp, private, partner, older_at_spa):
    incomes = rules.partner_taxable_incomes_annual(partner, (older_at_spa, partner), earnings, sp, private)
    assert sum(incomes) == pytest.approx((earnings + sp + private) * 52)
    assert 0 <= rules.pc_income_tax_weekly(incomes, partner, R) <= 0.2 * (earnings + sp + private) + 1e-9
