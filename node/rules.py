"""Household rules, one small pure function each, with the definitions from reference/kent.md.

Every function takes plain scalars (and a Rates where amounts are needed) so a council officer can check
a single household by hand; ``node.derive`` applies the same rules to a whole snapshot with numpy and is
tested against these (the sums and conversions it calls on arrays directly take an ``Amount``). Money is
pounds; the unit is in the name (weekly, monthly, annual).
"""

from __future__ import annotations

import calendar
import math
from datetime import date
from typing import TYPE_CHECKING, TypeVar

from reference.rates import Rates

if TYPE_CHECKING:
    import numpy as np

# One household's pounds, or a whole snapshot's as a numpy array: the arithmetic is the same, elementwise.
Amount = TypeVar("Amount", float, "np.ndarray")

WEEKS_PER_YEAR = 52
MONTHS_PER_YEAR = 12
FUEL_POOR_EPC = frozenset("DEFG")
STRUGGLING_BELOW_MONTHLY = 100.0  # our threshold between "struggling" and "coping"


def weekly_to_monthly(weekly: Amount) -> Amount:
    """Convert £ a week to £ a month (x 52 / 12)."""
    return weekly * WEEKS_PER_YEAR / MONTHS_PER_YEAR


def monthly_to_weekly(monthly: Amount) -> Amount:
    """Convert £ a month to £ a week (x 12 / 52), the DWP conversion."""
    return monthly * MONTHS_PER_YEAR / WEEKS_PER_YEAR


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def weekly_income(
    earnings: Amount,
    state_pension: Amount,
    private_pension: Amount,
    legacy_benefits: Amount,
    child_benefit: Amount,
    disability_benefits: Amount,
    carers_allowance: Amount,
    uc_award_monthly: Amount,
    hb_award: Amount,
) -> Amount:
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


DAYS_PER_YEAR = 365.25  # mean calendar year, to turn a span of days into years of age


def snapshot_last_day(month: str) -> date:
    """The last day of a snapshot month ("YYYY-MM"): the latest date the record's ages can describe."""
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, calendar.monthrange(year, mon)[1])


def years_since_mixed_age_qualifying_date(rates: Rates) -> float:
    """Years from the mixed-age qualifying date (14 May 2019) to the last day of the snapshot month."""
    then = date.fromisoformat(rates.pc_mixed_age_qualifying_date)
    return (snapshot_last_day(rates.effective_month) - then).days / DAYS_PER_YEAR


def older_partner_age_lower_bound_then(older_partner_age: float, rates: Rates) -> float:
    """The least the older partner's age can have been on the qualifying date, from their whole-year age now.

    Someone aged ``a`` at the snapshot is at least ``a`` then; taking the snapshot as late as the month allows
    makes the span back to 14 May 2019 as long as it can be, so the bound never overstates their age.
    """
    return older_partner_age - years_since_mixed_age_qualifying_date(rates)


def mixed_age_protected(
    on_hb: bool,
    on_uc: bool,
    claim_start_date: str | None,
    rates: Rates,
    passported: str = "none",
    *,
    older_partner_age: float,
) -> bool:
    """A mixed-age couple keeps pension-age status: protected since before 15 May 2019, as the record shows.

    On HB or Pension Credit, not UC, the claim begun before 15 May 2019, and the older partner surely at Pension
    Credit qualifying age on 14 May 2019: transitional protection covers only couples continuously entitled as a
    pension-age couple since before the change. The record's claim start date and ages are the evidence. No
    evidence, no protection (we do not presume it): records hold whole-year ages, so only the lower bound of the
    older partner's age then counts.
    """
    if not claim_start_date or not isinstance(claim_start_date, str):
        return False
    on_pension_benefit = on_hb or passported == "pension_credit_guarantee"
    qualified_then = older_partner_age_lower_bound_then(older_partner_age, rates) >= rates.pc_mixed_age_qualifying_age
    return (
        on_pension_benefit and not on_uc and claim_start_date < rates.pc_mixed_age_protection_before and qualified_then
    )


def is_pension_age(
    claimant_age: int,
    partner_age: int | None,
    on_hb: bool,
    on_uc: bool,
    state_pension_age: int,
    protected: bool = False,
) -> bool:
    """Pension Credit age household.

    A single claimant counts from State Pension age. Since 15 May 2019 a couple counts only when both are at
    State Pension age (a mixed-age couple claims UC instead), unless ``protected`` (see mixed_age_protected).
    ``on_hb`` and ``on_uc`` are kept for callers' symmetry; protection already encodes them.
    """
    if partner_age is None or _missing(partner_age):
        return claimant_age >= state_pension_age
    older, younger = max(claimant_age, partner_age), min(claimant_age, partner_age)
    if older < state_pension_age:
        return False
    return younger >= state_pension_age or protected


def severe_disability_additions(
    has_partner: bool,
    severe_disability_adults: int,
    n_non_dependants: int,
    carer_paid: bool,
    partner_registered_blind: bool = False,
) -> int:
    """How many Pension Credit severe disability additions a household gets (0, 1 or 2).

    Conditions: a qualifying disability benefit (AA, PIP daily living, DLA care middle/high); no non-dependant
    adult in the home; no one paid Carer's Allowance or the UC carer element for caring for them. A couple
    needs both partners on a qualifying benefit, or one on it and the other registered blind (severely sight
    impaired); then one addition each, less one if someone is paid to care (the record says only that someone
    is, so we assume for one partner). A blind partner without a qualifying benefit brings the couple within the
    rule but no addition of their own (State Pension Credit Regulations 2002, Sch. I paras 1 and 4): one
    addition, none if the carer is paid for the other (Carer's Allowance needs a qualifying benefit, so it is).
    """
    if n_non_dependants > 0:
        return 0
    if not has_partner:
        return int(severe_disability_adults >= 1 and not carer_paid)
    if severe_disability_adults >= 2:
        return 1 if carer_paid else 2
    if severe_disability_adults == 1 and partner_registered_blind:
        return 0 if carer_paid else 1
    return 0


def pc_guarantee_weekly(has_partner: bool, rates: Rates, severe_disability_count: int = 0, n_carers: int = 0) -> float:
    """Pension Credit minimum guarantee, £ a week: the standard amount plus severe disability and carer additions."""
    standard = rates.pc_guarantee_couple_weekly if has_partner else rates.pc_guarantee_single_weekly
    return (
        standard
        + severe_disability_count * rates.pc_severe_disability_addition_weekly
        + n_carers * rates.pc_carer_addition_weekly
    )


def pc_earnings_disregard_weekly(has_partner: bool, special: bool, rates: Rates) -> float:
    """Earnings Pension Credit ignores, £ a week: £20 for a carer or disabled claimant/partner, else £10/£5."""
    if special:
        return rates.pc_earnings_disregard_special_weekly
    return rates.pc_earnings_disregard_couple_weekly if has_partner else rates.pc_earnings_disregard_single_weekly


def tariff_income_weekly(savings_band: str, rates: Rates) -> float:
    """Assumed Pension Credit tariff income from capital, £ a week, charged at the band's midpoint."""
    return rates.pc_tariff_income_6k_to_16k_weekly if savings_band == "6k_to_16k" else 0.0


def partner_taxable_incomes_annual(
    has_partner: bool,
    partners_at_state_pension_age: tuple[bool, bool],
    earnings: float,
    state_pension: float,
    private_pension: float,
) -> tuple[float, float]:
    """Each partner's taxable income, £ a year, from a record's household totals (£ a week).

    Records hold a couple's totals, not whose they are: each partner at State Pension age draws an equal share of
    the State Pension (so in a mixed-age couple the older has it all), and earnings and private pensions are
    shared equally. A single claimant's is all their own; the second figure is then 0.
    """
    if not has_partner:
        return (earnings + state_pension + private_pension) * 52, 0.0
    at_spa = partners_at_state_pension_age if any(partners_at_state_pension_age) else (True, True)
    shared = (earnings + private_pension) / 2
    sp = state_pension / sum(at_spa)
    claimant, partner = ((shared + (sp if drawn else 0.0)) * 52 for drawn in at_spa)
    return claimant, partner


def pc_income_tax_weekly(incomes_annual: tuple[float, float], has_partner: bool, rates: Rates) -> float:
    """Income tax on a family's taxable incomes, £ a week, which Pension Credit takes off the income it counts.

    Basic rate over the personal allowance (incomes near the guarantee are far below the higher rate), less a
    Marriage Allowance where one partner's unused allowance (up to £1,260, rounded up to £10) can go to the
    other, a basic-rate taxpayer. National Insurance is not charged on income at State Pension age.
    """
    allowance, rate = rates.pc_income_tax_personal_allowance_annual, rates.pc_income_tax_basic_rate
    total = 0.0
    for me, other in ((incomes_annual[0], incomes_annual[1]), (incomes_annual[1], incomes_annual[0])):
        unused = max(allowance - other, 0.0) if has_partner and me > allowance else 0.0
        transfer = math.ceil(min(unused, rates.pc_marriage_allowance_annual) / 10) * 10
        total += max((me - allowance - transfer) * rate, 0.0)
    return total / 52


def pc_assessable_income_weekly(
    earnings: float,
    state_pension: float,
    private_pension: float,
    legacy_benefits: float,
    carers_allowance: float,
    savings_band: str,
    rates: Rates,
    earnings_disregard: float = 0.0,
    income_tax: float = 0.0,
) -> float:
    """Income Pension Credit counts, £ a week, after income tax (pc_income_tax_weekly).

    Disability benefits (AA, PIP, DLA), Child Benefit, Housing Benefit and CTS are disregarded; earnings count
    after their disregard (pc_earnings_disregard_weekly). Tariff income is charged at the savings band's
    midpoint (see tariff_income_weekly and docs/lsi.md for its measured effect).
    """
    return (
        max(earnings - earnings_disregard, 0.0)
        + state_pension
        + private_pension
        + legacy_benefits
        + carers_allowance
        + tariff_income_weekly(savings_band, rates)
        - income_tax
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


def pc_unclaimed_annual(gap_weekly: Amount) -> Amount:
    """Annual value of unclaimed Pension Credit: weekly gap x 52."""
    return gap_weekly * WEEKS_PER_YEAR


def housing_cost_monthly(eligible_rent_weekly: float | None, hb_award_weekly: float) -> float:
    """Housing cost in £ a month: eligible rent x 52 / 12.

    Missing rent is allowed: we then assume rent equals the HB award, so that HB counted as income nets to
    zero and the household is neither pushed into nor out of shortfall by a data gap. Owner-occupiers have
    no rent (mortgages are not held in benefit records) and so cost 0.
    """
    rent = hb_award_weekly if eligible_rent_weekly is None or _missing(eligible_rent_weekly) else eligible_rent_weekly
    return weekly_to_monthly(rent)


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
    """Seasonally adjusted energy bill, £ a month: the annual bill / 12 in every month.

    Households pay winter bills from the whole year's income (direct debits are level), and an index that
    fell every December with no household changing would be measuring the weather (docs/lsi.md).
    """
    return energy_annual(household_size, epc_band, rates) / MONTHS_PER_YEAR


def water_bill_annual(household_size: int, metered: bool, rates: Rates) -> float:
    """The household's modelled water bill before any social tariff, £ a year (assumptions in the rates file).

    Metered: standing charges plus a volume per occupant. Unmetered: the average bill (it follows rateable
    value, not occupants).
    """
    if metered:
        return rates.water_metered_standing_annual + household_size * rates.water_metered_per_person_annual
    return rates.water_unmetered_annual


def water_social_tariff_discount(bill_annual: float, ahc_weekly: float, pension_credit: bool, rates: Rates) -> float:
    """The Essentials social tariff's discount for a household on it, a fraction of the bill.

    The discount follows the bill's share of income after housing costs: the smallest band that brings the bill
    within the tariff's target share (3%), else the largest (90%). A household whose bill is already within it
    is on the tariff through Pension Credit (20%) or its low income (the smallest band).
    """
    target = rates.water_social_tariff_target_share * ahc_weekly * WEEKS_PER_YEAR
    if bill_annual <= target:
        return (
            rates.water_social_tariff_pension_credit_discount if pension_credit else rates.water_social_tariff_bands[0]
        )
    for band in rates.water_social_tariff_bands:
        if bill_annual * (1.0 - band) <= target:
            return band
    return rates.water_social_tariff_bands[-1]


def water_bill_after_tariff(
    bill_annual: float, social_tariff: bool, ahc_weekly: float, pension_credit: bool, rates: Rates
) -> float:
    """The bill the household pays, £ a year: less the social tariff's discount where the record shows it on one."""
    if not social_tariff:
        return bill_annual
    return bill_annual * (1.0 - water_social_tariff_discount(bill_annual, ahc_weekly, pension_credit, rates))


def water_monthly(bill_annual: Amount) -> Amount:
    """A water bill in £ a month."""
    return bill_annual / MONTHS_PER_YEAR


def income_after_housing_and_council_tax_weekly(
    weekly_income: Amount, housing_monthly: Amount, council_tax_monthly: Amount
) -> Amount:
    """Net income after housing costs and council tax (net of CTS), £ a week: the official AHC base."""
    return weekly_income - monthly_to_weekly(housing_monthly + council_tax_monthly)


def essential_costs_monthly(food: Amount, other: Amount, energy: Amount, water: Amount) -> Amount:
    """Modelled essential spending, £ a month: food, other essentials, energy and water."""
    return food + other + energy + water


def monthly_surplus(
    weekly_income: Amount, housing_monthly: Amount, council_tax_monthly: Amount, essentials_monthly: Amount
) -> Amount:
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
    council_tax_monthly: float,
    energy_annual_cost: float,
    equivalence: float,
    rates: Rates,
) -> bool:
    """Fuel poverty, Low Income Low Energy Efficiency (LILEE).

    Fuel poor when the home is EPC band D-G and equivalised income after housing costs, council tax and
    (annual) energy costs is below the poverty line: 60% of the median equivalised income after housing
    costs, given in the rates file as ``poverty_line.ahc_weekly_couple``.
    """
    if epc_band not in FUEL_POOR_EPC:
        return False
    ahc = income_after_housing_and_council_tax_weekly(weekly_income, housing_monthly, council_tax_monthly)
    return (ahc - energy_annual_cost / WEEKS_PER_YEAR) / equivalence < rates.poverty_line_ahc_weekly_couple


def benefit_unit_share(household_size: int, n_non_dependants: int) -> float:
    """The claimant's family's share of a bill split per person: non-dependants pay their own way.

    Records hold the family's income but not the non-dependants'; counting their use of water without their
    income would make a family with a grown-up son at home look water poor for his bills.
    """
    return (household_size - n_non_dependants) / household_size


def is_water_poor(
    weekly_income: float,
    housing_monthly: float,
    council_tax_monthly: float,
    bill_annual: float,
    rates: Rates,
    family_share: float = 1.0,
) -> bool:
    """Water poverty: the family's share of the bill is above 5% of its income after housing costs and council tax."""
    ahc = income_after_housing_and_council_tax_weekly(weekly_income, housing_monthly, council_tax_monthly)
    return bill_annual * family_share > rates.water_poverty_share * ahc * WEEKS_PER_YEAR


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


# Passports to free school meals whatever the date: Income Support, income-based JSA, income-related ESA
# (one category in the records) and the guarantee credit of Pension Credit.
FSM_PASSPORTS = frozenset({"income_support", "income_based_jsa_esa", "pension_credit_guarantee"})


def annual_pence(weekly: float) -> int:
    """A weekly £ amount as whole pence a year (x 52), so a line such as £7,400 compares exactly."""
    return round(weekly * WEEKS_PER_YEAR * 100)


def fsm_qualifying_benefit(on_uc: bool, earnings_weekly: float, passported: str, month: str, rates: Rates) -> bool:
    """The household is on a benefit that gives free school meals in ``month`` ("YYYY-MM").

    Legacy benefits and the Pension Credit guarantee always; Universal Credit with annual net earnings up to
    £7,400 (in whole pence) before the rates file's ``uc_all_households_from`` month, and any UC from then.
    """
    if passported in FSM_PASSPORTS:
        return True
    if not on_uc:
        return False
    if month >= rates.fsm_uc_all_households_from:
        return True
    return annual_pence(earnings_weekly) <= round(rates.fsm_uc_net_earnings_threshold_annual * 100)


def fsm_unclaimed(
    on_uc: bool,
    earnings_weekly: float,
    n_school_age_children: int,
    fsm_awarded: bool,
    rates: Rates,
    passported: str = "none",
    month: str | None = None,
) -> bool:
    """Free school meals not taken up: a qualifying benefit in the snapshot month, school-age children, none awarded.

    ``month`` defaults to the rates' month (the tax year's April when the rates carry none).
    """
    when = month or rates.effective_month
    return (
        fsm_qualifying_benefit(on_uc, earnings_weekly, passported, when, rates)
        and n_school_age_children > 0
        and not fsm_awarded
    )


def uc_without_cts(on_uc: bool, cts_award_annual: float) -> bool:
    """On Universal Credit but with no Council Tax Support award."""
    return on_uc and cts_award_annual <= 0
