"""Synthetic county data: deterministic, loadable, and calibrated to the Kent reference figures."""

from __future__ import annotations

import pandas as pd
import pytest

from node import rules, synth
from node.derive import derive
from node.loader import load_district
from node.schema import SCHEMA
from node.synth import generate_district, write_county
from reference.geography import district, districts, ward_codes
from reference.rates import rates_for_month

CODE = "E07000113"  # Swale
SCALE = 0.3


@pytest.fixture(scope="module")
def swale() -> dict[str, pd.DataFrame]:
    return generate_district(CODE, scale=SCALE, months=13, end_month="2025-10")


@pytest.fixture(scope="module")
def derived(swale) -> pd.DataFrame:
    return derive(swale["2025-10"], rates_for_month("2025-10"))


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = write_county(tmp_path / "a", seed=11, scale=0.01, months=2)
    b = write_county(tmp_path / "b", seed=11, scale=0.01, months=2)
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))


def test_different_seeds_give_different_data(tmp_path):
    a = write_county(tmp_path / "a", seed=1, scale=0.01, months=1)
    b = write_county(tmp_path / "b", seed=2, scale=0.01, months=1)
    assert a[0].read_bytes() != b[0].read_bytes()


def test_county_layout_is_one_folder_per_district_one_file_per_month(tmp_path):
    paths = write_county(tmp_path, scale=0.01, months=3, end_month="2025-05")
    assert len(paths) == 12 * 3
    assert {p.parent.name for p in paths} == {d.code for d in districts()}
    assert sorted({p.name for p in paths}) == ["2025-03.csv", "2025-04.csv", "2025-05.csv"]


def test_written_files_load_strictly_without_quarantine(tmp_path):
    write_county(tmp_path, scale=0.02, months=2)
    snaps = load_district(tmp_path / CODE, CODE)
    assert list(snaps) == ["2025-09", "2025-10"]
    assert all(s.quarantined == () for s in snaps.values())


def test_parquet_output_loads_too(tmp_path):
    write_county(tmp_path, scale=0.01, months=1, fmt="parquet")
    assert len(load_district(tmp_path / CODE, CODE)["2025-10"].frame) > 0


def test_uc_households_among_the_records_match_dwp_times_scale(swale):
    # Changed in issue 12: the caseload is sized so that its UC households (not all records) match DWP's count.
    expected = district(CODE).uc_households * SCALE
    for month in ("2024-10", "2025-10"):
        assert abs(swale[month]["on_uc"].sum() / expected - 1) < 0.05, month


def test_about_forty_percent_are_pension_age(derived):
    assert 0.34 < derived["pension_age"].mean() < 0.46


def test_every_ward_has_households_every_month(swale):
    for frame in swale.values():
        assert set(frame["ward_code"]) == set(ward_codes(CODE))


def test_households_churn_by_one_to_two_percent_a_month(swale):
    months = list(swale)
    for before, after in zip(months, months[1:], strict=False):
        old, new = set(swale[before]["household_id"]), set(swale[after]["household_id"])
        left = len(old - new) / len(old)
        assert 0.005 < left < 0.03, (before, after, left)
        assert len(new - old) > 0


def test_staying_household_keeps_its_id_and_pension_steps_up_in_april(swale):
    march = swale["2025-03"].set_index("household_id")
    april = swale["2025-04"].set_index("household_id")
    both = march.index.intersection(april.index)
    pensioners = both[(march.loc[both, "state_pension_weekly"] > 0).to_numpy()]
    rise = april.loc[pensioners, "state_pension_weekly"] / march.loc[pensioners, "state_pension_weekly"]
    uprating = 230.25 / 221.20  # new State Pension, 2025-26 over 2024-25
    assert (rise.round(2) >= 1.0).all() and rise.median() == pytest.approx(uprating, rel=0.01)


def test_some_pensioners_miss_pension_credit_worth_about_1700_a_year(derived):
    pension = derived[derived["pension_age"]]
    share = pension["pc_unclaimed"].mean()
    value = derived.loc[derived["pc_unclaimed"], "pc_unclaimed_annual"].mean()
    assert 0.005 < share < 0.03
    assert 1200 < value < 2500


def test_some_free_school_meals_are_not_taken_up(derived):
    eligible_children = derived["fsm_unclaimed_children"].sum()
    assert eligible_children > 0
    assert derived["fsm_unclaimed"].mean() < 0.1


def test_resilience_mix_has_every_category_and_a_minority_in_crisis(derived):
    shares = derived["resilience"].value_counts(normalize=True)
    assert (shares > 0.02).all()
    assert shares["in_crisis"] < 0.2 and shares["coping"] > 0.5


def test_most_homes_are_in_council_tax_bands_a_to_c(derived):
    assert derived["council_tax_band"].isin(["A", "B", "C"]).mean() > 0.7


def test_unknown_format_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        write_county(tmp_path, fmt="json")


# Calibration targets at scale 1.0 (node/synth.py; sources in docs/lsi.md). The opening month of all twelve
# districts; pensioners and working-age households churn at one rate, so the mix holds through the year.
@pytest.fixture(scope="module")
def county_by_district() -> dict[str, pd.DataFrame]:
    return {d.code: generate_district(d.code, scale=1.0, months=1, end_month="2025-10")["2025-10"] for d in districts()}


@pytest.fixture(scope="module")
def county(county_by_district) -> pd.DataFrame:
    return derive(pd.concat(county_by_district.values(), ignore_index=True), rates_for_month("2025-10"))


def test_each_districts_uc_households_are_within_5_percent_of_dwp(county_by_district):
    for d in districts():
        got = county_by_district[d.code]["on_uc"].sum()
        assert abs(got / d.uc_households - 1) < 0.05, (d.name, got, d.uc_households)


def test_county_pension_age_share_is_about_forty_percent(county):
    assert abs(county["pension_age"].mean() - 0.40) < 0.02


def test_county_pension_credit_claimants_are_within_5_percent_of_36000(county):
    claimants = (county["passported"] == "pension_credit_guarantee").sum()
    assert abs(claimants / synth.TARGET_PC_CLAIMANTS - 1) < 0.05


def test_unclaimed_pension_credit_matches_the_kent_finding_within_5_percent(county):
    unclaimed = county[county["pc_unclaimed"]]
    assert abs(len(unclaimed) / synth.TARGET_PC_UNCLAIMED - 1) < 0.05
    assert abs(unclaimed["pc_unclaimed_annual"].mean() / synth.TARGET_PC_UNCLAIMED_ANNUAL_MEAN - 1) < 0.05


def _share_of_all_households(county: pd.DataFrame, measure: str) -> float:
    """Households the records flag, over all the area's households (published rates are for all households)."""
    return county[measure].sum() / synth.area_households()


def test_county_water_poverty_is_within_the_published_all_household_range(county):
    # 6.3% (Water UK 2021, England 2019/20) to 10.0% (Bradshaw and Keung 2021, England and Wales 2018/19)
    low, high = synth.PUBLISHED_ALL_HOUSEHOLD_RATES["water_poverty"]
    assert low <= _share_of_all_households(county, "water_poverty") <= high


def test_county_fuel_poverty_is_within_the_published_lilee_range(county):
    # Low Income Low Energy Efficiency 2022: South East 9.7% to England 13.1% (DESNZ sub-regional fuel poverty 2024)
    low, high = synth.PUBLISHED_ALL_HOUSEHOLD_RATES["fuel_poverty"]
    assert low <= _share_of_all_households(county, "fuel_poverty") <= high


def test_a_few_pensioner_couples_have_a_registered_blind_partner(county):
    blind = county[county["partner_registered_blind"]]
    assert 0 < len(blind) < 0.01 * len(county)
    assert blind["partner_age"].notna().all() and blind["pension_age"].all()


def test_mixed_age_couples_in_the_records_are_protected_ones():
    frame = generate_district(CODE, scale=SCALE, months=1)["2025-10"]
    d = derive(frame, rates_for_month("2025-10"))
    mixed = d["partner_age"].notna() & ((d["partner_age"] < 66) != (d["claimant_age"] < 66))
    pensioner_mixed = mixed & (d["claimant_age"] >= 66) & ~d["on_uc"]
    assert pensioner_mixed.sum() > 0
    assert (d.loc[pensioner_mixed, "claim_start_date"] < "2019-05-15").all()


def test_protected_couples_older_partner_was_surely_of_qualifying_age_in_may_2019_every_month(swale):
    # Issue 12: the saving needs the older partner at Pension Credit qualifying age on 14 May 2019, judged on
    # the least their whole-year age allows; the synthetic couples meet it in every month, not just the first.
    for month, frame in swale.items():
        r = rates_for_month(month)
        mixed = frame["partner_age"].notna() & (frame["partner_age"] < 66) & (frame["claimant_age"] >= 66)
        older = frame.loc[mixed & ~frame["on_uc"], "claimant_age"].astype(float)
        assert len(older) > 0
        least_then = older - rules.years_since_mixed_age_qualifying_date(r)
        assert (least_then >= r.pc_mixed_age_qualifying_age).all(), month


def test_some_pensioners_get_the_severe_disability_addition_conditions_in_the_data(derived):
    pens = derived[derived["pension_age"]]
    assert (pens["severe_disability_adults"] > 0).mean() > 0.1
    assert pens["carer_paid_for_household"].any() and (pens["n_carers"] > 0).any()


def test_most_homes_are_metered_and_some_on_the_social_tariff(derived):
    assert 0.8 < derived["water_metered"].mean() < 0.95
    assert 0.05 < derived["water_social_tariff"].mean() < 0.25


@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_every_synthetic_value_is_within_the_schema_limits_every_month(scale):
    # Earnings move month by month as a random walk; the demo's Swale node once refused £5,993 a week.
    for month, frame in generate_district(CODE, scale=scale, months=13, end_month="2025-10").items():
        for col in SCHEMA.values():
            if col.kind in ("int", "float") and col.maximum is not None:
                assert frame[col.name].max() <= col.maximum, (month, col.name)
