"""A national-size node reads each snapshot a chunk at a time, with the same checks, row numbers and result."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import node.loader
from node.loader import DataError, Snapshot, SnapshotStream, district_snapshots, load_snapshot
from node.months import month_frame, prepare_months, read_working_copy, streamed_month_frame
from node.synth import generate_district

CODE = "E07000112"  # Folkestone and Hythe: 13 wards, quick to generate
MONTH = "2025-10"
EXAMPLES = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def typed() -> pd.DataFrame:
    return generate_district(CODE, scale=0.02, months=1)[MONTH]


@pytest.fixture(scope="module")
def text(typed: pd.DataFrame) -> pd.DataFrame:
    return typed.astype(str).replace({"<NA>": "", "nan": ""})


@pytest.fixture(scope="module")
def dirty_csv(tmp_path_factory: pytest.TempPathFactory, text: pd.DataFrame) -> Path:
    """A CSV with problems spread over the file: a bad number, a bad category and a repeated household id."""
    bad = text.copy()
    bad.loc[3, "claimant_age"] = "abc"
    bad.loc[len(bad) // 2, "epc_band"] = "Z"
    bad.loc[len(bad) - 2, "household_id"] = bad.loc[1, "household_id"]
    path = tmp_path_factory.mktemp("dirty") / f"{MONTH}.csv"
    bad.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def clean_parquet(tmp_path_factory: pytest.TempPathFactory, typed: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("clean") / f"{MONTH}.parquet"
    typed.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def dirty_whole(dirty_csv: Path) -> Snapshot:
    return load_snapshot(dirty_csv, CODE, strict=False)


@pytest.fixture(scope="module")
def whole_months(dirty_whole: Snapshot, clean_parquet: Path) -> dict[bool, pd.DataFrame]:
    """Each file's month frame from its whole file, by whether it is the Parquet one."""
    return {False: month_frame(dirty_whole), True: month_frame(load_snapshot(clean_parquet, CODE))}


def write_csv(folder: Path, frame: pd.DataFrame) -> Path:
    path = folder / f"{MONTH}.csv"
    frame.to_csv(path, index=False)
    return path


def streamed(path: Path, chunk_rows: int, *, strict: bool = True) -> tuple[pd.DataFrame, SnapshotStream]:
    stream = SnapshotStream(path, CODE, strict=strict, chunk_rows=chunk_rows)
    return pd.concat(list(stream), ignore_index=True), stream


@EXAMPLES
@given(chunk_rows=st.integers(min_value=10, max_value=400))
def test_chunked_validation_gives_the_whole_file_rows_and_findings(
    dirty_csv: Path, dirty_whole: Snapshot, chunk_rows: int
) -> None:
    whole = dirty_whole
    frame, stream = streamed(dirty_csv, chunk_rows, strict=False)
    pd.testing.assert_frame_equal(frame, whole.frame)
    assert stream.quarantined == whole.quarantined
    assert stream.digest == whole.digest


@EXAMPLES
@given(chunk_rows=st.integers(min_value=30, max_value=400), parquet=st.booleans())
def test_streamed_month_is_the_whole_file_month_frame(
    dirty_csv: Path,
    clean_parquet: Path,
    whole_months: dict[bool, pd.DataFrame],
    tmp_path: Path,
    chunk_rows: int,
    parquet: bool,
) -> None:
    path = clean_parquet if parquet else dirty_csv
    whole = whole_months[parquet]
    stream = SnapshotStream(path, CODE, strict=False, chunk_rows=chunk_rows)
    snapshot, frame = streamed_month_frame(stream, tmp_path / f"work-{chunk_rows}-{parquet}")
    pd.testing.assert_frame_equal(frame, whole)
    assert frame.attrs == whole.attrs
    assert snapshot.frame.empty and snapshot.digest == stream.digest != ""


def test_the_staging_file_is_removed_once_the_month_is_compact(dirty_csv: Path, tmp_path: Path) -> None:
    streamed_month_frame(SnapshotStream(dirty_csv, CODE, strict=False, chunk_rows=50), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_error_in_a_later_chunk_names_its_row_and_line(tmp_path: Path, text: pd.DataFrame) -> None:
    bad = text.copy()
    bad.loc[249, "claimant_age"] = "abc"  # data row 250, in the third chunk of 100
    with pytest.raises(DataError, match=r"row 250, field claimant_age: value 'abc' is not a whole number \(line 251\)"):
        streamed(write_csv(tmp_path, bad), 100)


def test_a_household_id_repeated_in_a_later_chunk_is_caught(tmp_path: Path, text: pd.DataFrame) -> None:
    bad = text.copy()
    bad.loc[149, "household_id"] = bad.loc[2, "household_id"]  # row 150 repeats row 3, two chunks apart
    with pytest.raises(DataError, match=r"row 150, field household_id: household_id '.+' already appears at row 3"):
        streamed(write_csv(tmp_path, bad), 60)


def test_a_repeated_id_is_set_aside_from_its_later_chunk_when_not_strict(tmp_path: Path, text: pd.DataFrame) -> None:
    bad = text.copy()
    bad.loc[149, "household_id"] = bad.loc[2, "household_id"]
    frame, stream = streamed(write_csv(tmp_path, bad), 60, strict=False)
    assert [(q.row_number, q.field) for q in stream.quarantined] == [(150, "household_id")]
    assert len(frame) == len(bad) - 1 and frame["household_id"].is_unique


def test_strict_chunked_loading_still_lists_every_problem(tmp_path: Path, text: pd.DataFrame) -> None:
    bad = text.copy()
    bad.loc[[5, 105, 205], "lcwra"] = "maybe"
    with pytest.raises(DataError) as info:
        streamed(write_csv(tmp_path, bad), 100)
    assert [q.row_number for q in info.value.problems] == [6, 106, 206]


def test_a_header_without_rows_is_still_refused_in_chunks(tmp_path: Path, text: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="header but no data rows"):
        streamed(write_csv(tmp_path, text.iloc[:0]), 100)


def test_a_missing_column_is_still_named_in_chunks(tmp_path: Path, text: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="missing column"):
        streamed(write_csv(tmp_path, text.drop(columns=["tenure"])), 100)


def test_a_national_size_node_never_loads_a_whole_month(
    tmp_path: Path, clean_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = month_frame(load_snapshot(clean_parquet, CODE))

    def whole(*args: object, **kwargs: object) -> None:
        raise AssertionError("a whole month was loaded")

    monkeypatch.setattr(node.loader, "load_snapshot", whole)
    prepared = prepare_months(district_snapshots(clean_parquet.parent, CODE), working_dir=tmp_path, fmt="parquet")
    pd.testing.assert_frame_equal(read_working_copy(prepared.paths[MONTH]), read_working_copy_of(expected, tmp_path))
    assert prepared.pennies[MONTH] == tuple(expected.attrs["pennies"])


def read_working_copy_of(frame: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """A frame as it reads back from a Parquet working copy written whole."""
    path = folder / "whole.parquet"
    frame.to_parquet(path, index=False)
    return read_working_copy(path)


def test_a_strict_failure_while_streaming_leaves_no_staging_file(tmp_path: Path, text: pd.DataFrame) -> None:
    bad = text.copy()
    bad.loc[300, "tenure"] = "castle"  # after two chunks have been staged
    source = tmp_path / "source"
    source.mkdir()
    with pytest.raises(DataError, match="row 301, field tenure"):
        streamed_month_frame(SnapshotStream(write_csv(source, bad), CODE, chunk_rows=100), tmp_path / "work")
    assert list((tmp_path / "work").iterdir()) == []
