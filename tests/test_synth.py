"""Synthetic county data: deterministic, loadable, and calibrated to the Kent reference figures."""

from __future__ import annotations

import pandas as pd
import pytest

from node.derive import derive
from node.loader import load_district
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


def test_caseload_is_calibrated_to_uc_households_times_scale(swale):
    expected = district(CODE).uc_households * SCALE
    assert len(swale["2024-10"]) == round(expected)
    assert abs(len(swale["2025-10"]) / expected - 1) < 0.06


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
    assert 0.01 < share < 0.04
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
