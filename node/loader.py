"""Load and validate a district's monthly household snapshot (CSV, Parquet or Excel).

Validation is vectorised per column; only rows that fail are visited one by one to write messages. Row
numbers count data rows from 1; the header is line 1, so row N is line N + 1 of the file or spreadsheet.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from node.schema import SCHEMA, Column, did_you_mean
from reference import geography

log = logging.getLogger(__name__)

SNAPSHOT_NAME = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])\.(csv|parquet|xlsx)$")
MAX_LISTED = 10
_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


class DataError(ValueError):
    """A snapshot file cannot be loaded as it stands; the message says which file, row and field."""

    def __init__(self, message: str, problems: tuple[QuarantinedRow, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class QuarantinedRow:
    """One problem with one row: 1-based data row number, the field and why it was rejected."""

    row_number: int
    field: str
    reason: str


@dataclass(frozen=True)
class Snapshot:
    """A validated monthly snapshot of one district's household records."""

    month: str
    district_code: str
    frame: pd.DataFrame
    quarantined: tuple[QuarantinedRow, ...]
    source: Path
    digest: str

    @property
    def quarantined_rows(self) -> int:
        """Number of distinct rows left out of the frame."""
        return len({q.row_number for q in self.quarantined})


# A problem found by a column check: which rows, and how to describe the value in each.
Problem = tuple[np.ndarray, Callable[[str], str]]


def _describe(path: Path, q: QuarantinedRow) -> str:
    return f"{path.name} row {q.row_number}, field {q.field}: {q.reason} (line {q.row_number + 1})"


def _text(s: pd.Series) -> pd.Series:
    """Values as stripped strings, with missing values as ''."""
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        if s.isna().any():
            s = s.astype(object).where(s.notna(), "")
        return s.astype(str).str.strip()
    return s.astype(object).where(s.notna(), "").astype(str).str.strip()


def _numeric(s: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.Series | None]:
    """(values with NaN for empty, mask of unparseable values, the raw text if text was parsed)."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        values = s.to_numpy(dtype=float, na_value=np.nan)
        return values, np.zeros(len(s), dtype=bool), None
    text = _text(s)
    values = np.array(pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan))
    bad = np.isnan(values) & (text != "").to_numpy()
    if bad.any():
        # Spreadsheets export "£1,234.50": accept the pound sign and thousands separators.
        cleaned = text[bad].str.replace(r"^£|,", "", regex=True)
        values[bad] = pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = np.isnan(values) & (text != "").to_numpy()
    return values, bad, text


def _convert(col: Column, s: pd.Series, categories: tuple[str, ...]) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    if col.kind in ("int", "float"):
        values, bad, _ = _numeric(s)
        word = "a whole number" if col.kind == "int" else "a number"
        problems.append((bad, lambda v: f"value {v!r} is not {word}"))
        if col.kind == "int":
            frac = ~np.isnan(values) & (values != np.round(values))
            problems.append((frac, lambda v: f"value {v!r} is not a whole number"))
        missing = np.isnan(values) & ~bad
        if not col.nullable:
            problems.append((missing, lambda v: "value is empty but required"))
        with np.errstate(invalid="ignore"):
            if col.minimum is not None:
                problems.append((values < col.minimum, lambda v: f"value {v} is below the minimum {col.minimum:g}"))
            if col.maximum is not None:
                problems.append((values > col.maximum, lambda v: f"value {v} is above the maximum {col.maximum:g}"))
        if col.kind == "int":
            clean = np.where(np.isnan(values) | bad, 0, np.round(np.nan_to_num(values)))
            if col.nullable:
                out = pd.Series(pd.array(clean.astype("int64"), dtype="Int64")).mask(np.isnan(values))
            else:
                out = pd.Series(clean.astype("int64"))
        else:
            out = pd.Series(values)
        return out, problems
    if col.kind == "bool":
        if pd.api.types.is_bool_dtype(s) and not s.isna().any():
            return pd.Series(s.to_numpy(dtype=bool)), problems
        low = _text(s).str.lower()
        is_true = low.isin(_TRUE).to_numpy()
        bad = ~(is_true | low.isin(_FALSE).to_numpy())
        problems.append((bad, lambda v: f"value {v!r} is not true/false (use true, false, yes, no, 1 or 0)"))
        return pd.Series(is_true), problems
    text = _text(s)
    empty = (text == "").to_numpy()
    if col.kind == "text":
        if not col.nullable:
            problems.append((empty, lambda v: "value is empty but required"))
        if col.pattern:
            wrong = ~empty & ~text.str.fullmatch(col.pattern).to_numpy(dtype=bool)
            problems.append((wrong, lambda v: f"value {v!r} is not {col.pattern_hint}"))
        return text.astype("str").reset_index(drop=True), problems
    # category: exact match first, then case-insensitive (spreadsheets often change case)
    codes = pd.Index(categories).get_indexer(text)
    unmatched = (codes < 0) & ~empty
    if unmatched.any():
        codes[unmatched] = pd.Index([c.lower() for c in categories]).get_indexer(text[unmatched].str.lower())
    cat = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories))
    bad = (cat.codes < 0) & ~empty
    if not col.nullable:
        problems.append((empty, lambda v: "value is empty but required"))
    problems.append((bad, _category_reason(col, categories)))
    return pd.Series(cat), problems


def _category_reason(col: Column, categories: tuple[str, ...]) -> Callable[[str], str]:
    if col.name != "ward_code":
        return lambda v: f"value {v!r} is not one of {', '.join(categories)}"
    owner = {w.code: w.district_code for w in geography.all_wards()}

    def reason(v: str) -> str:
        elsewhere = owner.get(v)
        where = f" (it is in {geography.district(elsewhere).name})" if elsewhere else ""
        return f"ward {v!r} is not a ward of this district{where}"

    return reason


def _read_chunks(path: Path, handle: BinaryIO, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    """The file's rows as frames of at most `chunk_rows` (all at once if None), at least one frame (maybe empty).

    A reader's own failure, wherever in the file it comes, is a DataError naming the file and the format."""
    ext = path.suffix.lower()
    if ext not in (".csv", ".parquet", ".xlsx"):
        raise DataError(f"{path.name}: unsupported file type {ext!r}; use .csv, .parquet or .xlsx")
    if ext == ".xlsx" and importlib.util.find_spec("openpyxl") is None:
        raise DataError(
            f"{path.name}: reading Excel files needs the openpyxl package, which is not installed. "
            "Install it with `pip install kent-lsi[excel]`, or save the sheet as CSV."
        )
    chunks = _chunks(ext, handle, chunk_rows)
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except Exception as exc:  # the reader's own message says what is wrong with the bytes
            raise DataError(f"{path.name}: cannot be read as {ext[1:].upper()}: {exc}") from exc
        yield chunk


def _chunks(ext: str, handle: BinaryIO, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    if ext == ".csv":
        # Let the C parser type clean numeric columns (much faster than parsing strings later); a column
        # with a bad value arrives as text and is checked value by value below.
        text_cols = {n: str for n, c in SCHEMA.items() if c.kind in ("text", "category")}
        empty_is_na = {n: [""] for n, c in SCHEMA.items() if c.kind in ("int", "float", "bool")}
        options: dict[str, Any] = {"dtype": text_cols, "keep_default_na": False, "na_values": empty_is_na}
        if chunk_rows is None:
            yield pd.read_csv(handle, **options)
            return
        # A header with no rows gives no chunk: read the header alone, so its columns are still checked.
        first = pd.read_csv(handle, nrows=0, **options)
        handle.seek(0)
        with pd.read_csv(handle, chunksize=chunk_rows, **options) as reader:
            yield from _or_empty(reader, first)
    elif ext == ".parquet":
        if chunk_rows is None:
            yield pd.read_parquet(handle)
            return
        file = pq.ParquetFile(handle)
        batches = (pa.Table.from_batches([b]).to_pandas() for b in file.iter_batches(batch_size=chunk_rows))
        yield from _or_empty(batches, file.schema_arrow.empty_table().to_pandas())
    else:
        # openpyxl reads a whole workbook anyway (and a sheet holds at most 1,048,576 rows): slice it.
        sheet = pd.read_excel(handle, dtype=str, keep_default_na=False, na_filter=False)
        step = chunk_rows or max(len(sheet), 1)
        yield from _or_empty((sheet.iloc[i : i + step] for i in range(0, len(sheet), step)), sheet)


def _or_empty(chunks: Iterable[pd.DataFrame], empty: pd.DataFrame) -> Iterator[pd.DataFrame]:
    any_chunk = False
    for chunk in chunks:
        any_chunk = True
        yield chunk
    if not any_chunk:
        yield empty.iloc[:0]


def _check_columns(path: Path, frame: pd.DataFrame) -> None:
    names = [str(c).strip() for c in frame.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    missing = [c for c in SCHEMA if c not in names]
    unknown = [n for n in names if n not in SCHEMA]
    parts = []
    if dupes:
        parts.append(f"column(s) appear more than once: {', '.join(dupes)}")
    for n in unknown:
        parts.append(f"unknown column {n!r}{did_you_mean(n, SCHEMA)}")
    if missing:
        parts.append(f"missing column(s): {', '.join(missing)}")
    if parts:
        raise DataError(f"{path.name}: " + "; ".join(parts) + ". Expected columns: " + ", ".join(SCHEMA))


def _month_of(path: Path) -> str:
    m = SNAPSHOT_NAME.match(path.name)
    if not m:
        raise DataError(
            f"{path.name}: snapshot files must be named YYYY-MM.csv, YYYY-MM.parquet or YYYY-MM.xlsx "
            "(the month of the extract, e.g. 2025-10.csv)"
        )
    return f"{m.group(1)}-{m.group(2)}"


def _district_or_error(district_code: str) -> None:
    try:
        geography.district(district_code)
    except KeyError as exc:
        raise DataError(str(exc)) from exc


def load_snapshot(path: Path, district_code: str, *, strict: bool = True) -> Snapshot:
    """Read and validate one snapshot; strict raises DataError on any bad row, else bad rows are quarantined.

    Structural problems (unreadable file, missing or unknown columns, no rows) always raise.
    """
    stream = SnapshotStream(path, district_code, strict=strict)
    chunks = list(stream)
    frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)
    return stream.snapshot(frame)


class SnapshotStream:
    """One snapshot file read and validated `chunk_rows` rows at a time (the whole file at once if None).

    Iterating gives the rows that pass, chunk by chunk, each with the same checks and messages as a whole file
    (row numbers count from the file's first data row; a household id is checked against every earlier chunk).
    In strict mode nothing more is given once a problem is found, and DataError is raised at the end, listing
    every problem; otherwise `quarantined` holds them once iterated. Structural problems always raise."""

    def __init__(
        self,
        path: Path,
        district_code: str,
        *,
        strict: bool = True,
        chunk_rows: int | None = None,
        report: bool = False,
    ) -> None:
        self.path = Path(path)
        self.month = _month_of(self.path)
        _district_or_error(district_code)
        if not self.path.is_file():
            raise DataError(f"{self.path}: file not found")
        if chunk_rows is not None and chunk_rows < 1:
            raise ValueError(f"chunk_rows must be 1 or more, got {chunk_rows}")
        self.district_code = district_code
        self.strict = strict
        self.chunk_rows = chunk_rows
        self.report = report  # log each quarantined row on the node (the district's own log) once read
        self.quarantined: tuple[QuarantinedRow, ...] = ()
        self.digest = ""
        self.kept = 0  # rows given so far

    def __iter__(self) -> Iterator[pd.DataFrame]:
        ward_codes = geography.ward_codes(self.district_code)
        seen = FirstRows()
        found: list[QuarantinedRow] = []
        offset = 0
        # One open file for the digest and the rows, so the digest names the very bytes validated.
        with self.path.open("rb") as handle:
            self.digest = hashlib.file_digest(handle, "sha256").hexdigest()
            handle.seek(0)
            for i, raw in enumerate(_read_chunks(self.path, handle, self.chunk_rows)):
                if i == 0:
                    _check_columns(self.path, raw)
                raw.columns = [str(c).strip() for c in raw.columns]
                rows = len(raw)
                if rows == 0:
                    continue
                frame, problems = _validate(raw.reset_index(drop=True), ward_codes, offset, seen)
                del raw
                offset += rows
                found += problems
                if found and self.strict:
                    continue  # keep reading only to list every problem
                self.kept += len(frame)
                yield frame
        if offset == 0:
            raise DataError(f"{self.path.name}: the file has a header but no data rows")
        found.sort(key=lambda q: (q.row_number, list(SCHEMA).index(q.field)))
        if found and self.strict:
            lines = [_describe(self.path, q) for q in found[:MAX_LISTED]]
            more = len(found) - MAX_LISTED
            if more > 0:
                lines.append(f"... and {more} more problem(s); load with strict=False to quarantine bad rows")
            raise DataError("\n".join(lines), tuple(found))
        self.quarantined = tuple(found)
        if self.report:
            for q in self.quarantined:
                log.warning("quarantined: %s", describe(self.path, q))

    def snapshot(self, frame: pd.DataFrame) -> Snapshot:
        """The snapshot once iterated, holding `frame` (the rows given, or an empty frame when they went elsewhere)."""
        return Snapshot(self.month, self.district_code, frame, self.quarantined, self.path, self.digest)


class FirstRows:
    """The first data row of every household id met so far, across chunks.

    The ids are one Arrow string array (a national-size month's in tens of MB, not a Python set's hundreds)."""

    def __init__(self) -> None:
        self.ids = pa.array([], type=pa.string())
        self.rows = np.zeros(0, dtype=np.int64)  # 0-based file row of each id in `ids`

    def check(self, ids: pd.Series, offset: int) -> list[QuarantinedRow]:
        """A problem for each non-empty id met before (in this chunk or an earlier one); remembers the rest."""
        values = pa.array(ids.to_numpy(dtype=object), type=pa.string())
        present = (ids != "").to_numpy()
        earlier = pc.index_in(values, value_set=self.ids).fill_null(-1).to_numpy(zero_copy_only=False)
        repeated = ids.duplicated(keep="first").to_numpy()
        new = present & (earlier < 0) & ~repeated
        in_chunk = present & (earlier < 0) & repeated
        first_here = {v: i for i, v in reversed(list(enumerate(ids)))} if in_chunk.any() else {}
        found = []
        for i in np.flatnonzero(present & ((earlier >= 0) | in_chunk)):
            value = ids.iat[i]
            first = int(self.rows[earlier[i]]) if earlier[i] >= 0 else offset + first_here[value]
            found.append(
                QuarantinedRow(
                    offset + int(i) + 1, "household_id", f"household_id {value!r} already appears at row {first + 1}"
                )
            )
        if new.any():
            self.ids = pa.concat_arrays([self.ids, values.filter(pa.array(new))])
            self.rows = np.concatenate([self.rows, offset + np.flatnonzero(new)])
        return found


def _validate(
    raw: pd.DataFrame, ward_codes: tuple[str, ...], offset: int, seen: FirstRows
) -> tuple[pd.DataFrame, list[QuarantinedRow]]:
    """One chunk's rows that pass, converted, and a problem for each failing field (rows numbered from `offset`)."""
    columns: dict[str, pd.Series] = {}
    found: list[QuarantinedRow] = []
    for name, col in SCHEMA.items():
        categories = ward_codes if name == "ward_code" else col.categories
        values, problems = _convert(col, raw[name], categories)
        columns[name] = values
        shown = _text(raw[name]) if any(m.any() for m, _ in problems) else None
        for mask, reason in problems:
            for i in np.flatnonzero(mask):
                found.append(QuarantinedRow(offset + int(i) + 1, name, reason(shown.iat[i])))  # type: ignore[union-attr]
        del raw[name]  # each file column is let go once converted: a national-size file is not held twice
    # copy=False keeps each converted column as it is rather than copying all of them into 2-D blocks at once.
    frame = pd.DataFrame(columns, copy=False)
    del columns

    over = np.flatnonzero((frame["n_school_age_children"] > frame["n_children"]).to_numpy())
    for i in over:
        found.append(
            QuarantinedRow(
                offset + int(i) + 1,
                "n_school_age_children",
                f"{frame['n_school_age_children'].iat[i]} school-age children is more than "
                f"n_children ({frame['n_children'].iat[i]})",
            )
        )
    found += seen.check(frame["household_id"], offset)
    found.sort(key=lambda q: (q.row_number, list(SCHEMA).index(q.field)))
    if found:
        keep = np.ones(len(frame), dtype=bool)
        keep[[q.row_number - offset - 1 for q in found]] = False
        frame = frame[keep].reset_index(drop=True)
    return frame, found


def snapshot_files(data_dir: Path) -> dict[str, Path]:
    """Snapshot files in a folder by month; raises DataError if none, or if a month has two files."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: folder not found")
    by_month: dict[str, Path] = {}
    for p in sorted(data_dir.iterdir()):
        if not SNAPSHOT_NAME.match(p.name):
            continue
        month = p.name.split(".")[0]
        if month in by_month:
            raise DataError(f"{data_dir}: two files for {month} ({by_month[month].name}, {p.name}); keep one")
        by_month[month] = p
    if not by_month:
        raise DataError(f"{data_dir}: no snapshot files named YYYY-MM.csv, .parquet or .xlsx")
    return by_month


def unmatched_files(data_dir: Path) -> list[str]:
    """Files in a data folder that the snapshot naming rule skips, each with what to do (hidden files ignored)."""
    out = []
    for p in sorted(Path(data_dir).iterdir()):
        if p.name.startswith(".") or SNAPSHOT_NAME.match(p.name):
            continue
        fixed = p.name.lower()
        hint = (
            f"rename it {fixed}"
            if SNAPSHOT_NAME.match(fixed)
            else "name snapshots YYYY-MM.csv, .parquet or .xlsx (e.g. 2025-10.csv)"
        )
        out.append(f"{p.name}: skipped, not a snapshot name; {hint}")
    return out


def load_district(data_dir: Path, district_code: str, strict: bool = True) -> dict[str, Snapshot]:
    """Load every monthly snapshot in a district's folder, keyed by month in date order.

    Skipped files and rows set aside (strict=False) are logged on the node, with file, row, field and reason:
    the district's own log, never sent to the county."""
    return dict(district_snapshots(data_dir, district_code, strict=strict))


class DistrictSnapshots(Mapping[str, Snapshot]):
    """A district's snapshots by month, each file loaded and validated only when asked for (never kept).

    A node holding a national-size district takes its months one at a time, so no two raw months are in
    memory together."""

    def __init__(self, data_dir: Path, district_code: str, *, strict: bool = True) -> None:
        for problem in unmatched_files(data_dir) if Path(data_dir).is_dir() else []:
            log.warning("%s: %s", data_dir, problem)
        self.paths = dict(sorted(snapshot_files(data_dir).items()))
        self.district_code = district_code
        self.strict = strict

    def __getitem__(self, month: str) -> Snapshot:
        snapshot = load_snapshot(self.paths[month], self.district_code, strict=self.strict)
        for q in snapshot.quarantined:
            log.warning("quarantined: %s", describe(snapshot.source, q))
        return snapshot

    def stream(self, month: str, chunk_rows: int) -> SnapshotStream:
        """One month's file to be read a chunk at a time; its quarantined rows are logged once it has been read."""
        return SnapshotStream(
            self.paths[month], self.district_code, strict=self.strict, chunk_rows=chunk_rows, report=True
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


def district_snapshots(data_dir: Path, district_code: str, *, strict: bool = True) -> DistrictSnapshots:
    """A district's snapshots by month, in date order, loaded one at a time as they are read."""
    return DistrictSnapshots(data_dir, district_code, strict=strict)


def describe(path: Path, q: QuarantinedRow) -> str:
    """A set-aside row as an officer finds it: file, row, field and reason."""
    return _describe(path, q)
