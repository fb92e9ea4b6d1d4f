"""A node's months: each snapshot derived and compacted once, then held in memory or read back when asked.

At district size every month stays in memory (the fastest answer). A national-size node instead writes each
month to a working copy beside its ledger as it loads it (Arrow IPC, or Parquet for DuckDB), reading each file
a chunk of rows at a time (never a whole raw month in memory while starting), and then holds at most a few
months at once, least recently used first out (or none: DuckDB reads the copies itself). The copies are
rewritten from the validated snapshots at every start, so what a query reads is always the file whose digest
the snapshot version names."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from node.compact import DICTIONARY, PENNIES, compact, is_dictionary
from node.derive import derive
from node.loader import DistrictSnapshots, Snapshot, SnapshotStream
from node.query import MAX_ROWS_PER_SNAPSHOT
from node.schema import DERIVED, SCHEMA
from reference.rates import Rates, rates_for_month

WorkingFormat = Literal["arrow", "parquet"]
CHUNK_ROWS = 131_072  # rows derived at a time: a national-size month's intermediates stay ~100 MB
# Never queryable (node.schema.queryable_columns), so a serving node does not hold them at all.
IDENTIFIERS = tuple(name for name, c in SCHEMA.items() if c.identifier)


@dataclass(frozen=True)
class PreparedMonths:
    """Derived, compact frames by month, plus each snapshot's identity and findings (its frame emptied)."""

    frames: Mapping[str, pd.DataFrame]
    snapshots: dict[str, Snapshot]
    paths: dict[str, Path]  # the working copies, when written
    pennies: dict[str, tuple[str, ...]]  # by month, the columns held as whole pennies


def prepare_months(
    snapshots: Mapping[str, Snapshot],
    *,
    working_dir: Path | None = None,
    capacity: int | None = None,
    fmt: WorkingFormat = "arrow",
) -> PreparedMonths:
    """Derive and compact each month in turn; with `working_dir`, write it there and hold at most `capacity`."""
    if capacity is not None and capacity < 0:
        raise ValueError(f"months_in_memory must be 0 or more, got {capacity}")
    held: dict[str, pd.DataFrame] = {}
    kept: dict[str, Snapshot] = {}
    paths: dict[str, Path] = {}
    pennies: dict[str, tuple[str, ...]] = {}
    for month in sorted(snapshots):
        if working_dir is not None and isinstance(snapshots, DistrictSnapshots):
            # A national-size node: the file is read a chunk at a time, never a whole raw month in memory.
            snapshot, frame = streamed_month_frame(snapshots.stream(month, CHUNK_ROWS), working_dir)
        else:
            snapshot = snapshots[month]  # a lazy mapping loads the file only now
            check_snapshot_size(month, len(snapshot.frame))
            frame = month_frame(snapshot)
        # An empty copy, not an empty slice: a slice is a view that would keep the whole raw month alive.
        kept[month] = replace(snapshot, frame=snapshot.frame.iloc[:0].copy())
        del snapshot
        pennies[month] = tuple(frame.attrs[PENNIES])
        if working_dir is None:
            held[month] = frame
        else:
            paths[month] = write_working_copy(frame, working_dir, month, fmt)
            del frame
            release_memory()
    frames: Mapping[str, pd.DataFrame] = held if working_dir is None else MonthFrames(paths, capacity or 0)
    return PreparedMonths(frames, kept, paths, pennies)


def release_memory() -> None:
    """Give the memory a month's loading used back to the system before the next month is loaded.

    Reading and deriving a national-size month allocates several times the month's final size; glibc and
    Arrow's allocator otherwise keep those freed pages, and the next month's would be added on top."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc (musl, say): nothing to trim
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def month_frame(snapshot: Snapshot, chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """One month as a node holds it: derived, without identifiers, in compact types.

    Derived a block of rows at a time (each household's measures depend on its own row only), so a
    national-size month's intermediate arrays are a block's, not the whole month's."""
    rates = rates_for_month(snapshot.month)
    raw = snapshot.frame
    names = list(DERIVED)
    blocks = [
        derive(raw.iloc[start : start + chunk_rows], rates, month=snapshot.month)[names]
        for start in range(0, max(len(raw), 1), chunk_rows)
    ]
    derived = pd.concat(blocks) if len(blocks) > 1 else blocks[0]
    kept = raw.drop(columns=[c for c in (*IDENTIFIERS, *names) if c in raw.columns])
    return compact(pd.concat([kept, derived], axis=1))


def streamed_month_frame(stream: SnapshotStream, staging_dir: Path) -> tuple[Snapshot, pd.DataFrame]:
    """One month read, validated and derived a chunk at a time, then compacted: the same frame as `month_frame`.

    Compact types depend on a whole column's values (its range, its distinct amounts), so each derived chunk is
    first written as it is to a staging Arrow IPC file, and the month is then compacted a column at a time from it:
    at most a chunk's raw rows, or one full-width column beside the compact month, are in memory at once."""
    rates = rates_for_month(stream.month)
    staging = staging_dir / f".{stream.month}.staging.arrow"
    staging_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    dtypes: dict[str, object] = {}
    template, empty = pd.DataFrame(), pd.DataFrame()
    try:
        writer: pa.ipc.RecordBatchFileWriter | None = None
        schema: pa.Schema | None = None  # the first chunk's: every later one is written in exactly its types
        # The writer is closed (its footer written) even when a later chunk fails, before the file is.
        with open_private(staging) as f, contextlib.ExitStack() as closing:
            for raw in stream:
                check_snapshot_size(stream.month, stream.kept)
                block = full_width_block(raw, rates, stream.month)
                if not dtypes:
                    template, empty, dtypes = raw.iloc[:0].copy(), block.iloc[:0].copy(), dict(block.dtypes.items())
                del raw
                if block.empty:  # every row set aside; an empty block would type its text columns as null
                    continue
                table = pa.Table.from_pandas(block, schema=schema, preserve_index=False)
                schema = table.schema
                writer = writer or closing.enter_context(pa.ipc.new_file(f, schema))
                writer.write_table(table)
                del block, table
        snapshot = stream.snapshot(template)
        frame = compact_columns(staging, dtypes) if writer is not None else compact(empty)
    finally:
        staging.unlink(missing_ok=True)
    return snapshot, frame


def full_width_block(raw: pd.DataFrame, rates: Rates, month: str) -> pd.DataFrame:
    """Some validated rows as a node holds them before compacting: derived, without identifiers."""
    names = list(DERIVED)
    kept = raw.drop(columns=[c for c in (*IDENTIFIERS, *names) if c in raw.columns])
    return pd.concat([kept, derive(raw, rates, month=month)[names]], axis=1)


def compact_columns(staging: Path, dtypes: Mapping[str, object]) -> pd.DataFrame:
    """The staged month in compact types, one column read and compacted at a time (each column's form is its own)."""
    columns: dict[str, pd.Series] = {}
    pennies: list[str] = []
    for name, dtype in dtypes.items():
        # Parquet may give a categorical's categories in another order, and nulls where NaN was: restore the type.
        # Not memory-mapped: a mapped file's pages would count in the node's memory until it is closed.
        column = feather.read_table(staging, columns=[name], memory_map=False).column(0).to_pandas().astype(dtype)
        one = compact(pd.DataFrame({name: column}))
        columns[name] = one[name]
        pennies += one.attrs[PENNIES]
    frame = pd.DataFrame(columns, copy=False)
    frame.attrs[PENNIES] = pennies
    frame.attrs[DICTIONARY] = [name for name in frame.columns if is_dictionary(frame[name])]
    return frame


@contextlib.contextmanager
def open_private(path: Path) -> Iterator[BinaryIO]:
    """A file opened for writing that only the node's account can read (it holds household data)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        yield f


def write_working_copy(frame: pd.DataFrame, directory: Path, month: str, fmt: WorkingFormat) -> Path:
    """Write a month's frame, readable by the node's account only (it is household data).

    Arrow IPC keeps every compact type (Parquet keeps no dictionary of numbers), so a month read back into
    memory is as small as it was; Parquet is what DuckDB scans out of core."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{month}.{fmt}"
    with open_private(path) as f:
        if fmt == "arrow":
            frame.to_feather(f)
        else:
            frame.to_parquet(f, index=False)
    return path


def read_working_copy(path: Path) -> pd.DataFrame:
    """A month's frame as written: from Arrow IPC in its compact types, or from Parquet (money codes decoded)."""
    return pd.read_feather(path) if path.suffix == ".arrow" else pd.read_parquet(path)


def check_snapshot_size(month: str, rows: int) -> None:
    """Refuse to serve a snapshot too large for exact 64-bit sums (see node.query.MAX_ROWS_PER_SNAPSHOT)."""
    if rows > MAX_ROWS_PER_SNAPSHOT:
        raise ValueError(
            f"the {month} snapshot has {rows:,} households; a node serves at most "
            f"{MAX_ROWS_PER_SNAPSHOT:,} per snapshot, so that every exact sum stays exact"
        )


class MonthFrames(Mapping[str, pd.DataFrame]):
    """Frames by month read from working copies when asked, at most `capacity` held (least recently used out)."""

    def __init__(self, paths: Mapping[str, Path], capacity: int) -> None:
        self.paths = dict(paths)
        self.capacity = capacity
        self._held: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()  # the server answers on several threads

    def __getitem__(self, month: str) -> pd.DataFrame:
        path = self.paths[month]
        with self._lock:
            if month in self._held:
                self._held.move_to_end(month)
                return self._held[month]
        # Read outside the lock: two threads may both read a month, but neither waits on the other's disk.
        frame = read_working_copy(path)
        with self._lock:
            if self.capacity > 0:
                self._held[month] = frame
                self._held.move_to_end(month)
                while len(self._held) > self.capacity:
                    self._held.popitem(last=False)
        return frame

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def held(self) -> list[str]:
        """The months in memory now, least recently used first."""
        with self._lock:
            return list(self._held)
