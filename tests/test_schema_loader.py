"""The schema contract and the snapshot loader: what loads, and what a council officer is told when not."""

from __future__ import annotations

import hashlib
import importlib.util
import re

import pandas as pd
import pytest

from node.loader import DataError, load_district, load_snapshot
from node.schema import DERIVED, SCHEMA, queryable_columns
from node.synth import generate_district
from reference.geography import ward_codes

CODE = "E07000112"  # Folkestone and Hythe: 13 wards, quick to generate
RAW_NAMES = [
    "household_id", "ward_code", "postcode_sector", "claimant_age", "partner_age", "n_children",
    "n_school_age_children", "youngest_child_age", "n_non_dependants", "tenure", "epc_band", "earnings_weekly",
    "state_pension_weekly", "private_pension_weekly", "legacy_benefits_weekly", "child_benefit_weekly",
    "disability_benefits_weekly", "carers_allowance_weekly", "uc_award_monthly", "on_uc", "lcwra",
    "savings_band", "passported", "employment_status", "eligible_rent_weekly", "hb_award_weekly",
    "benefit_cap_weekly", "council_tax_band", "ct_liability_annual", "cts_award_annual", "ct_arrears",
    "rent_arrears", "fsm_awarded", "claim_start_date", "severe_disability_adults", "carer_paid_for_household",
    "n_carers", "water_metered", "water_social_tariff", "partner_registered_blind",
]  # fmt: skip


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_district(CODE, scale=0.02, months=1)["2025-10"].astype(str).replace({"<NA>": "", "nan": ""})


def _write(tmp_path, frame: pd.DataFrame, name: str = "2025-10.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_raw_column_names_are_the_contract():
    assert list(SCHEMA) == RAW_NAMES


def test_identifiers_are_not_queryable():
    cols = queryable_columns()
    assert "household_id" not in cols and "postcode_sector" not in cols
    assert set(DERIVED) <= set(cols) and "ward_code" in cols


def test_a_valid_csv_loads_with_typed_columns(tmp_path, frame):
    snap = load_snapshot(_write(tmp_path, frame), CODE)
    assert (snap.month, snap.district_code, len(snap.frame), snap.quarantined) == ("2025-10", CODE, len(frame), ())
    f = snap.frame
    assert list(f["ward_code"].cat.categories) == list(ward_codes(CODE))
    assert f["claimant_age"].dtype == "int64" and f["partner_age"].dtype == "Int64"
    assert f["on_uc"].dtype == bool and f["earnings_weekly"].dtype == float
    assert list(f["epc_band"].cat.categories) == list("ABCDEFG")


def test_digest_is_the_sha256_of_the_file(tmp_path, frame):
    path = _write(tmp_path, frame)
    assert load_snapshot(path, CODE).digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_bad_whole_number_names_file_row_and_field(tmp_path, frame):
    bad = frame.copy()
    bad.loc[41, "claimant_age"] = "abc"
    with pytest.raises(DataError, match=re.escape("2025-10.csv row 42, field claimant_age: value 'abc' is not a "
                                                  "whole number (line 43)")):  # fmt: skip
        load_snapshot(_write(tmp_path, bad), CODE)


def test_unknown_column_is_named_with_a_suggestion(tmp_path, frame):
    bad = frame.rename(columns={"claimant_age": "claimant_agee"})
    with pytest.raises(DataError, match="unknown column 'claimant_agee' \\(did you mean 'claimant_age'"):
        load_snapshot(_write(tmp_path, bad), CODE)


def test_missing_column_raises_even_when_not_strict(tmp_path, frame):
    with pytest.raises(DataError, match="missing column\\(s\\): fsm_awarded"):
        load_snapshot(_write(tmp_path, frame.drop(columns="fsm_awarded")), CODE, strict=False)


def test_duplicate_household_id_points_at_the_first_row(tmp_path, frame):
    bad = frame.copy()
    bad.loc[5, "household_id"] = bad.loc[2, "household_id"]
    with pytest.raises(DataError, match="row 6, field household_id: .* already appears at row 3"):
        load_snapshot(_write(tmp_path, bad), CODE)


def test_ward_of_another_district_says_which_district(tmp_path, frame):
    bad = frame.copy()
    bad.loc[0, "ward_code"] = ward_codes("E07000114")[0]
    with pytest.raises(DataError, match="row 1, field ward_code: .* not a ward of this district \\(it is in Thanet\\)"):
        load_snapshot(_write(tmp_path, bad), CODE)


def test_out_of_range_value_is_rejected(tmp_path, frame):
    bad = frame.copy()
    bad.loc[3, "claimant_age"] = "130"
    with pytest.raises(DataError, match="row 4, field claimant_age: value 130 is above the maximum 110"):
        load_snapshot(_write(tmp_path, bad), CODE)


def test_negative_money_is_rejected(tmp_path, frame):
    bad = frame.copy()
    bad.loc[0, "hb_award_weekly"] = "-5"
    with pytest.raises(DataError, match="field hb_award_weekly: value -5(\\.0)? is below the minimum 0"):
        load_snapshot(_write(tmp_path, bad), CODE)


def test_bad_category_lists_the_valid_values(tmp_path, frame):
    bad = frame.copy()
    bad.loc[0, "tenure"] = "rented"
    with pytest.raises(DataError, match="field tenure: value 'rented' is not one of council, housing_association"):
        load_snapshot(_write(tmp_path, bad), CODE)


def test_more_school_age_children_than_children_is_rejected(tmp_path, frame):
    bad = frame.copy()
    bad.loc[0, ["n_children", "n_school_age_children", "youngest_child_age"]] = ["1", "2", "7"]
    with pytest.raises(DataError, match="n_school_age_children: 2 school-age children is more than n_children"):
        load_snapshot(_write(tmp_path, bad), CODE)


def test_missing_rent_is_allowed_but_a_missing_age_is_not(tmp_path, frame):
    ok = frame.copy()
    ok.loc[0, "eligible_rent_weekly"] = ""
    assert load_snapshot(_write(tmp_path, ok), CODE).frame["eligible_rent_weekly"].isna().iat[0]
    ok.loc[0, "claimant_age"] = ""
    with pytest.raises(DataError, match="field claimant_age: value is empty but required"):
        load_snapshot(_write(tmp_path, ok), CODE)


def test_spreadsheet_style_values_are_accepted(tmp_path, frame):
    ok = frame.copy()
    ok.loc[0, ["ct_liability_annual", "on_uc", "epc_band"]] = ["£1,234.50", "Yes", "d"]
    f = load_snapshot(_write(tmp_path, ok), CODE).frame
    assert (f["ct_liability_annual"].iat[0], f["on_uc"].iat[0], f["epc_band"].iat[0]) == (1234.5, True, "D")


def test_quarantine_mode_loads_the_good_rows_and_explains_the_bad(tmp_path, frame):
    bad = frame.copy()
    bad.loc[4, "claimant_age"] = "abc"
    bad.loc[4, "epc_band"] = "Z"
    bad.loc[9, "savings_band"] = "lots"
    snap = load_snapshot(_write(tmp_path, bad), CODE, strict=False)
    assert len(snap.frame) == len(frame) - 2
    assert snap.quarantined_rows == 2
    assert [(q.row_number, q.field) for q in snap.quarantined] == [
        (5, "claimant_age"), (5, "epc_band"), (10, "savings_band"),
    ]  # fmt: skip
    assert set(snap.frame["household_id"]) == set(frame["household_id"].drop([4, 9]))


def test_strict_error_carries_every_problem(tmp_path, frame):
    bad = frame.copy()
    bad.loc[0:14, "lcwra"] = "maybe"
    with pytest.raises(DataError, match="and 5 more problem") as info:
        load_snapshot(_write(tmp_path, bad), CODE)
    assert len(info.value.problems) == 15


def test_parquet_round_trip_gives_the_same_frame(tmp_path, frame):
    from_csv = load_snapshot(_write(tmp_path, frame), CODE).frame
    typed = generate_district(CODE, scale=0.02, months=1)["2025-10"]
    (tmp_path / "pq").mkdir()
    typed.to_parquet(tmp_path / "pq" / "2025-10.parquet", index=False)
    from_parquet = load_snapshot(tmp_path / "pq" / "2025-10.parquet", CODE).frame
    pd.testing.assert_frame_equal(from_parquet, from_csv)


def test_excel_without_openpyxl_says_what_to_install(tmp_path, monkeypatch):
    # openpyxl is a dev dependency, so pretend a district's machine lacks it.
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openpyxl" else real(name, *a))
    path = tmp_path / "2025-10.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(DataError, match="openpyxl"):
        load_snapshot(path, CODE)


def test_file_name_must_be_the_month(tmp_path, frame):
    with pytest.raises(DataError, match="YYYY-MM.csv"):
        load_snapshot(_write(tmp_path, frame, "october.csv"), CODE)


def test_unknown_district_is_a_data_error(tmp_path, frame):
    with pytest.raises(DataError, match="unitary"):
        load_snapshot(_write(tmp_path, frame), "E06000035")


def test_load_district_reads_every_month_in_order(tmp_path, frame):
    for month in ("2025-09", "2025-10", "2025-08"):
        _write(tmp_path, frame, f"{month}.csv")
    (tmp_path / "notes.txt").write_text("ignored")
    assert list(load_district(tmp_path, CODE)) == ["2025-08", "2025-09", "2025-10"]


def test_load_district_with_no_snapshots_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no snapshot files"):
        load_district(tmp_path, CODE)


def test_claim_start_date_must_be_a_date(tmp_path, frame):
    bad = frame.copy()
    bad.loc[0, "claim_start_date"] = "15/05/2019"
    with pytest.raises(DataError, match="claim_start_date.*'15/05/2019' is not a date written YYYY-MM-DD"):
        load_snapshot(_write(tmp_path, bad), CODE)


def test_empty_claim_start_date_is_allowed(tmp_path, frame):
    ok = frame.copy()
    ok.loc[0, "claim_start_date"] = ""
    assert load_snapshot(_write(tmp_path, ok), CODE).frame["claim_start_date"].iat[0] == ""


def test_claim_start_date_is_never_queryable():
    assert "claim_start_date" not in queryable_columns()


@pytest.mark.parametrize(("column", "value"), [("severe_disability_adults", "3"), ("n_carers", "-1")])
def test_disability_and_carer_counts_are_zero_to_two(tmp_path, frame, column, value):
    bad = frame.copy()
    bad.loc[0, column] = value
    with pytest.raises(DataError, match=column):
        load_snapshot(_write(tmp_path, bad), CODE)


@pytest.mark.parametrize(
    "column", ["water_metered", "water_social_tariff", "carer_paid_for_household", "partner_registered_blind"]
)
def test_new_true_false_columns_reject_other_words(tmp_path, frame, column):
    bad = frame.copy()
    bad.loc[0, column] = "sometimes"
    with pytest.raises(DataError, match="not true/false"):
        load_snapshot(_write(tmp_path, bad), CODE)
