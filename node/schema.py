"""The household snapshot schema, as data: raw columns a district supplies and columns ``derive`` adds.

Column names here are the contract with the loader, the rules, the query executor and the indicator
catalogue. Money is in pounds; ``unit`` says per week, month or year.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["int", "float", "bool", "category", "text"]

TENURES = ("council", "housing_association", "private_lha", "private_other", "owner_occupier", "temporary")
EPC_BANDS = ("A", "B", "C", "D", "E", "F", "G")
CT_BANDS = ("A", "B", "C", "D", "E", "F", "G", "H")
SAVINGS_BANDS = ("under_6k", "6k_to_16k", "over_16k")
PASSPORTS = ("pension_credit_guarantee", "income_based_jsa_esa", "income_support", "none")
EMPLOYMENT = (
    "employed",
    "self_employed",
    "unemployed",
    "retired",
    "sick_or_disabled",
    "carer",
    "student",
    "other",
)
RESILIENCE = ("in_crisis", "at_risk", "struggling", "coping")

# Upper limits catch keying errors (a rent of 12000 a week) without rejecting real large cases.
_WEEKLY_MAX = 5000.0


@dataclass(frozen=True)
class Column:
    """One column of the household table: type, meaning and valid values."""

    name: str
    kind: Kind
    description: str
    categories: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    identifier: bool = False
    derived: bool = False
    unit: str = ""
    pattern: str = ""  # text columns: a regular expression every non-empty value must match in full
    pattern_hint: str = ""  # how the pattern reads to a council officer, e.g. "a date YYYY-MM-DD"


def _money(name: str, description: str, unit: str, maximum: float = _WEEKLY_MAX, **kw: object) -> Column:
    return Column(name, "float", description, minimum=0.0, maximum=maximum, unit=unit, **kw)  # type: ignore[arg-type]


_RAW: tuple[Column, ...] = (
    Column("household_id", "text", "Local household reference; never released.", identifier=True),
    # Categories come from the district's public ward list, so they are filled in by the loader.
    Column("ward_code", "category", "ONS code of the electoral ward (2025 boundaries) of the home."),
    Column("postcode_sector", "text", "Postcode sector, e.g. 'CT9 1'; too fine to group by.", identifier=True),
    Column("claimant_age", "int", "Age of the claimant in whole years.", minimum=16, maximum=110, unit="years"),
    Column(
        "partner_age",
        "int",
        "Age of the partner; empty if single.",
        minimum=16,
        maximum=110,
        nullable=True,
        unit="years",
    ),
    Column("n_children", "int", "Dependent children in the household.", minimum=0, maximum=12),
    Column(
        "n_school_age_children",
        "int",
        "Dependent children in school, reception to year 13 (<= n_children).",
        minimum=0,
        maximum=12,
    ),
    Column(
        "youngest_child_age",
        "int",
        "Age of the youngest child; empty if none.",
        minimum=0,
        maximum=19,
        nullable=True,
        unit="years",
    ),
    Column("n_non_dependants", "int", "Other adults living in the home (non-dependants).", minimum=0, maximum=8),
    Column("tenure", "category", "Housing tenure.", categories=TENURES),
    Column("epc_band", "category", "Energy Performance Certificate band of the home.", categories=EPC_BANDS),
    _money("earnings_weekly", "Net earnings from employment and self-employment.", "£ a week"),
    _money("state_pension_weekly", "State Pension, claimant and partner.", "£ a week"),
    _money("private_pension_weekly", "Occupational and private pensions, net.", "£ a week"),
    _money(
        "legacy_benefits_weekly",
        "Income-related benefits other than UC and HB: ESA, JSA, Income Support and Pension Credit.",
        "£ a week",
    ),
    _money("child_benefit_weekly", "Child Benefit.", "£ a week"),
    _money("disability_benefits_weekly", "PIP, DLA and Attendance Allowance.", "£ a week"),
    _money("carers_allowance_weekly", "Carer's Allowance.", "£ a week"),
    _money(
        "uc_award_monthly",
        "Universal Credit award for the assessment period, including housing element.",
        "£ a month",
        maximum=10000.0,
    ),
    Column("on_uc", "bool", "Household is on Universal Credit."),
    Column("lcwra", "bool", "UC limited capability for work and work-related activity."),
    Column("savings_band", "category", "Capital band.", categories=SAVINGS_BANDS),
    Column(
        "passported",
        "category",
        "Passporting benefit for HB/CTS, or 'none' for a standard case.",
        categories=PASSPORTS,
    ),
    Column("employment_status", "category", "Claimant's employment status.", categories=EMPLOYMENT),
    _money("eligible_rent_weekly", "Eligible rent; empty if not known or not renting.", "£ a week", nullable=True),
    _money("hb_award_weekly", "Housing Benefit award.", "£ a week"),
    _money(
        "benefit_cap_weekly",
        "Benefit cap amount if the household is capped; empty otherwise.",
        "£ a week",
        nullable=True,
    ),
    Column("council_tax_band", "category", "Council tax valuation band.", categories=CT_BANDS),
    _money(
        "ct_liability_annual",
        "Council tax liability after discounts, before support.",
        "£ a year",
        maximum=20000.0,
    ),
    _money("cts_award_annual", "Council Tax Support (reduction) awarded.", "£ a year", maximum=20000.0),
    _money("ct_arrears", "Council tax arrears outstanding.", "£", maximum=100000.0),
    _money(
        "rent_arrears",
        "Rent arrears outstanding (council and housing association where shared).",
        "£",
        maximum=100000.0,
    ),
    Column("fsm_awarded", "bool", "Children recorded as receiving free school meals (education data link)."),
    Column(
        "claim_start_date",
        "text",
        "Date (YYYY-MM-DD) the household's current continuous Housing Benefit or Pension Credit claim began; "
        "empty if not known. A mixed-age couple counts as pension age only if it began before 15 May 2019.",
        nullable=True,
        # Quasi-identifying in combination with ward and ages, so never grouped or filtered on.
        identifier=True,
        pattern=r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])",
        pattern_hint="a date written YYYY-MM-DD, e.g. 2018-03-01",
    ),
    Column(
        "severe_disability_adults",
        "int",
        "Claimant and partner receiving a qualifying disability benefit for the Pension Credit severe "
        "disability addition: Attendance Allowance, PIP daily living, or DLA care at the middle or highest rate.",
        minimum=0,
        maximum=2,
    ),
    Column(
        "carer_paid_for_household",
        "bool",
        "Someone (in or outside the home) is paid Carer's Allowance or the UC carer element for caring for the "
        "claimant or partner.",
    ),
    Column(
        "n_carers",
        "int",
        "Claimant and partner entitled to Carer's Allowance, paid or underlying (the Pension Credit carer addition).",
        minimum=0,
        maximum=2,
    ),
    Column("water_metered", "bool", "The home's water supply is metered."),
    Column("water_social_tariff", "bool", "The household is on the water company's social tariff (Essentials)."),
    Column(
        "partner_registered_blind",
        "bool",
        "In a couple, the partner without a qualifying disability benefit is registered blind (severely sight "
        "impaired); it brings the couple within the Pension Credit severe disability addition.",
    ),
)

_DERIVED: tuple[Column, ...] = (
    Column(
        "weekly_income",
        "float",
        "All net income including benefits (HB and UC housing element counted; UC converted monthly x 12 / 52).",
        derived=True,
        unit="£ a week",
    ),
    Column(
        "housing_cost_monthly",
        "float",
        "Eligible rent (or HB award where rent is missing) x 52 / 12; 0 for owner-occupiers (mortgages not held).",
        derived=True,
        unit="£ a month",
    ),
    Column(
        "essential_costs_monthly",
        "float",
        "Modelled food, other essentials, energy (seasonally adjusted: the annual bill / 12) and the household's "
        "water bill / 12.",
        derived=True,
        unit="£ a month",
    ),
    Column(
        "monthly_surplus",
        "float",
        "Income less housing, council tax net of CTS and essential costs; may be negative.",
        derived=True,
        unit="£ a month",
    ),
    Column(
        "resilience",
        "category",
        "Financial resilience (our definition): in_crisis = shortfall and arrears; "
        "at_risk = shortfall, no arrears; struggling = surplus under £100; coping = £100 or more.",
        categories=RESILIENCE,
        derived=True,
    ),
    Column("cash_shortfall", "bool", "Monthly surplus below zero.", derived=True),
    Column(
        "fuel_poverty",
        "bool",
        "LILEE: EPC D-G and equivalised income after housing costs, council tax and energy below the poverty line.",
        derived=True,
    ),
    Column(
        "water_poverty",
        "bool",
        "The household's water bill (by occupants, metering and social tariff) above 5% of net income after "
        "housing costs and council tax.",
        derived=True,
    ),
    Column(
        "water_bill_annual",
        "float",
        "Modelled water bill: metered by occupants, unmetered the average; less the social tariff's discount band "
        "(20% to 90%, by the bill's share of income after housing costs).",
        derived=True,
        unit="£ a year",
    ),
    Column(
        "food_poverty",
        "bool",
        "Income after housing, energy, water and council tax below the modelled food budget (our definition).",
        derived=True,
    ),
    Column(
        "pension_age",
        "bool",
        "Pension Credit age household: claimant, and partner if any, at State Pension age; a mixed-age couple "
        "counts only if on HB, not UC, with a claim begun before 15 May 2019 (the protection).",
        derived=True,
    ),
    Column("on_cts", "bool", "Council Tax Support award above zero.", derived=True),
    Column("on_hb", "bool", "Housing Benefit award above zero.", derived=True),
    Column(
        "pc_unclaimed",
        "bool",
        "Pension-age household apparently entitled to Pension Credit guarantee but not receiving it (minimum "
        "guarantee with the severe disability and carer additions).",
        derived=True,
    ),
    Column(
        "pc_unclaimed_annual",
        "float",
        "Value of unclaimed Pension Credit: weekly gap x 52; 0 otherwise.",
        derived=True,
        unit="£ a year",
    ),
    Column(
        "fsm_unclaimed",
        "bool",
        "Household on a qualifying benefit (UC: earnings up to £7,400 until August 2026, any from September "
        "2026; Income Support, income-based JSA/ESA, Pension Credit guarantee) with school-age children not "
        "recorded as receiving free school meals.",
        derived=True,
    ),
    Column(
        "fsm_unclaimed_children",
        "int",
        "School-age children in an fsm_unclaimed household; 0 otherwise.",
        derived=True,
    ),
    Column("uc_without_cts", "bool", "On Universal Credit with no Council Tax Support award.", derived=True),
    Column("household_size", "int", "Claimant, partner, children and non-dependants.", derived=True),
)

SCHEMA: dict[str, Column] = {c.name: c for c in _RAW}
DERIVED: dict[str, Column] = {c.name: c for c in _DERIVED}


def queryable_columns() -> dict[str, Column]:
    """Raw and derived columns an analyst may filter or group by: everything except identifiers."""
    return {n: c for n, c in {**SCHEMA, **DERIVED}.items() if not c.identifier}


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A hint naming the closest known names to a mistyped one, e.g. " (did you mean 'on_cts'?)", or ""."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
