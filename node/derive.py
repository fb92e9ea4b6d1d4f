"""Add the derived per-household measures to a snapshot, vectorised over the whole table.

Each block mirrors one function in ``node.rules`` (tests check they agree row by row); arithmetic that is
already array-friendly is shared by calling the rule itself.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from node import rules
from node.schema import DERIVED, RESILIENCE
from reference.rates import EPC_BANDS, Rates


def _num(frame: pd.DataFrame, col: str) -> np.ndarray:
    return frame[col].to_numpy(dtype=float, na_value=np.nan)


def _bool(frame: pd.DataFrame, col: str) -> np.ndarray:
    return frame[col].to_numpy(dtype=bool)


def _is(frame: pd.DataFrame, col: str, value: str) -> np.ndarray:
    return (frame[col] == value).to_numpy(dtype=bool)


def _codes(frame: pd.DataFrame, col: str, categories: tuple[str, ...]) -> np.ndarray:
    s = frame[col]
    if isinstance(s.dtype, pd.CategoricalDtype) and tuple(s.cat.categories) == categories:
        codes = s.cat.codes.to_numpy()
    else:
        codes = pd.Categorical(s, categories=categories).codes
    if (codes < 0).any():
        bad = sorted(set(frame[col][codes < 0].astype(str)))[:5]
        raise ValueError(f"column {col} has values outside {categories}: {bad}")
    return codes


def _tariff_discount(bill: np.ndarray, ahc: np.ndarray, pension_credit: np.ndarray, rates: Rates) -> np.ndarray:
    """rules.water_social_tariff_discount for every row: the smallest band that brings the bill within target."""
    target = rates.water_social_tariff_target_share * ahc * rules.WEEKS_PER_YEAR
    bands = rates.water_social_tariff_bands
    discount = np.full(len(bill), bands[-1])
    for band in reversed(bands):
        discount = np.where(bill * (1.0 - band) <= target, band, discount)
    within = np.where(pension_credit, rates.water_social_tariff_pension_credit_discount, bands[0])
    return np.where(bill <= target, within, discount)


def _pc_income_tax_weekly(
    frame: pd.DataFrame, has_partner: np.ndarray, claimant_spa: np.ndarray, partner_spa: np.ndarray, rates: Rates
) -> np.ndarray:
    """rules.partner_taxable_incomes_annual then rules.pc_income_tax_weekly, for every row at once."""
    earnings, sp, private = (
        _num(frame, c) for c in ("earnings_weekly", "state_pension_weekly", "private_pension_weekly")
    )
    partner_spa = has_partner & partner_spa
    neither = has_partner & ~claimant_spa & ~partner_spa
    claimant_draws, partner_draws = claimant_spa | neither | ~has_partner, partner_spa | neither
    sp_each = sp / (claimant_draws.astype(int) + partner_draws.astype(int))
    shared = (earnings + private) / np.where(has_partner, 2, 1)
    mine = (shared + np.where(claimant_draws, sp_each, 0.0)) * 52
    theirs = np.where(has_partner, (shared + np.where(partner_draws, sp_each, 0.0)) * 52, 0.0)
    allowance, rate = rates.pc_income_tax_personal_allowance_annual, rates.pc_income_tax_basic_rate

    def tax(me: np.ndarray, other: np.ndarray) -> np.ndarray:
        unused = np.where(has_partner & (me > allowance), np.maximum(allowance - other, 0.0), 0.0)
        transfer = np.ceil(np.minimum(unused, rates.pc_marriage_allowance_annual) / 10) * 10
        return np.maximum((me - allowance - transfer) * rate, 0.0)

    return (tax(mine, theirs) + tax(theirs, mine)) / 52


def derive(frame: pd.DataFrame, rates: Rates, *, month: str | None = None) -> pd.DataFrame:
    """Return a copy of a validated snapshot with every DERIVED column added, using one tax year's rates.

    ``month`` ("YYYY-MM") is the snapshot month when the rates do not already carry it; it decides which free
    school meals rules apply. Energy is seasonally adjusted (annual / 12), so the month does not change costs.
    """
    if month is not None and month != rates.month:
        rates = dataclasses.replace(rates, month=month)
    has_partner = frame["partner_age"].notna().to_numpy()
    n_children = _num(frame, "n_children")
    n_nondeps = _num(frame, "n_non_dependants")
    on_uc = _bool(frame, "on_uc")
    hb = _num(frame, "hb_award_weekly")
    on_hb = hb > 0

    income = rules.weekly_income(
        _num(frame, "earnings_weekly"),
        _num(frame, "state_pension_weekly"),
        _num(frame, "private_pension_weekly"),
        _num(frame, "legacy_benefits_weekly"),
        _num(frame, "child_benefit_weekly"),
        _num(frame, "disability_benefits_weekly"),
        _num(frame, "carers_allowance_weekly"),
        _num(frame, "uc_award_monthly"),
        hb,
    )
    size = 1 + has_partner.astype(int) + n_children.astype(int) + n_nondeps.astype(int)

    rent = _num(frame, "eligible_rent_weekly")
    housing = rules.weekly_to_monthly(np.where(np.isnan(rent), hb, rent))
    ct_net = np.maximum(_num(frame, "ct_liability_annual") - _num(frame, "cts_award_annual"), 0.0) / 12

    extra_adults = has_partner.astype(int) + n_nondeps
    food = rates.food_first_adult_monthly + extra_adults * rates.food_other_adult_monthly
    food = food + n_children * rates.food_child_monthly
    other = rates.other_first_adult_monthly + extra_adults * rates.other_other_adult_monthly
    other = other + n_children * rates.other_child_monthly

    epc = _codes(frame, "epc_band", EPC_BANDS)
    size_idx = np.clip(size, 1, len(rates.energy_size_factor)) - 1
    energy_year = (
        rates.energy_typical_annual
        * np.asarray(rates.energy_size_factor)[size_idx]
        * np.asarray(rates.energy_epc_factor)[epc]
    )
    energy_month = energy_year / 12  # seasonally adjusted, as rules.energy_monthly
    ahc = rules.income_after_housing_and_council_tax_weekly(income, housing, ct_net)
    water_gross = np.where(
        _bool(frame, "water_metered"),
        rates.water_metered_standing_annual + size * rates.water_metered_per_person_annual,
        rates.water_unmetered_annual,
    )
    on_pc = _is(frame, "passported", "pension_credit_guarantee")
    water_year = np.where(
        _bool(frame, "water_social_tariff"),
        water_gross * (1 - _tariff_discount(water_gross, ahc, on_pc, rates)),
        water_gross,
    )
    water_month = rules.water_monthly(water_year)
    essentials = rules.essential_costs_monthly(food, other, energy_month, water_month)
    surplus = rules.monthly_surplus(income, housing, ct_net, essentials)

    arrears = (_num(frame, "ct_arrears") > 0) | (_num(frame, "rent_arrears") > 0)
    shortfall = surplus < 0
    category = np.select(
        [shortfall & arrears, shortfall, surplus < rules.STRUGGLING_BELOW_MONTHLY],
        ["in_crisis", "at_risk", "struggling"],
        default="coping",
    )

    equivalence = (
        rates.poverty_line_equivalence_first_adult
        + extra_adults * rates.poverty_line_equivalence_other_adult
        + n_children * rates.poverty_line_equivalence_child
    )
    residual = ahc - energy_year / 52
    fuel_poor = (epc >= EPC_BANDS.index("D")) & (residual / equivalence < rates.poverty_line_ahc_weekly_couple)
    family_share = (size - n_nondeps) / size  # rules.benefit_unit_share
    water_poor = water_year * family_share > rates.water_poverty_share * ahc * 52
    left_for_food = rules.weekly_to_monthly(income) - housing - energy_month - water_month - ct_net
    food_poor = left_for_food < food

    spa = rates.state_pension_age
    claimant_age = _num(frame, "claimant_age")
    partner_age = _num(frame, "partner_age")
    older, younger = np.fmax(claimant_age, partner_age), np.fmin(claimant_age, partner_age)
    # Only mixed-age couples need their claim start date read (string work, so kept to those few rows).
    mixed = np.flatnonzero(has_partner & (older >= spa) & (younger < spa))
    start = frame["claim_start_date"].iloc[mixed].fillna("").astype(str).to_numpy(dtype=str)
    on_pension_benefit = on_hb | _is(frame, "passported", "pension_credit_guarantee")
    protected = np.zeros(len(frame), dtype=bool)
    protected[mixed] = (start != "") & (start < rates.pc_mixed_age_protection_before)
    # The older partner at Pension Credit qualifying age on 14 May 2019, judged on the least their age can have
    # been then (rules.older_partner_age_lower_bound_then, the same arithmetic on the whole column).
    protected &= older - rules.years_since_mixed_age_qualifying_date(rates) >= rates.pc_mixed_age_qualifying_age
    protected &= on_pension_benefit & ~on_uc
    pension_age = np.where(has_partner, (older >= spa) & ((younger >= spa) | protected), claimant_age >= spa)
    tariff = np.where(_is(frame, "savings_band", "6k_to_16k"), rates.pc_tariff_income_6k_to_16k_weekly, 0.0)
    sd_adults = _num(frame, "severe_disability_adults")
    carer_paid = _bool(frame, "carer_paid_for_household")
    n_carers = _num(frame, "n_carers")
    sda = np.where(
        n_nondeps > 0,
        0,
        np.where(
            has_partner,
            np.select(
                [sd_adults >= 2, (sd_adults == 1) & _bool(frame, "partner_registered_blind")],
                [2 - carer_paid.astype(int), 1 - carer_paid.astype(int)],
                0,
            ),
            (sd_adults >= 1) & ~carer_paid,
        ),
    )
    disregard = np.where(
        (n_carers > 0) | (sd_adults > 0),
        rates.pc_earnings_disregard_special_weekly,
        np.where(has_partner, rates.pc_earnings_disregard_couple_weekly, rates.pc_earnings_disregard_single_weekly),
    )
    income_tax = _pc_income_tax_weekly(frame, has_partner, claimant_age >= spa, partner_age >= spa, rates)
    assessable = (
        np.maximum(_num(frame, "earnings_weekly") - disregard, 0.0)
        + _num(frame, "state_pension_weekly")
        + _num(frame, "private_pension_weekly")
        + _num(frame, "legacy_benefits_weekly")
        + _num(frame, "carers_allowance_weekly")
        + tariff
        - income_tax
    )
    guarantee = (
        np.where(has_partner, rates.pc_guarantee_couple_weekly, rates.pc_guarantee_single_weekly)
        + sda * rates.pc_severe_disability_addition_weekly
        + n_carers * rates.pc_carer_addition_weekly
    )
    eligible = (
        pension_age & ~_is(frame, "passported", "pension_credit_guarantee") & ~_is(frame, "savings_band", "over_16k")
    )
    gap = np.where(eligible, np.maximum(guarantee - assessable, 0.0), 0.0)

    school_kids = _num(frame, "n_school_age_children")
    uc_all = rates.effective_month >= rates.fsm_uc_all_households_from
    line_pence = round(rates.fsm_uc_net_earnings_threshold_annual * 100)
    uc_line = np.round(_num(frame, "earnings_weekly") * 52 * 100) <= line_pence  # whole pence, as rules.annual_pence
    legacy_route = frame["passported"].isin(list(rules.FSM_PASSPORTS)).to_numpy(dtype=bool)
    fsm_gap = (legacy_route | (on_uc & (uc_all | uc_line))) & (school_kids > 0) & ~_bool(frame, "fsm_awarded")
    cts = _num(frame, "cts_award_annual")

    derived = {
        "weekly_income": income,
        "housing_cost_monthly": housing,
        "essential_costs_monthly": essentials,
        "monthly_surplus": surplus,
        "resilience": pd.Categorical(category, categories=RESILIENCE),
        "cash_shortfall": shortfall,
        "fuel_poverty": fuel_poor,
        "water_poverty": water_poor,
        "water_bill_annual": water_year.astype(float),
        "food_poverty": food_poor,
        "pension_age": pension_age,
        "on_cts": cts > 0,
        "on_hb": on_hb,
        "pc_unclaimed": gap > 0,
        "pc_unclaimed_annual": rules.pc_unclaimed_annual(gap),
        "fsm_unclaimed": fsm_gap,
        "fsm_unclaimed_children": np.where(fsm_gap, school_kids, 0).astype("int64"),
        "uc_without_cts": on_uc & (cts <= 0),
        "household_size": size.astype("int64"),
    }
    kept = frame.drop(columns=[c for c in DERIVED if c in frame.columns])
    return pd.concat([kept, pd.DataFrame(derived, index=frame.index)], axis=1)
