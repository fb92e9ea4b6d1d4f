"""Districts may keep snapshots as Excel workbooks: they load exactly as the CSV does, and bad cells are named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from node.loader import DataError, load_snapshot
from node.synth import write_county

CODE = "E07000105"


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("excel")
    write_county(root, seed=3, scale=0.02, months=1, end_month="2025-10")
    return root / CODE / "2025-10.csv"


def as_workbook(csv_path: Path, folder: Path, edit=None) -> Path:
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    if edit is not None:
        edit(frame)
    out = folder / "2025-10.xlsx"
    frame.to_excel(out, index=False)
    return out


def test_an_excel_snapshot_loads_the_same_households_as_its_csv(csv_path: Path, tmp_path: Path) -> None:
    from_csv = load_snapshot(csv_path, CODE).frame
    from_excel = load_snapshot(as_workbook(csv_path, tmp_path), CODE).frame
    pd.testing.assert_frame_equal(from_csv.reset_index(drop=True), from_excel.reset_index(drop=True))


def test_a_bad_cell_in_a_workbook_is_named_by_file_row_and_field(csv_path: Path, tmp_path: Path) -> None:
    def spoil(frame: pd.DataFrame) -> None:
        frame.loc[2, "claimant_age"] = "abc"

    with pytest.raises(DataError) as err:
        load_snapshot(as_workbook(csv_path, tmp_path, spoil), CODE)
    assert "2025-10.xlsx" in str(err.value) and "row 3" in str(err.value) and "claimant_age" in str(err.value)
