"""Deterministic synthetic household records for the active geography pack's districts, calibrated to its figures.

Every household has latent traits (ages, composition, tenure, how its pension compares with the Pension
Credit guarantee, ...) drawn once; each month's snapshot is rendered from those traits and that month's
rates, so benefit amounts step up each April with the new tax year. Between months about 1.5% of
households leave and are replaced, earnings change for some, private rents drift and arrears come and go.
The same seed always gives byte-identical files.

Calibration targets (each checked by a test at scale 1.0; sources in docs/lsi.md): UC households among the records
equal DWP's count for the district (May 2025, reference/kent.md), so the caseload is that count / (share of
working-age records on UC x share of working age); about 40% pension age; about 36,000 Pension Credit
claimants county-wide (18,000 missing out is "roughly a third of those eligible"); 921 households with
unclaimed Pension Credit at about £1,700 a year (the county analysis); water and fuel poverty, counted over all
the area's households, within the published all-household ranges (PUBLISHED_ALL_HOUSEHOLD_RATES). Most homes are in
council tax bands A-C; 15% of households eligible for free school meals are not recorded as receiving them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from node import rules
from node.derive import derive
from node.schema import CT_BANDS, EMPLOYMENT, EPC_BANDS, PASSPORTS, SAVINGS_BANDS, SCHEMA, TENURES
from reference import geography
from reference.rates import Rates, rates_for_month

PENSION_SHARE = 0.40  # target: about 40% of a CTS caseload is pension age (reference/kent.md)
UC_SHARE_WORKING_AGE = 0.92  # working-age records on UC; the rest on legacy benefits or none
PC_CLAIMANT_SHARE = 0.352  # of pensioner records: gives about 36,000 Pension Credit claimants at scale 1.0
MONTHLY_LEAVERS = 0.015
UNCLAIMED_PC_SHARE = 0.0147  # of pensioners not on Pension Credit: about 921 households at scale 1.0
UNCLAIMED_GAP_SCALE = 16.8  # gamma(2, scale) weekly gap, mean about £33 a week: £1,700 a year after disregards
MIXED_AGE_PROTECTED = 0.25  # of pensioner couples with a partner under SPA (138 of 562 in the county check)
# ... drawn only where the older partner was surely of Pension Credit qualifying age in May 2019 (76 at scale 1.0)
WATER_METERED = 0.88  # Southern Water's universal metering programme: about 88-90% of homes metered
# Water social tariff take-up. Pension Credit: 35% of Southern Water's customers eligible for Pension Credit were
# on a social tariff (Water4All trial, Sagacity with Southern Water, Utility Week). Low income (a means-tested
# benefit and earnings under the Essentials line of £16,105 a year): about 1 million households get help against
# 3.8 million eligible households missing out (CIPHE citing Water UK; Policy in Practice 2025), so about 21%.
# ASSUMPTION: 5% of other means-tested households (help through arrears schemes) and 1% of the rest.
WATER_SOCIAL_TARIFF_PC = 0.35
WATER_SOCIAL_TARIFF_LOW_INCOME = 0.21
WATER_SOCIAL_TARIFF_OTHER_MEANS_TESTED = 0.05
WATER_SOCIAL_TARIFF_OTHER = 0.01
ESSENTIALS_INCOME_LINE_ANNUAL = 16_105.0  # Southern Water Essentials tariff income limit
# ASSUMPTION: about 1% of people over 65 are registered severely sight impaired (NHS England, Registered Blind
# and Partially Sighted People); for pensioner couples, the partner without a qualifying disability benefit.
PARTNER_BLIND = 0.01
# Homes' EPC bands A-G by tenure, English Housing Survey 2023 (energy report, via NHF, September 2025): 72.5% of
# housing association homes are C or better (local authority homes close behind), 48.4% of private rented and
# 48.8% of owner-occupied; 9.4% of all homes are E-G.
EPC_SOCIAL = [0.5, 14, 55.5, 24, 4.5, 1, 0.5]
EPC_OTHER = [0.3, 6, 42.2, 40.5, 8, 2.2, 0.8]
FSM_TAKEUP = 0.85
MAX_EARNINGS_WEEKLY = 2500.0  # no synthetic earnings above this (the schema refuses over £5,000 a week)
# Calibration targets at scale 1.0, checked by tests/test_synth.py (sources in docs/lsi.md, "Synthetic data").
TARGET_PC_CLAIMANTS = 36_000  # reference/kent.md: 18,000 missing out is about a third of those eligible
TARGET_PC_UNCLAIMED = 921  # reference/kent.md: households found in the councils' own records
TARGET_PC_UNCLAIMED_ANNUAL_MEAN = 1_700.0  # ... worth about £1,700 a year each
# Published rates are for all households, so the synthetic count is compared over all the area's households (the
# pack's [synth] households, Census 2021): the records hold nearly every low-income household, so this is the
# county rate less the few poor households outside the benefit records.
PUBLISHED_ALL_HOUSEHOLD_RATES = {
    # bill above 5% of income after housing costs: 6.3% (England 2019/20, Water UK 2021) to 10.0% (England and
    # Wales 2018/19, Bradshaw and Keung, University of York 2021)
    "water_poverty": (0.063, 0.100),
    # Low Income Low Energy Efficiency, 2022: South East 9.7%, England 13.1% (DESNZ, Sub-regional fuel poverty in
    # England 2024)
    "fuel_poverty": (0.097, 0.131),
}


def area_households() -> int:
    """All households in the pack's area (its Census figure, or its dwellings where it gives none)."""
    pack = geography.active()
    return pack.synth.households or sum(d.dwellings for d in pack.districts)


FORMATS = ("csv", "parquet", "xlsx")

# Council housing, private rents and postcode areas per district: the pack's [synth] assumptions (pack.toml).
# Local Housing Allowance (one district), £ a week, frozen at January 2024 levels (1-4 bedrooms; 4-bed estimated).
_LHA = np.array([172.60, 195.62, 252.64, 310.00])
_NONDEP_DEDUCTION_MONTHLY = 93.02  # UC housing cost contribution per non-dependant, 2025-26


@dataclass(frozen=True)
class _Profile:
    code: str
    index: int
    households: int
    deprivation: float  # UC households per dwelling, standardised across the pack's districts
    council_stock: bool
    rent_factor: float
    band_d_factor: float  # district Band D relative to the pack's reference district (parish precepts, shares)
    cts_max_share: float  # working-age CTS scheme maximum share of liability
    council_tax: tuple[float, ...] | None = None  # annual bill by band A-H from the geography pack, if it has them


def _pension_share(dep: np.ndarray | float) -> np.ndarray:
    """Chance a new household is of pension age, lower in more deprived places."""
    return np.clip(PENSION_SHARE - 0.04 * np.asarray(dep), 0.2, 0.6)


def _uc_share(district_dep: float) -> float:
    """Expected share of a district's records on UC (wards' deprivation averages about zero)."""
    return float((1.0 - _pension_share(0.5 * district_dep)) * UC_SHARE_WORKING_AGE)


def _months(end_month: str, months: int) -> list[str]:
    end = pd.Period(end_month, freq="M")
    return [str(end - k) for k in range(months - 1, -1, -1)]


def _profile(code: str, scale: float) -> _Profile:
    all_d = geography.districts()
    index = [d.code for d in all_d].index(code)
    ratios = np.array([d.uc_households / d.dwellings for d in all_d])
    d = all_d[index]
    spread = ratios.std()  # 0 for a unitary pack's single district: it is the average
    dep = float((ratios[index] - ratios.mean()) / spread) if spread > 0 else 0.0
    # Fixed per-district draws, independent of the seed: the district's scheme is not random between runs.
    local = np.random.default_rng(1000 + index)
    assume = geography.active().synth
    return _Profile(
        code=code,
        index=index,
        households=max(int(round(d.uc_households / _uc_share(dep) * scale)), 1),
        deprivation=dep,
        council_stock=code in assume.council_stock,
        rent_factor=assume.rent_factor.get(code, 1.0),
        band_d_factor=1.0 if code == assume.band_d_reference else float(local.uniform(1.0, 1.04)),
        cts_max_share=float(local.choice([0.70, 0.75, 0.80, 0.85])),
        council_tax=d.council_tax,
    )


def _pick(rng: np.random.Generator, n: int, p: list[float]) -> np.ndarray:
    p_arr = np.asarray(p, dtype=float)
    return rng.choice(len(p_arr), size=n, p=p_arr / p_arr.sum())


def _new_households(
    rng: np.random.Generator,
    n: int,
    prof: _Profile,
    ward_weights: np.ndarray,
    ward_dep: np.ndarray,
    first_id: int,
    first_month: bool,
    arrival: np.datetime64,
) -> dict[str, np.ndarray]:
    """Latent traits for n new households arriving in the month starting ``arrival``."""
    ward = rng.choice(len(ward_weights), size=n, p=ward_weights)
    if first_month:  # every ward gets at least one household, so every ward appears in the data
        k = min(n, len(ward_weights))
        ward[:k] = rng.permutation(len(ward_weights))[:k]
    dep = ward_dep[ward] + 0.5 * prof.deprivation
    pens = rng.random(n) < _pension_share(dep)
    wa = ~pens

    # composition: pensioners mostly single; working age single, lone parent or couple
    hh_type = np.where(pens, np.where(rng.random(n) < 0.28, 3, 0), _pick(rng, n, [0.42, 0.26, 0.20, 0.12]))
    couple = (hh_type == 2) | (hh_type == 3)
    with_kids = wa & ((hh_type == 1) | (hh_type == 2))
    claimant_age = np.where(
        pens,
        66 + np.minimum(rng.gamma(2.0, 5.0, n), 34),
        np.where(
            hh_type == 1,
            np.clip(19 + rng.gamma(3.0, 5.5, n), 19, 58),
            np.clip(18 + rng.gamma(3.0, 8.5, n), 18, 65),
        ),
    ).astype(int)
    partner_age = np.where(couple, np.round(claimant_age + rng.normal(-2, 4, n)), np.nan)
    partner_age = np.where(pens, np.clip(partner_age, 55, 100), np.clip(partner_age, 18, 65))
    n_children = np.where(with_kids, 1 + _pick(rng, n, [0.38, 0.33, 0.18, 0.08, 0.03]), 0)
    youngest = np.where(with_kids, rng.integers(0, 16, n), -1)
    # children about two years apart: count those of school age (4-18, reception to year 13)
    ages = youngest[:, None] + 2 * np.arange(5)[None, :]
    present = np.arange(5)[None, :] < n_children[:, None]
    n_school = (present & (ages >= 4) & (ages <= 18)).sum(axis=1)
    eldest = np.where(with_kids, youngest + 2 * (n_children - 1), -1)
    n_nondeps = np.where(rng.random(n) < np.where(pens, 0.08, 0.12), 1 + (rng.random(n) < 0.15), 0)

    emp_wa = np.where(
        hh_type == 0,
        _pick(rng, n, [0.30, 0.04, 0.25, 0.0, 0.30, 0.04, 0.02, 0.05]),
        np.where(
            hh_type == 1,
            _pick(rng, n, [0.45, 0.04, 0.20, 0.0, 0.12, 0.10, 0.0, 0.09]),
            _pick(rng, n, [0.55, 0.08, 0.12, 0.0, 0.18, 0.05, 0.0, 0.02]),
        ),
    )
    employment = np.where(pens, np.where(rng.random(n) < 0.05, 0, 3), emp_wa)
    earn_mult = np.exp(-0.12 * dep)
    earnings = (
        np.select(
            [employment == 0, employment == 1, employment == 6],
            [rng.lognormal(np.log(np.where(pens, 80, 260)), 0.55), rng.lognormal(np.log(180), 0.7, n), 60.0],
            default=0.0,
        )
        * earn_mult
        * np.where(couple & wa, 1.25, 1.0)
    ).clip(0.0, MAX_EARNINGS_WEEKLY)

    sick = employment == 4
    on_uc = wa & (rng.random(n) < UC_SHARE_WORKING_AGE)
    legacy_kind = np.where(
        wa & ~on_uc,
        np.where(
            sick,
            _pick(rng, n, [0.0, 0.8, 0.0, 0.2]),
            np.where((hh_type == 1) | (employment == 5), _pick(rng, n, [0, 0, 0.5, 0.5]), 3),
        ),
        3,
    )
    pc_passported = pens & (rng.random(n) < PC_CLAIMANT_SHARE)
    passported = np.where(pc_passported, 0, legacy_kind)
    lcwra = on_uc & sick & (rng.random(n) < 0.75)
    pip_dl = np.where(wa & (rng.random(n) < np.where(sick, 0.55, 0.06)), 1 + (rng.random(n) < 0.45), 0)
    pip_mob = np.where(pip_dl > 0, _pick(rng, n, [0.35, 0.35, 0.30]), 0)
    aa = np.where(pens & (rng.random(n) < 0.18), 1 + (rng.random(n) < 0.45), 0)
    partner_aa = np.where(pens & couple & (rng.random(n) < 0.15), 1 + (rng.random(n) < 0.45), 0)
    severe_adults = np.where(pens, (aa > 0).astype(int) + (partner_aa > 0), (pip_dl > 0).astype(int))
    # someone (often a relative living elsewhere) is paid Carer's Allowance for a disabled claimant or partner
    carer_paid = (severe_adults > 0) & (rng.random(n) < 0.12)
    # a pensioner caring for a disabled partner has underlying entitlement to Carer's Allowance
    pens_carer = pens & couple & (severe_adults == 1) & (rng.random(n) < 0.35)

    # State pension as a share of the full new rate: new-style for those reaching SPA since 2016.
    new_style = claimant_age <= 75
    sp_share = np.where(
        new_style,
        np.clip(rng.normal(0.95, 0.06, n), 0.6, 1.0),
        np.clip(0.766 + rng.normal(0.10, 0.08, n), 0.6, 1.2),
    )
    partner_sp = np.where(pens & couple & (partner_age >= 66), np.clip(rng.normal(0.85, 0.12, n), 0.4, 1.0), 0.0)
    unclaimed = pens & ~pc_passported & (rng.random(n) < UNCLAIMED_PC_SHARE)
    gap = np.clip(rng.gamma(2.0, UNCLAIMED_GAP_SCALE, n), 1.0, 150.0)
    # income relative to the guarantee: below it for the unclaimed group, comfortably above for others
    pc_ratio = np.where(unclaimed, -gap, 1.0 + rng.lognormal(np.log(0.30), 0.6, n))
    savings = np.where(
        pens & ~pc_passported,
        np.where(unclaimed, _pick(rng, n, [0.75, 0.20, 0.05]), _pick(rng, n, [0.55, 0.27, 0.18])),
        np.where(pc_passported, _pick(rng, n, [0.85, 0.15, 0.0]), _pick(rng, n, [0.90, 0.10, 0.0])),
    )

    council_share = 0.28 if prof.council_stock else 0.0
    tenure = np.where(
        pens,
        _pick(rng, n, [council_share * 0.8, 0.50 - council_share * 0.8, 0.12, 0.025, 0.35, 0.005]),
        _pick(rng, n, [council_share, 0.58 - council_share, 0.28, 0.03, 0.09, 0.02]),
    )
    bedrooms = np.clip(1 + np.ceil(n_children / 2).astype(int), 1, 4)
    lha = _LHA[bedrooms - 1] * prof.rent_factor
    shared = wa & (hh_type == 0) & (claimant_age < 35)
    rent = np.select(
        [tenure <= 1, tenure == 2, tenure == 3, tenure == 5],
        [
            (95 + 15 * bedrooms + rng.normal(0, 10, n)) * (0.9 + 0.1 * prof.rent_factor),
            np.where(shared, 0.55, 1.0) * lha * rng.normal(1.0, 0.05, n),
            1.15 * lha * rng.normal(1.0, 0.08, n),
            rng.normal(250, 40, n),
        ],
        default=np.nan,
    )
    rent = np.where(rng.random(n) < 0.004, np.nan, rent)  # data gaps: rent not recorded

    owner = tenure == 4
    band = np.where(
        owner,
        _pick(rng, n, [10, 25, 30, 20, 10, 4, 1, 0.2]),
        _pick(rng, n, [24, 36, 25, 10, 3.5, 1, 0.4, 0.1]),
    )
    epc = np.where(tenure <= 1, _pick(rng, n, EPC_SOCIAL), _pick(rng, n, EPC_OTHER))
    # Mixed-age pensioner couples: protected (a claim since before 15 May 2019) where they rent or get Pension
    # Credit and the older partner (the claimant: the partner is under 66) was surely at Pension Credit qualifying
    # age on 14 May 2019 (rules.mixed_age_protected), with a year in hand so the whole-year age shows it until the
    # next birthday whatever month it is read in; the rest would be on UC, so we make their partner of pension
    # age to keep the record coherent.
    mixed = pens & couple & (partner_age < 66)
    then = rates_for_month(str(arrival)[:7])
    old_enough = (
        claimant_age - rules.years_since_mixed_age_qualifying_date(then) >= then.pc_mixed_age_qualifying_age + 1
    )
    protected = mixed & ((tenure != 4) | pc_passported) & (rng.random(n) < MIXED_AGE_PROTECTED) & old_enough
    partner_age = np.where(mixed & ~protected, 66 + rng.integers(0, 3, n), partner_age)
    partner_sp = np.where(pens & couple & (partner_age >= 66), np.clip(rng.normal(0.85, 0.12, n), 0.4, 1.0), 0.0)
    # claim start: on arrival for newcomers; spread over the past for the opening caseload
    back = rng.integers(0, np.where(pens, 4000, 2500)) if first_month else rng.integers(0, 28, n)
    claim_start = arrival - (back if first_month else -back).astype("timedelta64[D]")
    before = np.datetime64("2019-05-14") - rng.integers(0, 3000, n).astype("timedelta64[D]")
    claim_start = np.where(
        protected, before, np.where(mixed, np.maximum(claim_start, np.datetime64("2019-06-01")), claim_start)
    )
    means_tested = on_uc | (passported != 3) | pc_passported
    low_income = means_tested & (earnings * 52 < ESSENTIALS_INCOME_LINE_ANNUAL)
    water_social = rng.random(n) < np.select(
        [pc_passported, low_income, means_tested],
        [WATER_SOCIAL_TARIFF_PC, WATER_SOCIAL_TARIFF_LOW_INCOME, WATER_SOCIAL_TARIFF_OTHER_MEANS_TESTED],
        WATER_SOCIAL_TARIFF_OTHER,
    )
    # Drawn from their own stream, so that adding them left every other trait of every household as it was.
    aux = np.random.default_rng([prof.index, int(first_id), 20_25])
    partner_blind = pens & couple & (severe_adults < 2) & (aux.random(n) < PARTNER_BLIND)
    sector = rng.integers(0, 10, n)
    # Free school meals: judged once on arrival; once awarded they continue (transitional protection).
    fsm_eligible = (on_uc & (earnings * 52 <= 7400) | (passported <= 2)) & (n_school > 0)
    seq = np.arange(first_id, first_id + n)
    return {
        "seq": seq,
        "hid": np.array([f"H{prof.code[-3:]}-{k:07d}" for k in seq], dtype=object),
        "ward": ward,
        "sector": sector,
        "pens": pens,
        "birth_month": rng.integers(1, 13, n),
        "claimant_age": claimant_age,
        "partner_age": partner_age,
        "n_children": n_children,
        "n_school": n_school,
        "youngest": youngest,
        "eldest": eldest,
        "n_nondeps": n_nondeps,
        "tenure": tenure,
        "epc": epc,
        "band": band,
        "earnings": earnings,
        "employment": employment,
        "on_uc": on_uc,
        "lcwra": lcwra,
        "pip_dl": pip_dl,
        "pip_mob": pip_mob,
        "aa": aa,
        "partner_aa": partner_aa,
        "severe_adults": severe_adults,
        "carer_paid": carer_paid,
        "pens_carer": pens_carer,
        "claim_start": claim_start.astype("datetime64[D]"),
        "water_metered": rng.random(n) < WATER_METERED,
        "water_social": water_social,
        "partner_blind": partner_blind,
        "passported": passported,
        "savings": savings,
        "sp_share": sp_share,
        "partner_sp": partner_sp,
        "pc_ratio": pc_ratio,
        "private_share": rng.uniform(0.0, 1.0, n),
        "rent": rent,
        "cts_takeup": ~on_uc | (rng.random(n) < 0.96),
        "fsm_awarded": fsm_eligible & (rng.random(n) < FSM_TAKEUP),
        "ct_arrears": np.zeros(n),
        "rent_arrears": np.zeros(n),
        "arrears_decided": np.zeros(n, dtype=bool),
    }


def _render(s: dict[str, np.ndarray], r: Rates, prof: _Profile, ward_codes: np.ndarray) -> pd.DataFrame:
    """One month's raw snapshot from latent traits and that month's rates."""
    n = len(s["seq"])
    pens, couple = s["pens"], ~np.isnan(s["partner_age"])
    wa = ~pens
    earnings = s["earnings"]
    pc_pass = s["passported"] == 0
    # the household's own minimum guarantee, additions included, as node.rules works it out
    n_carers = (wa & (s["employment"] == 5)).astype(int) + s["pens_carer"]
    no_nondep = s["n_nondeps"] == 0
    sda = np.where(
        no_nondep,
        np.where(
            couple,
            np.select(
                [s["severe_adults"] >= 2, (s["severe_adults"] == 1) & s["partner_blind"]],
                [2 - s["carer_paid"], 1 - s["carer_paid"]],
                0,
            ),
            (s["severe_adults"] >= 1) & ~s["carer_paid"],
        ),
        0,
    )
    guarantee = (
        np.where(couple, r.pc_guarantee_couple_weekly, r.pc_guarantee_single_weekly)
        + sda * r.pc_severe_disability_addition_weekly
        + n_carers * r.pc_carer_addition_weekly
    )
    special = (n_carers > 0) | (s["severe_adults"] > 0)
    disregard = np.where(
        special,
        r.pc_earnings_disregard_special_weekly,
        np.where(couple, r.pc_earnings_disregard_couple_weekly, r.pc_earnings_disregard_single_weekly),
    )
    counted_earnings = np.maximum(earnings - disregard, 0.0)

    state_pension = np.where(pens, (s["sp_share"] + s["partner_sp"]) * r.new_state_pension_weekly, 0.0)
    tariff = np.where(s["savings"] == 1, r.pc_tariff_income_6k_to_16k_weekly, 0.0)
    # non-passported pensioners: total assessable income set relative to the guarantee
    target = np.where(s["pc_ratio"] < 0, guarantee + s["pc_ratio"], guarantee * s["pc_ratio"]) - tariff
    state_pension = np.where(
        pens & ~pc_pass, np.minimum(state_pension, np.maximum(target - counted_earnings, 0)), state_pension
    )
    private = np.where(pens & ~pc_pass, np.maximum(target - counted_earnings - state_pension, 0.0), 0.0)
    # passported pensioners: Pension Credit tops income up to the guarantee (recorded as a legacy benefit)
    state_pension = np.where(pc_pass, np.minimum(state_pension, 0.95 * guarantee), state_pension)
    private = np.where(pc_pass, np.minimum(s["private_share"] * 40, 0.98 * guarantee - state_pension), private)
    private = np.maximum(private, 0.0)
    pension_credit = np.where(pc_pass, guarantee - state_pension - private - counted_earnings, 0.0).clip(0)

    uc_std_single = np.where(
        s["claimant_age"] < 25, r.uc_standard_single_under25_monthly, r.uc_standard_single_25plus_monthly
    )
    uc_std_couple = np.where(
        s["claimant_age"] < 25, r.uc_standard_couple_under25_monthly, r.uc_standard_couple_25plus_monthly
    )
    std = np.where(couple, uc_std_couple, uc_std_single)
    legacy_wa = np.where(
        wa & ~s["on_uc"] & (s["passported"] != 3),
        std * 12 / 52 + np.where(s["employment"] == 4, 48.0, 0.0),
        0.0,
    )
    legacy = pension_credit + legacy_wa

    nk = s["n_children"]
    child_benefit = np.where(nk > 0, r.child_benefit_eldest_weekly + (nk - 1) * r.child_benefit_other_weekly, 0.0)
    pip = np.select(
        [s["pip_dl"] == 1, s["pip_dl"] == 2],
        [r.pip_daily_living_standard_weekly, r.pip_daily_living_enhanced_weekly],
        0.0,
    )
    pip += np.select(
        [s["pip_mob"] == 1, s["pip_mob"] == 2],
        [r.pip_mobility_standard_weekly, r.pip_mobility_enhanced_weekly],
        0.0,
    )

    def aa_weekly(level: np.ndarray) -> np.ndarray:
        return np.select(
            [level == 1, level == 2], [r.attendance_allowance_lower_weekly, r.attendance_allowance_higher_weekly], 0.0
        )

    aa = aa_weekly(s["aa"]) + aa_weekly(s["partner_aa"])
    disability = np.where(pens, aa, pip)
    carer = wa & (s["employment"] == 5)
    carers_allowance = np.where(carer, r.carers_allowance_weekly, 0.0)

    rent = s["rent"]
    rent_known = np.nan_to_num(rent)
    temporary = s["tenure"] == 5
    on_uc = s["on_uc"]
    # Universal Credit: maximum award less the earnings taper and unearned income
    n_child_el = np.minimum(nk, 2)
    first_pre2017 = s["eldest"] >= 9
    child_el = np.where(
        n_child_el > 0, np.where(first_pre2017, r.uc_child_first_pre2017_monthly, r.uc_child_monthly), 0.0
    )
    child_el += np.maximum(n_child_el - 1, 0) * r.uc_child_monthly
    housing_el = np.where(
        temporary, 0.0, np.maximum(rent_known * 52 / 12 - s["n_nondeps"] * _NONDEP_DEDUCTION_MONTHLY, 0.0)
    )
    max_award = std + child_el + s["lcwra"] * r.uc_lcwra_monthly + carer * r.uc_carer_monthly + housing_el
    has_wa = (nk > 0) | s["lcwra"]
    allowance = np.where(
        has_wa,
        np.where(
            housing_el > 0,
            r.uc_work_allowance_with_housing_monthly,
            r.uc_work_allowance_without_housing_monthly,
        ),
        0.0,
    )
    earn_month = earnings * 52 / 12
    uc = max_award - r.uc_taper * np.maximum(earn_month - allowance, 0) - carers_allowance * 52 / 12
    uc = np.where(on_uc, np.maximum(uc, 0.0), 0.0)
    # benefit cap: not for LCWRA, disability benefits, carers or those earning about 16 hours at the NLW
    exempt = s["lcwra"] | (disability > 0) | carer | (earn_month >= 846)
    cap = np.where((nk > 0) | couple, r.uc_benefit_cap_family_monthly, r.uc_benefit_cap_single_monthly)
    capped = on_uc & ~exempt & (uc + child_benefit * 52 / 12 > cap)
    uc = np.where(capped, np.maximum(cap - child_benefit * 52 / 12, 0.0), uc)
    benefit_cap = np.where(capped, cap * 12 / 52, np.nan)

    # Housing Benefit: pensioners and legacy cases taper at 65% above an applicable amount
    hb_assessable = earnings + state_pension + private + legacy_wa + carers_allowance
    applicable = np.where(pens, guarantee, std * 12 / 52 + child_el * 12 / 52)
    passported_full = (s["passported"] != 3) | (pens & pc_pass)
    hb_taper = np.maximum(rent_known - 0.65 * np.maximum(hb_assessable - applicable, 0), 0.0)
    hb = np.where(on_uc, np.where(temporary, rent_known, 0.0), np.where(passported_full, rent_known, hb_taper))

    ratio = np.asarray(r.council_tax_band_ratio)[s["band"]]
    single_adult = ~couple & (s["n_nondeps"] == 0)
    # The pack's published bills by band when it has them, else the rates file's Band D scaled for the district.
    by_band = np.asarray(prof.council_tax)[s["band"]] if prof.council_tax else None
    band_bill = by_band if by_band is not None else r.council_tax_band_d_annual * prof.band_d_factor * ratio
    liability = band_bill * np.where(single_adult, 0.75, 1.0)
    excess = np.maximum(hb_assessable - applicable, 0)
    cts_pens = np.where(pc_pass | (excess <= 0), liability, np.maximum(liability - 0.2 * 52 * excess, 0))
    cts_wa = np.maximum(prof.cts_max_share * liability - 0.2 * 52 * np.maximum(earnings - 250, 0), 0)
    cts = np.where(s["cts_takeup"], np.where(pens, cts_pens, cts_wa), 0.0)

    # postcode sectors: a handful of plausible district-area sectors per ward, coded then labelled
    assume = geography.active().synth
    area = assume.postcode_area.get(prof.code, assume.default_postcode_area)
    sector_code = (s["ward"] % 7) * 10 + s["sector"]
    sector_labels = [f"{area}{prof.index + 1 + k // 10} {k % 10}" for k in range(70)]
    youngest = pd.array(np.where(s["youngest"] >= 0, s["youngest"], 0), dtype="Int64")
    youngest[s["youngest"] < 0] = pd.NA
    partner = pd.array(np.nan_to_num(s["partner_age"]).astype(int), dtype="Int64")
    partner[~couple] = pd.NA

    def cat(codes: np.ndarray, labels: object) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=list(labels))  # type: ignore[call-overload]

    def money(x: np.ndarray) -> np.ndarray:
        return np.round(x, 2)

    cols: dict[str, object] = {
        "household_id": s["hid"],
        "ward_code": cat(s["ward"], ward_codes),
        "postcode_sector": cat(sector_code, sector_labels),
        "claimant_age": s["claimant_age"].astype(int),
        "partner_age": partner,
        "n_children": nk.astype(int),
        "n_school_age_children": s["n_school"].astype(int),
        "youngest_child_age": youngest,
        "n_non_dependants": s["n_nondeps"].astype(int),
        "tenure": cat(s["tenure"], TENURES),
        "epc_band": cat(s["epc"], EPC_BANDS),
        "earnings_weekly": money(earnings),
        "state_pension_weekly": money(state_pension),
        "private_pension_weekly": money(private),
        "legacy_benefits_weekly": money(legacy),
        "child_benefit_weekly": money(child_benefit),
        "disability_benefits_weekly": money(disability),
        "carers_allowance_weekly": money(carers_allowance),
        "uc_award_monthly": money(uc),
        "on_uc": on_uc,
        "lcwra": s["lcwra"],
        "savings_band": cat(s["savings"], SAVINGS_BANDS),
        "passported": cat(s["passported"], PASSPORTS),
        "employment_status": cat(s["employment"], EMPLOYMENT),
        "eligible_rent_weekly": money(rent),
        "hb_award_weekly": money(hb),
        "benefit_cap_weekly": money(benefit_cap),
        "council_tax_band": cat(s["band"], CT_BANDS),
        "ct_liability_annual": money(liability),
        "cts_award_annual": money(cts),
        "ct_arrears": money(s["ct_arrears"]),
        "rent_arrears": money(s["rent_arrears"]),
        "fsm_awarded": s["fsm_awarded"],
        "claim_start_date": np.datetime_as_string(s["claim_start"], unit="D").astype(object),
        "severe_disability_adults": s["severe_adults"].astype(int),
        "carer_paid_for_household": s["carer_paid"],
        "n_carers": n_carers.astype(int),
        "water_metered": s["water_metered"],
        "water_social_tariff": s["water_social"],
        "partner_registered_blind": s["partner_blind"],
    }
    assert list(cols) == list(SCHEMA) and all(len(v) == n for v in cols.values())  # type: ignore[arg-type]
    return pd.DataFrame(cols)


def _settle(s: dict[str, np.ndarray], frame: pd.DataFrame, r: Rates, rng: np.random.Generator) -> None:
    """Move arrears for next month given this month's money position (updates s in place)."""
    d = derive(frame, r)
    n = len(frame)

    surplus = d["monthly_surplus"].to_numpy()
    renter = ~np.isnan(s["rent"])
    short, tight = surplus < 0, surplus < 100
    new = ~s["arrears_decided"]
    # new households arrive with arrears more often when money is short; existing ones move month by month
    p_get = np.where(new, np.select([short, tight], [0.55, 0.15], 0.05), np.select([short, tight], [0.06, 0.02], 0.005))
    p_clear = np.where(new, 0.0, np.where(short, 0.03, 0.10))
    u = rng.random(n)
    has = (s["ct_arrears"] > 0) | (s["rent_arrears"] > 0)
    gets = ~has & (u < p_get)
    clears = has & (u < p_clear)
    rent_side = renter & (rng.random(n) < 0.5)
    ct_amount = rng.lognormal(np.log(320), 0.6, n)
    rent_amount = rng.lognormal(np.log(550), 0.7, n)
    s["ct_arrears"] = np.where(clears, 0.0, np.where(gets & ~rent_side, ct_amount, s["ct_arrears"]))
    s["rent_arrears"] = np.where(clears, 0.0, np.where(gets & rent_side, rent_amount, s["rent_arrears"]))
    s["ct_arrears"] = np.where(short & (s["ct_arrears"] > 0), s["ct_arrears"] * 1.04, s["ct_arrears"])
    s["arrears_decided"] = np.ones(n, dtype=bool)


def _step(
    s: dict[str, np.ndarray],
    rng: np.random.Generator,
    prof: _Profile,
    ward_weights: np.ndarray,
    ward_dep: np.ndarray,
    next_id: int,
    calendar_month: int,
    april: bool,
    arrival: np.datetime64,
) -> tuple[dict[str, np.ndarray], int]:
    """Advance one month: churn, earnings and rent changes, birthdays."""
    n = len(s["seq"])
    s = dict(s)
    # birthdays; working-age claimants are held below pension age so their latent type stays coherent
    birthday = s["birth_month"] == calendar_month
    s["claimant_age"] = np.where(birthday, s["claimant_age"] + 1, s["claimant_age"])
    s["claimant_age"] = np.where(~s["pens"], np.minimum(s["claimant_age"], 65), np.minimum(s["claimant_age"], 110))
    s["partner_age"] = np.where(birthday, np.minimum(s["partner_age"] + 1, 110), s["partner_age"])
    s["partner_age"] = np.where(~s["pens"], np.minimum(s["partner_age"], 65), s["partner_age"])
    s["youngest"] = np.where(birthday & (s["youngest"] >= 0), np.minimum(s["youngest"] + 1, 18), s["youngest"])
    s["eldest"] = np.where(birthday & (s["eldest"] >= 0), s["eldest"] + 1, s["eldest"])

    working = (s["earnings"] > 0) & ~s["pens"]  # pensioners' earnings are held: their pension mix is set
    change = working & (rng.random(n) < 0.08)
    s["earnings"] = np.where(change, s["earnings"] * rng.lognormal(0.0, 0.25, n), s["earnings"])
    lose = working & ~s["pens"] & (rng.random(n) < 0.01)
    gain = ~working & ~s["pens"] & (s["employment"] == 2) & (rng.random(n) < 0.02)
    s["earnings"] = np.where(lose, 0.0, np.where(gain, rng.lognormal(np.log(220), 0.5, n), s["earnings"]))
    # Month-on-month changes are a random walk; cap it well inside the loader's £5,000 a week limit.
    s["earnings"] = np.minimum(s["earnings"], MAX_EARNINGS_WEEKLY)
    s["employment"] = np.where(lose, 2, np.where(gain, 0, s["employment"]))
    private = (s["tenure"] == 2) | (s["tenure"] == 3)
    social = s["tenure"] <= 1
    s["rent"] = np.where(private, s["rent"] * rng.normal(1.003, 0.002, n), s["rent"])
    if april:  # social rents rise by CPI + 1% (2.7% in April 2025)
        s["rent"] = np.where(social, s["rent"] * 1.027, s["rent"])

    # pensioners and working-age households leave at the same rate, so the calibrated mix holds month by month
    leave = rng.random(n) < MONTHLY_LEAVERS
    s = {k: v[~leave] for k, v in s.items()}
    n_new = int(rng.binomial(prof.households, MONTHLY_LEAVERS))
    new = _new_households(rng, n_new, prof, ward_weights, ward_dep, next_id, first_month=False, arrival=arrival)
    return {k: np.concatenate([s[k], new[k]]) for k in s}, next_id + n_new


def generate_district(
    district_code: str, *, seed: int = 7, scale: float = 1.0, months: int = 13, end_month: str = "2025-10"
) -> dict[str, pd.DataFrame]:
    """Synthetic monthly snapshots for one district, keyed by month ("YYYY-MM") in date order."""
    if scale <= 0 or months < 1:
        raise ValueError("scale must be positive and months at least 1")
    prof = _profile(district_code, scale)
    rng = np.random.default_rng([seed, prof.index])
    ward_list = geography.wards(district_code)
    ward_codes = np.array([w.code for w in ward_list])
    weights = rng.lognormal(0.0, 0.5, len(ward_list))
    if all(w.households for w in ward_list):  # the pack's public ward figures, where it has them
        weights = np.array([float(w.households or 0) for w in ward_list])
    ward_weights = weights / weights.sum()
    ward_dep = rng.normal(0.0, 1.0, len(ward_list))
    # Size the caseload on this draw of wards, so its UC households match DWP's count up to sampling noise.
    pension = float(ward_weights @ _pension_share(ward_dep + 0.5 * prof.deprivation))
    uc = geography.district(district_code).uc_households
    prof = replace(prof, households=max(int(round(uc / ((1 - pension) * UC_SHARE_WORKING_AGE) * scale)), 1))

    month_list = _months(end_month, months)
    first = np.datetime64(month_list[0] + "-01")
    s = _new_households(rng, prof.households, prof, ward_weights, ward_dep, 1, first_month=True, arrival=first)
    next_id = prof.households + 1
    out: dict[str, pd.DataFrame] = {}
    for i, month in enumerate(month_list):
        cal = int(month[5:7])
        if i > 0:
            s, next_id = _step(
                s, rng, prof, ward_weights, ward_dep, next_id, cal, april=cal == 4, arrival=np.datetime64(month + "-01")
            )
        r = rates_for_month(month)
        frame = _render(s, r, prof, ward_codes)
        _settle(s, frame, r, rng)
        if i == 0:  # the opening snapshot shows the arrears households already carry
            frame = _render(s, r, prof, ward_codes)
        out[month] = frame
    return out


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        # pyarrow writes CSV several times faster than pandas; no value contains a comma or quote
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.cast(
            pa.schema(
                [pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type) for f in table.schema]
            )
        )
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        with path.open("wb") as f:
            f.write((",".join(frame.columns) + "\n").encode())
            pacsv.write_csv(table, f, write_options=options)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_excel(path, index=False)


def _write_district(args: tuple[str, Path, int, float, int, str, str]) -> list[Path]:
    code, out_dir, seed, scale, months, end_month, fmt = args
    folder = out_dir / code
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for month, frame in generate_district(code, seed=seed, scale=scale, months=months, end_month=end_month).items():
        path = folder / f"{month}.{fmt}"
        _write(frame, path, fmt)
        paths.append(path)
    return paths


def write_county(
    out_dir: Path,
    *,
    seed: int = 7,
    scale: float = 1.0,
    months: int = 13,
    end_month: str = "2025-10",
    fmt: str = "csv",
    workers: int = 1,
) -> list[Path]:
    """Write out_dir/<lad_code>/<YYYY-MM>.<fmt> for the pack's districts; returns the paths in order."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "xlsx":
        import importlib.util

        if importlib.util.find_spec("openpyxl") is None:
            raise ValueError("writing .xlsx needs openpyxl: `pip install kent-lsi[excel]`, or use csv")
    out_dir = Path(out_dir)
    jobs = [(d.code, out_dir, seed, scale, months, end_month, fmt) for d in geography.districts()]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_write_district, jobs))
    else:
        results = [_write_district(j) for j in jobs]
    return [p for paths in results for p in paths]
