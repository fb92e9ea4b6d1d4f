"""Benefit rates and cost assumptions by tax year, read from ``rates/<tax year>.toml``.

Rates are data, not code: a council officer updates a TOML file each April. ``rates_for_month`` picks the
tax year for a snapshot month (April to March).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

RATES_DIR = Path(__file__).parent / "rates"
CT_BANDS = ("A", "B", "C", "D", "E", "F", "G", "H")
EPC_BANDS = ("A", "B", "C", "D", "E", "F", "G")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# How TOML sections map onto flat field names: the prefix keeps names unambiguous in rule code.
_SECTION_PREFIX = {
    "pension": "",
    "disability": "",
    "child_benefit": "child_benefit_",
    "universal_credit": "uc_",
    "free_school_meals": "fsm_",
    "council_tax": "council_tax_",
    "energy": "energy_",
    "water": "water_",
    "poverty_line": "poverty_line_",
    "essential_spending": "",
}
# Keyed tables in TOML become tuples in this fixed order so that Rates stays hashable.
_KEYED = {"council_tax_band_ratio": CT_BANDS, "energy_epc_factor": EPC_BANDS}


class RatesError(ValueError):
    """A rates file is missing or malformed."""


@dataclass(frozen=True)
class Rates:
    """Every rate and cost assumption the rules need for one tax year (weekly unless named otherwise)."""

    tax_year: str
    # pension
    state_pension_age: int
    new_state_pension_weekly: float
    basic_state_pension_weekly: float
    pc_guarantee_single_weekly: float
    pc_guarantee_couple_weekly: float
    pc_savings_credit_max_single_weekly: float
    pc_savings_credit_max_couple_weekly: float
    pc_tariff_income_6k_to_16k_weekly: float
    pc_severe_disability_addition_weekly: float
    pc_carer_addition_weekly: float
    pc_earnings_disregard_single_weekly: float
    pc_earnings_disregard_couple_weekly: float
    pc_earnings_disregard_special_weekly: float
    pc_mixed_age_protection_before: str  # "YYYY-MM-DD"
    pc_mixed_age_qualifying_date: str  # "YYYY-MM-DD": the older partner must have reached the age below by then
    pc_mixed_age_qualifying_age: float  # years, fractional
    pc_income_tax_personal_allowance_annual: float
    pc_income_tax_basic_rate: float
    pc_marriage_allowance_annual: float
    # disability and carers
    attendance_allowance_higher_weekly: float
    attendance_allowance_lower_weekly: float
    pip_daily_living_enhanced_weekly: float
    pip_daily_living_standard_weekly: float
    pip_mobility_enhanced_weekly: float
    pip_mobility_standard_weekly: float
    carers_allowance_weekly: float
    child_benefit_eldest_weekly: float
    child_benefit_other_weekly: float
    # universal credit (monthly)
    uc_standard_single_under25_monthly: float
    uc_standard_single_25plus_monthly: float
    uc_standard_couple_under25_monthly: float
    uc_standard_couple_25plus_monthly: float
    uc_child_first_pre2017_monthly: float
    uc_child_monthly: float
    uc_lcwra_monthly: float
    uc_carer_monthly: float
    uc_work_allowance_with_housing_monthly: float
    uc_work_allowance_without_housing_monthly: float
    uc_taper: float
    uc_capital_lower: float
    uc_capital_upper: float
    uc_benefit_cap_single_monthly: float
    uc_benefit_cap_family_monthly: float
    fsm_uc_net_earnings_threshold_annual: float
    fsm_uc_all_households_from: str  # "YYYY-MM": first month every UC household qualifies
    # council tax
    council_tax_band_d_annual: float
    council_tax_band_ratio: tuple[float, ...]
    council_tax_single_person_discount: float
    # energy, water
    energy_typical_annual: float
    energy_size_factor: tuple[float, ...]
    energy_epc_factor: tuple[float, ...]
    energy_monthly_factor: tuple[float, ...]
    water_annual_bill: float
    water_poverty_share: float
    water_metered_standing_annual: float
    water_metered_per_person_annual: float
    water_unmetered_annual: float
    water_social_tariff_bands: tuple[float, ...]  # Essentials discounts, smallest first
    water_social_tariff_pension_credit_discount: float
    water_social_tariff_target_share: float
    # poverty line and essential spending (assumptions, see the TOML comments)
    poverty_line_ahc_weekly_couple: float
    poverty_line_equivalence_first_adult: float
    poverty_line_equivalence_other_adult: float
    poverty_line_equivalence_child: float
    food_first_adult_monthly: float
    food_other_adult_monthly: float
    food_child_monthly: float
    other_first_adult_monthly: float
    other_other_adult_monthly: float
    other_child_monthly: float
    # snapshot month ("YYYY-MM") when chosen by rates_for_month; "" means the tax year's April (effective_month)
    month: str = ""
    partial: bool = False

    def energy_annual(self, household_size: int, epc_band: str) -> float:
        """Modelled annual energy bill for a household size and EPC band (before seasonality)."""
        size_idx = min(max(household_size, 1), len(self.energy_size_factor)) - 1
        return (
            self.energy_typical_annual
            * self.energy_size_factor[size_idx]
            * self.energy_epc_factor[EPC_BANDS.index(epc_band)]
        )

    @property
    def effective_month(self) -> str:
        """The snapshot month the rules apply to: the carried month, else the tax year's first month (April)."""
        return self.month or f"{self.tax_year[:4]}-04"

    @property
    def energy_season_factor(self) -> float:
        """Multiplier of the average monthly energy bill for this calendar month (1.0 if none).

        Kept for reference: derived measures use seasonally adjusted energy (annual / 12), docs/lsi.md.
        """
        if not self.month:
            return 1.0
        return self.energy_monthly_factor[int(self.month[5:7]) - 1]

    def council_tax_ratio(self, band: str) -> float:
        """Ratio of a council tax band to Band D."""
        return self.council_tax_band_ratio[CT_BANDS.index(band)]


def tax_year_of(month: str) -> str:
    """Tax year label ("2025-26") of a snapshot month ("2025-10"); April starts the year."""
    m = _MONTH.match(month)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise RatesError(f"month {month!r} is not in the form YYYY-MM (for example 2025-10)")
    year, mon = int(m.group(1)), int(m.group(2))
    start = year if mon >= 4 else year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def available_tax_years() -> list[str]:
    """Tax years that have a rates file."""
    return sorted(p.stem for p in RATES_DIR.glob("*.toml"))


def _flatten(doc: dict, source: Path) -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            if key not in _SECTION_PREFIX:
                raise RatesError(f"{source.name}: unknown section [{key}]")
            for k, v in value.items():
                flat[_SECTION_PREFIX[key] + k] = v
        else:
            flat[key] = value
    for name, order in _KEYED.items():
        table = flat.get(name)
        if isinstance(table, dict):
            missing = [b for b in order if b not in table]
            if missing:
                raise RatesError(f"{source.name}: {name} lacks bands {', '.join(missing)}")
            flat[name] = tuple(float(table[b]) for b in order)
    for name, value in flat.items():
        if isinstance(value, list):
            flat[name] = tuple(float(v) for v in value)
    return flat


@cache
def load_rates(tax_year: str) -> Rates:
    """Rates for a tax year label such as "2025-26"; raises RatesError naming the files available."""
    path = RATES_DIR / f"{tax_year}.toml"
    if not path.exists():
        raise RatesError(
            f"no rates file for tax year {tax_year}: add {path} "
            f"(available: {', '.join(available_tax_years()) or 'none'})"
        )
    with path.open("rb") as f:
        flat = _flatten(tomllib.load(f), path)
    names = {f.name for f in fields(Rates)}
    unknown = sorted(set(flat) - names)
    required = {f.name for f in fields(Rates) if f.default is dataclasses.MISSING}
    missing = sorted(required - set(flat))
    if unknown or missing:
        raise RatesError(f"{path.name}: missing keys {missing or 'none'}; unknown keys {unknown or 'none'}")
    rates = Rates(**flat)  # type: ignore[arg-type]
    if not _MONTH.match(rates.fsm_uc_all_households_from):
        raise RatesError(f"{path.name}: free_school_meals.uc_all_households_from must be YYYY-MM")
    if not _DATE.match(rates.pc_mixed_age_protection_before):
        raise RatesError(f"{path.name}: pension.pc_mixed_age_protection_before must be YYYY-MM-DD")
    if not _DATE.match(rates.pc_mixed_age_qualifying_date):
        raise RatesError(f"{path.name}: pension.pc_mixed_age_qualifying_date must be YYYY-MM-DD")
    if len(rates.energy_monthly_factor) != 12 or len(rates.energy_size_factor) < 1:
        raise RatesError(f"{path.name}: energy.monthly_factor needs 12 values, January first")
    bands = rates.water_social_tariff_bands
    if not bands or list(bands) != sorted(bands) or not all(0 <= b <= 1 for b in bands):
        raise RatesError(f"{path.name}: water.social_tariff_bands must be discounts from 0 to 1, smallest first")
    return rates


def rates_for_month(month: str) -> Rates:
    """Rates in force in a snapshot month ("YYYY-MM"), carrying the month for date-dependent rules (school meals)."""
    return dataclasses.replace(load_rates(tax_year_of(month)), month=month)
