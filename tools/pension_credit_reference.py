"""Build the committed table that tests/test_independent_model.py checks node.rules against.

    python tools/pension_credit_reference.py [--source policyengine|hand] [--out PATH]

The households are a fixed, varied grid (singles and couples, ages either side of State Pension age, mixed-age
couples with and without a pre-May-2019 claim and with an older partner either side of Pension Credit qualifying
age in May 2019, incomes around the guarantee, earnings, capital, Attendance Allowance for one or both partners,
non-dependants, paid and unpaid carers). For each the reference weekly Pension Credit guarantee credit is
computed by:

- ``policyengine``: PolicyEngine UK 2.162.10 (``pip install policyengine-uk``, an optional development dependency,
  in its own virtual environment: ``python3.11 -m venv /tmp/pe-venv && /tmp/pe-venv/bin/pip install
  policyengine-uk``, then ``/tmp/pe-venv/bin/python tools/pension_credit_reference.py``), variable
  ``guarantee_credit`` for 2025, with the income tax and NI it deducts from income in
  ``reference_income_tax_weekly``. The committed table is built this way (about a minute);
- ``hand``: a calculation written directly from GOV.UK's Pension Credit guidance and the DWP 2025/26 rates
  (below), deliberately not importing ``node.rules``. It ignores income tax, so it differs from node.rules
  (which deducts it) wherever someone is taxed; kept as a cross-check of the additions and disregards.

The test itself only reads the CSV, so ``make test`` never needs PolicyEngine.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import tomllib
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "pension_credit_reference.csv"
# The mixed-age couple saving's dates and qualifying age, from the rates file the test compares with.
with (ROOT / "reference" / "rates" / "2025-26.toml").open("rb") as _f:
    _PENSION = tomllib.load(_f)["pension"]
PROTECTION_BEFORE = _PENSION["pc_mixed_age_protection_before"]
QUALIFYING_DATE = date.fromisoformat(_PENSION["pc_mixed_age_qualifying_date"])
QUALIFYING_AGE = _PENSION["pc_mixed_age_qualifying_age"]
# The table's ages are read as at the last day of April 2025, the month load_rates("2025-26") describes.
SNAPSHOT_DAY = date(2025, 4, 30)
SPA = 66
# GOV.UK "Pension Credit: what you'll get" and "Benefit and pension rates 2025 to 2026" (DWP).
STANDARD = {False: 227.10, True: 346.60}
SEVERE_DISABILITY = 82.90
CARER = 46.40
AA = {0: 0.0, 1: 73.90, 2: 110.40}
TAXES = ("income_tax_before_winter_fuel_payment_charge", "national_insurance")
DISREGARD = {"single": 5.0, "couple": 10.0, "special": 20.0}
COLUMNS = [
    "case", "has_partner", "claimant_age", "partner_age", "claim_start_date", "on_hb", "earnings_weekly",
    "state_pension_weekly", "private_pension_weekly", "capital", "savings_band", "aa_claimant", "aa_partner",
    "n_non_dependants", "carer_paid_for_household", "n_carers", "reference_weekly", "reference_income_tax_weekly",
    "source",
]  # fmt: skip


def savings_band(capital: float) -> str:
    """The band a council record would hold for an exact capital amount."""
    return "under_6k" if capital < 6000 else ("6k_to_16k" if capital <= 16000 else "over_16k")


def mixed_age_saving(h: dict) -> bool:
    """Whether the record evidences the SI 2019/37 saving, as the law needs it and not from the claim date alone.

    Entitled as a pension-age couple on 14 May 2019 and since: a Housing Benefit claim from before 15 May 2019,
    and the older partner then at Pension Credit qualifying age. Ages are whole years at the snapshot, so only the
    least the older partner's age can have been that day counts (no evidence, no saving).
    """
    if not (h["has_partner"] and h["on_hb"] and h["claim_start_date"] != ""):
        return False
    least_age_then = max(h["claimant_age"], h["partner_age"]) - (SNAPSHOT_DAY - QUALIFYING_DATE).days / 365.25
    return h["claim_start_date"] < PROTECTION_BEFORE and least_age_then >= QUALIFYING_AGE


def hand_reference(h: dict) -> float:
    """Weekly guarantee credit from GOV.UK guidance, independent of node.rules."""
    if h["has_partner"]:
        ages = (h["claimant_age"], h["partner_age"])
        both = min(ages) >= SPA
        if max(ages) < SPA or not (both or mixed_age_saving(h)):
            return 0.0  # a mixed-age couple without protection claims Universal Credit instead
    elif h["claimant_age"] < SPA:
        return 0.0
    qualifying = (h["aa_claimant"] > 0) + (h["has_partner"] and h["aa_partner"] > 0)
    sda = 0
    if h["n_non_dependants"] == 0:
        if not h["has_partner"]:
            sda = int(qualifying >= 1 and not h["carer_paid_for_household"])
        elif qualifying == 2:
            sda = 1 if h["carer_paid_for_household"] else 2
    guarantee = STANDARD[h["has_partner"]] + sda * SEVERE_DISABILITY + h["n_carers"] * CARER
    special = qualifying > 0 or h["n_carers"] > 0
    disregard = DISREGARD["special" if special else ("couple" if h["has_partner"] else "single")]
    # Tariff income: £1 a week for every £500, or part of £500, over £10,000.
    tariff = math.ceil(max(h["capital"] - 10000, 0) / 500)
    income = max(h["earnings_weekly"] - disregard, 0) + h["state_pension_weekly"] + h["private_pension_weekly"]
    return round(max(guarantee - income - tariff, 0.0), 2)


def _policyengine_situation(h: dict, key: str, year: int) -> tuple[dict, dict, dict]:
    """People, benefit units and household of one case, with ids prefixed by ``key``.

    What the council record says, put the way PolicyEngine UK reads it:

    - A carer in the couple is the partner, entitled to Carer's Allowance for caring for the claimant with the
      award reduced to nil by an overlapping benefit (``is_entitled_to_carer_benefit``, ``carers_allowance`` 0):
      that entitlement is what the carer addition needs, and nothing is in payment to count as income or to
      bar the severe disability addition (the table's incomes carry no Carer's Allowance).
    - Someone outside the home paid to care cares for the claimant (``is_cared_for_by_carer_benefit_recipient``;
      PolicyEngine sees only carers living in the household, so it is given directly).
    - The SI 2019/37 saving (``has_mixed_age_couple_pension_credit_saving``) is an input to PolicyEngine, so it
      is decided as the law has it (``mixed_age_saving``): a Housing Benefit claim begun before 15 May 2019 and
      the older partner surely at Pension Credit qualifying age on 14 May 2019.
    - Incomes are each partner's own: a couple's State Pension is shared between the partners at State Pension
      age, and earnings and private pensions between both (the split node.rules.partner_taxable_incomes_annual
      assumes, since records hold only totals), so PolicyEngine's income tax sees what each partner is taxed on.
    """
    couple = bool(h["has_partner"])
    ages = {f"{key}c": h["claimant_age"]} | ({f"{key}p": h["partner_age"]} if couple else {})
    at_spa = [p for p, age in ages.items() if age >= SPA] or list(ages)
    people: dict[str, dict] = {}
    for p, age in ages.items():
        claimant = p == f"{key}c"  # the partner is the carer, and the one a paid carer does not care for
        people[p] = {
            "age": {year: age},
            "employment_income": {year: h["earnings_weekly"] * 52 / len(ages)},
            "state_pension": {year: h["state_pension_weekly"] * 52 / len(at_spa) if p in at_spa else 0.0},
            "private_pension_income": {year: h["private_pension_weekly"] * 52 / len(ages)},
            "attendance_allowance": {year: AA[h["aa_claimant" if claimant else "aa_partner"]] * 52},
            "carers_allowance": {year: 0.0},
        }
    if h["n_carers"] > 0:
        people[f"{key}p"]["is_entitled_to_carer_benefit"] = {year: True}
    if h["carer_paid_for_household"]:
        people[f"{key}c"]["is_cared_for_by_carer_benefit_recipient"] = {year: True}
    for k in range(h["n_non_dependants"]):
        people[f"{key}a{k}"] = {"age": {year: 40}}
    saving = mixed_age_saving(h)
    benunits = {f"{key}f": {"members": list(ages), "has_mixed_age_couple_pension_credit_saving": {year: saving}}}
    benunits.update({f"{key}n{k}": {"members": [f"{key}a{k}"]} for k in range(h["n_non_dependants"])})
    home = {f"{key}h": {"members": list(people), "savings": {year: h["capital"]}}}
    return people, benunits, home


def policyengine_references(rows: list[dict], batch: int = 2000) -> list[tuple[float, float]]:  # pragma: no cover
    """Weekly guarantee credit from PolicyEngine UK, and the income tax and NI it deducted from income, batched.

    ``guarantee_credit`` is the minimum guarantee less Pension Credit income, nil unless the benefit unit meets
    the entitlement conditions (age, and a mixed-age couple's saving). Many households go into one simulation
    (start-up dominates); each case's family is the first benefit unit it adds, so its row is known.
    """
    from policyengine_uk import Simulation

    year = 2025  # PolicyEngine UK's 2025 is the tax year from April 2025
    out: list[tuple[float, float]] = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        situation: dict[str, dict] = {"people": {}, "benunits": {}, "households": {}}
        family_index = []
        for i, h in enumerate(chunk):
            people, benunits, home = _policyengine_situation(h, f"x{i}", year)
            family_index.append(len(situation["benunits"]))
            situation["people"].update(people)
            situation["benunits"].update(benunits)
            situation["households"].update(home)
        sim = Simulation(situation=situation)
        credit = sim.calculate("guarantee_credit", year)
        # Pension Credit income is net of these; the test checks node.rules.pc_income_tax_weekly against them.
        tax = sum(sim.calculate(v, year, map_to="benunit") for v in TAXES)
        out.extend((round(float(credit[j]) / 52, 2), round(float(tax[j]) / 52, 2)) for j in family_index)
        print(f"  PolicyEngine: {start + len(chunk)} of {len(rows)}", flush=True)
    return out


def households() -> list[dict]:
    """The fixed grid of varied pension-age (and nearly pension-age) households."""
    rows = []
    grid = itertools.product(
        [False, True],  # partner
        [(70, 68), (80, 81), (66, 65), (66, 64), (64, 74)],  # claimant and partner ages
        ["", "2016-03-01", "2021-07-01"],  # claim start
        [0.0, 30.0],  # earnings
        [150.0, 200.0, 226.0, 240.0, 330.0, 400.0],  # total pensions
        [0.0, 11000.0],  # capital
        [(0, 0), (2, 0), (1, 2)],  # Attendance Allowance, claimant and partner
        [0, 1],  # non-dependants
        [(False, 0), (True, 0), (False, 1)],  # someone paid to care; carers in the couple
    )
    for k, (partner, ages, start, earn, pensions, capital, aa, nondeps, care) in enumerate(grid):
        if not partner and (ages[1] != 68 or start == "2021-07-01"):
            continue  # singles need fewer age and date variants
        if not partner and care[1] > 0:
            continue  # the carer addition is for a partner caring for the other
        rows.append({
            "case": f"h{k:05d}", "has_partner": partner, "claimant_age": ages[0],
            "partner_age": ages[1] if partner else "", "claim_start_date": start, "on_hb": True,
            "earnings_weekly": earn, "state_pension_weekly": round(pensions * 0.8, 2),
            "private_pension_weekly": round(pensions * 0.2, 2), "capital": capital,
            "savings_band": savings_band(capital),
            "aa_claimant": aa[0], "aa_partner": aa[1] if partner else 0, "n_non_dependants": nondeps,
            "carer_paid_for_household": care[0], "n_carers": care[1],
        })  # fmt: skip
    # Capital anywhere in the 6k-16k band: records hold only the band, so node.rules charges its midpoint's
    # tariff (£2); these show the size of that simplification against the exact tariff.
    for j, capital in enumerate([7000.0, 9500.0, 10250.0, 13000.0, 15500.0]):
        rows.append({
            "case": f"c{j:05d}", "has_partner": False, "claimant_age": 75, "partner_age": "", "claim_start_date": "",
            "on_hb": True, "earnings_weekly": 0.0, "state_pension_weekly": 180.0, "private_pension_weekly": 20.0,
            "capital": capital, "savings_band": savings_band(capital), "aa_claimant": 0, "aa_partner": 0,
            "n_non_dependants": 0, "carer_paid_for_household": False, "n_carers": 0,
        })  # fmt: skip
    return rows


def main() -> None:
    """Write the reference table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", choices=["policyengine", "hand"], default="policyengine")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rows = households()
    policyengine = args.source == "policyengine"
    refs = policyengine_references(rows) if policyengine else [(hand_reference(h), 0.0) for h in rows]
    for h, (ref, tax) in zip(rows, refs, strict=True):
        h["reference_weekly"] = ref
        h["reference_income_tax_weekly"] = tax
        h["source"] = args.source
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} households to {args.out}")


if __name__ == "__main__":
    main()
