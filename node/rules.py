"""Household rules, one small pure function each, with the definitions from reference/kent.md.

Every function takes plain scalars (and a Rates where amounts are needed) so a council officer can check
a single household by hand; ``node.derive`` applies the same rules to a whole snapshot with numpy and is
tested against these. Money is pounds; the unit is in the name (weekly, monthly, annual).
"""

from __future__ import annotations

import math

from reference.rates import Rates

WEEKS_PER_YEAR = 52
MONTHS_PER_YEAR = 12
FUEL_POOR_EPC = frozenset("DEFG")
STRUGGLING_BELOW_MONTHLY = 100.0  # our threshold between "struggling" and "coping"


def weekly_to_monthly(weekly: float) -> float:
    """Convert £ a week to £ a month (x 52 / 12)."""
    return weekly * WEEKS_PER_YEAR / MONTHS_PER_YEAR


def monthly_to_weekly(monthly: float) -> float:
    """Convert £ a month to £ a week (x 12 / 52), the DWP conversion."""
    return monthly * MONTHS_PER_YEAR / WEEKS_PER_YEAR


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def weekly_income(
    earnings: float,
    state_pension: float,
    private_pension: float,
    legacy_benefits: float,
    child_benefit: float,
    disability_benefits: float,
    carers_allowance: float,
    uc_award_monthly: float,
    hb_award: float,
) -> float:
    """All net income in £ a week, benefits included.

    Housing Benefit and the UC housing element count as income because housing costs are counted in full
    (the London Living Standards Index convention): rent then nets them off exactly.
    """
    return (
        earnings
        + state_pension
        + private_pension
        + legacy_benefits
        + child_benefit
        + disability_benefits
        + carers_allowance
        + monthly_to_weekly(uc_award_monthly)
        + hb_award
    )


def household_size(has_partner: bool, n_children: int, n_non_dependants: int) -> int:
    """People in the household: claimant, partner, children and non-dependants."""
    return 1 + int(has_partner) + n_children + n_non_dependants


def is_pension_age(
    claimant_age: int, partner_age: int | None, on_hb: bool, on_uc: bool, state_pension_age: int
) -> bool:
    """Pension Credit age household.

    A single claimant counts from State Pension age. Since 15 May 2019 a couple counts only when both are
    over State Pension age (a mixed-age couple claims UC instead), except a mixed-age couple still on
    Housing Benefit and not UC, which we treat as protected under the pre-2019 rules.
    """
    if claimant_age < state_pension_age:
        return False
    if _missing(partner_age):
        return True
    if partner_age >= state_pension_age:  # type: ignore[operator]
        return True
    return on_hb and not on_uc


def pc_guarantee_weekly(has_partner: bool, rates: Rates) -> float:
    """Pension Credit standard minimum guarantee for a single person or couple, £ a week."""
    return rates.pc_guarantee_couple_weekly if has_partner else rates.pc_guarantee_single_weekly


def tariff_income_weekly(savings_band: str, rates: Rates) -> float:
    """Assumed Pension Credit tariff income from capital, £ a week, charged at the band's midpoint."""
    return rates.pc_tariff_income_6k_to_16k_weekly if savings_band == "6k_to_16k" else 0.0


def pc_assessable_income_weekly(
    earnings: float,
    state_pension: float,
    private_pension: float,
    legacy_benefits: float,
    carers_allowance: float,
    savings_band: str,
    rates: Rates,
) -> float:
    """Income Pension Credit counts, £ a week.

    Disability benefits (AA, PIP, DLA), Child Benefit, Housing Benefit and CTS are disregarded. Earnings
    count in full: ignoring the small £5/£10 earnings disregard errs towards flagging fewer households.
    """
    return (
        earnings
        + state_pension
        + private_pension
        + legacy_benefits
        + carers_allowance
        + tariff_income_weekly(savings_band, rates)
    )


def pc_unclaimed_gap_weekly(
    pension_age: bool, assessable_income: float, guarantee: float, passported: str, savings_band: str
) -> float:
    """Weekly Pension Credit a household appears to miss, or 0.

    Unclaimed means: pension-age household, income below its minimum guarantee, not already passported on
    the guarantee credit, and savings not over £16,000. (Pension Credit has no capital limit; the £16,000
    cut-off is our caution, because tariff income on large savings usually removes the gap.)
    """
    if not pension_age or passported == "pension_credit_guarantee" or savings_band == "over_16k":
        return 0.0
    return max(guarantee - assessable_income, 0.0)


def pc_unclaimed_annual(gap_weekly: float) -> float:
    """Annual value of unclaimed Pension Credit: weekly gap x 52."""
    return gap_weekly * WEEKS_PER_YEAR


def housing_cost_monthly(eligible_rent_weekly: float | None, hb_award_weekly: float) -> float:
    """Housing cost in £ a month: eligible rent x 52 / 12.

    Missing rent is allowed: we then assume rent equals the HB award, so that HB counted as income nets to
    zero and the household is neither pushed into nor out of shortfall by a data gap. Owner-occupiers have
    no rent (mortgages are not held in benefit records) and so cost 0.
    """
    rent = hb_award_weekly if _missing(eligible_rent_weekly) else eligible_rent_weekly
    return weekly_to_monthly(rent)  # type: ignore[arg-type]


def council_tax_net_monthly(liability_annual: float, cts_award_annual: float) -> float:
    """Council tax still to pay after Council Tax Support, £ a month."""
    return max(liability_annual - cts_award_annual, 0.0) / MONTHS_PER_YEAR


def adults(has_partner: bool, n_non_dependants: int) -> int:
    """Adults in the household."""
    return 1 + int(has_partner) + n_non_dependants


def food_budget_monthly(has_partner: bool, n_children: int, n_non_dependants: int, rates: Rates) -> float:
    """Modelled food spending for the household composition, £ a month (our default, see the rates file)."""
    extra_adults = adults(has_partner, n_non_dependants) - 1
    return (
        rates.food_first_adult_monthly
        + extra_adults * rates.food_other_adult_monthly
        + n_children * rates.food_child_monthly
    )


def other_essentials_monthly(has_partner: bool, n_children: int, n_non_dependants: int, rates: Rates) -> float:
    """Modelled spending on other essentials (clothing, household goods, phone, transport), £ a month."""
    extra_adults = adults(has_partner, n_non_dependants) - 1
    return (
        rates.other_first_adult_monthly
        + extra_adults * rates.other_other_adult_monthly
        + n_children * rates.other_child_monthly
    )


def energy_annual(household_size: int, epc_band: str, rates: Rates) -> float:
    """Modelled annual energy bill from household size and EPC band, £ a year."""
    return rates.energy_annual(household_size, epc_band)


def energy_monthly(household_size: int, epc_band: str, rates: Rates) -> float:
    """Energy bill for the snapshot month, £: the annual bill / 12 times the month's seasonal factor."""
    return energy_annual(household_size, epc_band, rates) / MONTHS_PER_YEAR * rates.energy_season_factor


def water_monthly(rates: Rates) -> float:
    """Average Southern Water bill, £ a month."""
    return rates.water_annual_bill / MONTHS_PER_YEAR


def essential_costs_monthly(food: float, other: float, energy: float, water: float) -> float:
    """Modelled essential spending, £ a month: food, other essentials, energy and water."""
    return food + other + energy + water


def monthly_surplus(
    weekly_income: float, housing_monthly: float, council_tax_monthly: float, essentials_monthly: float
) -> float:
    """Income left after housing, council tax (net of CTS) and essential costs, £ a month; may be negative."""
    return weekly_to_monthly(weekly_income) - housing_monthly - council_tax_monthly - essentials_monthly


def resilience(surplus_monthly: float, ct_arrears: float, rent_arrears: float) -> str:
    """Financial resilience category (our definition, an assumption).

    in_crisis: shortfall (surplus below 0) and council tax or rent arrears; at_risk: shortfall without
    arrears; struggling: surplus from £0 to under £100 a month; coping: £100 a month or more.
    """
    if surplus_monthly < 0:
        return "in_crisis" if (ct_arrears > 0 or rent_arrears > 0) else "at_risk"
    return "struggling" if surplus_monthly < STRUGGLING_BELOW_MONTHLY else "coping"


def cash_shortfall(surplus_monthly: float) -> bool:
    """Can't pay the bills: income after rent, council tax and essential spending is below zero."""
    return surplus_monthly < 0


def equivalence_factor(has_partner: bool, n_children: int, n_non_dependants: int, rates: Rates) -> float:
    """Modified OECD equivalence factor (HBAI scale, couple without children = 1.0).

    Records do not give every child's age, so every child takes the under-14 weight: a slight understatement
    of need for teenagers.
    """
    return (
        rates.poverty_line_equivalence_first_adult
        + (adults(has_partner, n_non_dependants) - 1) * rates.poverty_line_equivalence_other_adult
        + n_children * rates.poverty_line_equivalence_child
    )


def is_fuel_poor(
    epc_band: str,
    weekly_income: float,
    housing_monthly: float,
    energy_annual_cost: float,
    equivalence: float,
    rates: Rates,
) -> bool:
    """Fuel poverty, Low Income Low Energy Efficiency (LILEE).

    Fuel poor when the home is EPC band D-G and equivalised income after housing and (annual, unseasoned)
    energy costs is below the poverty line: 60% of the median equivalised income after housing costs, given
    in the rates file as ``poverty_line.ahc_weekly_couple``.
    """
    if epc_band not in FUEL_POOR_EPC:
        return False
    residual = weekly_income - monthly_to_weekly(housing_monthly) - energy_annual_cost / WEEKS_PER_YEAR
    return residual / equivalence < rates.poverty_line_ahc_weekly_couple


def is_water_poor(weekly_income: float, housing_monthly: float, rates: Rates) -> bool:
    """Water poverty: the annual water bill is above 5% of annual net income after housing costs."""
    income_ahc_annual = weekly_income * WEEKS_PER_YEAR - housing_monthly * MONTHS_PER_YEAR
    return rates.water_annual_bill > rates.water_poverty_share * income_ahc_annual


def is_food_poor(
    weekly_income: float,
    housing_monthly: float,
    energy_month: float,
    water_month: float,
    council_tax_monthly: float,
    food_budget: float,
) -> bool:
    """Food poverty (our definition, an assumption).

    Income left after housing, energy, water and council tax (all for the month) is below the modelled food
    budget for the household.
    """
    left = weekly_to_monthly(weekly_income) - housing_monthly - energy_month - water_month - council_tax_monthly
    return left < food_budget


def fsm_unclaimed(
    on_uc: bool, earnings_weekly: float, n_school_age_children: int, fsm_awarded: bool, rates: Rates
) -> bool:
    """Free school meals not taken up.

    On UC, annual net earnings (weekly x 52) up to the threshold (£7,400), school-age children, and free
    school meals not recorded as awarded.
    """
    return (
        on_uc
        and earnings_weekly * WEEKS_PER_YEAR <= rates.fsm_uc_net_earnings_threshold_annual
        and n_school_age_children > 0
        and not fsm_awarded
    )


def uc_without_cts(on_uc: bool, cts_award_annual: float) -> bool:
    """On Universal Credit but with no Council Tax Support award."""
    return on_uc and cts_award_annual <= 0
