"""Exact aggregation at the node: filter, group and clamp with pandas. Nothing here leaves the node unnoised."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from node.compact import exact_values
from node.query import FilterClause, ValidatedQuery
from node.schema import Column


@dataclass(frozen=True)
class CellKey:
    """Where a cell sits: the month, its level, and its group-by values (empty for a district total)."""

    month: str
    level: Literal["group", "district"]
    groups: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ExactAggregate:
    """Exact cells over the full public key list; `sums` only for sum and mean measures."""

    keys: tuple[CellKey, ...]
    counts: tuple[int, ...]
    sums: tuple[int, ...] | None
    cells_per_contribution: int


class Executor(Protocol):
    """Where a node's exact aggregation runs (pandas in memory, or DuckDB over Parquet): same cells either way."""

    def aggregate(
        self, query: ValidatedQuery, columns: Mapping[str, Column], wards: Sequence[str]
    ) -> ExactAggregate: ...


@dataclass(frozen=True)
class PandasExecutor:
    """Exact aggregation over frames held in memory (the default, for district-size data)."""

    frames: Mapping[str, pd.DataFrame]

    def aggregate(self, query: ValidatedQuery, columns: Mapping[str, Column], wards: Sequence[str]) -> ExactAggregate:
        """Exact counts (and clamped sums) for every public cell of every month asked for."""
        return exact_aggregate(self.frames, query, columns, wards)


def public_categories(column: Column, wards: Sequence[str]) -> tuple[str, ...]:
    """The public key list for a group-by column: ward codes from the reference geography, else the schema's."""
    if column.name == "ward_code":
        return tuple(wards)
    if column.kind == "bool":
        return ("false", "true")
    return tuple(column.categories)


# One comparison per operator, for numpy arrays and pandas Series alike.
COMPARE = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def filter_mask(frame: pd.DataFrame, clauses: Sequence[FilterClause]) -> np.ndarray:
    """Rows meeting every clause; a missing value meets no comparison but 'not equal'."""
    mask = np.ones(len(frame), dtype=bool)
    for c in clauses:
        col = exact_values(frame, c.column)
        if c.op == "in":
            mask &= col.astype("object").isin(list(c.value)).to_numpy()  # type: ignore[arg-type]
            continue
        if col.dtype == bool and c.op in ("eq", "ne"):
            # The commonest filter (on_cts = true) on a plain bool column: no missing values, so numpy alone.
            mask &= (col.to_numpy() == c.value) == (c.op == "eq")
            continue
        if col.dtype == np.float64 and not isinstance(c.value, str | bool):
            # Money and other float columns: numpy compares as pandas does for float64 (a missing value, NaN,
            # meets no comparison but 'not equal'), without building a Series per clause.
            mask &= COMPARE[c.op](col.to_numpy(), c.value)
            continue
        mask &= COMPARE[c.op](col, c.value).fillna(c.op == "ne").to_numpy(dtype=bool)
    return mask


def exact_aggregate(
    frames: Mapping[str, pd.DataFrame],
    query: ValidatedQuery,
    columns: Mapping[str, Column],
    wards: Sequence[str],
) -> ExactAggregate:
    """Exact counts (and clamped whole-pound sums) for every public cell of every month asked for."""
    levels = [public_categories(columns[g], wards) for g in query.group_by]
    parts = []
    for month in query.months:
        # Arrays, not frames: a district-size answer is a few thousand rows, where building filtered DataFrames
        # cost more than the arithmetic.
        frame = frames[month]
        mask = filter_mask(frame, query.filters)
        values = None
        if query.measure != "count":
            measured = exact_values(frame, query.column)
            # Households with no value for the measured column are left out of both sum and count.
            mask &= measured.notna().to_numpy()
            values = clamp_whole_pounds(measured[mask], query.lower, query.upper).to_numpy()
        if query.group_by:
            cell = group_index(frame, mask, query.group_by, levels)
            counts, sums = cell_totals(cell, values, math.prod(len(level) for level in levels))
        else:
            counts, sums = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        total_sum = int(values.sum()) if values is not None else 0
        parts.append(MonthCells(month, counts, sums, int(mask.sum()), total_sum))
    return assemble(query, levels, parts)


@dataclass(frozen=True)
class MonthCells:
    """One month's exact group cells (in public key order) and its district total, from any engine."""

    month: str
    counts: np.ndarray
    sums: np.ndarray
    total_count: int
    total_sum: int


def assemble(query: ValidatedQuery, levels: Sequence[Sequence[str]], parts: Sequence[MonthCells]) -> ExactAggregate:
    """The engine-independent layout: per month, every public group cell in order, then the district total."""
    combos = list(itertools.product(*levels)) if query.group_by else []
    keys: list[CellKey] = []
    counts: list[int] = []
    sums: list[int] = []
    for part in parts:
        keys += [CellKey(part.month, "group", tuple(zip(query.group_by, combo, strict=True))) for combo in combos]
        counts += part.counts.tolist()
        sums += part.sums.tolist() if query.measure != "count" else [0] * len(combos)
        keys.append(CellKey(part.month, "district", ()))
        counts.append(part.total_count)
        sums.append(part.total_sum)
    return ExactAggregate(
        keys=tuple(keys),
        counts=tuple(int(c) for c in counts),
        sums=tuple(int(s) for s in sums) if query.measure != "count" else None,
        # With groups only the group cells are noised; the district total is their sum (post-processing), so a
        # household touches one released cell a month either way.
        cells_per_contribution=1,
    )


def clamp_whole_pounds(values: pd.Series, lower: int, upper: int) -> pd.Series:
    """Round each household's value to whole pounds, then clamp it to the query's bounds."""
    return values.astype("float64").round().clip(lower, upper).astype("int64")


def group_index(
    frame: pd.DataFrame, mask: np.ndarray, group_by: Sequence[str], levels: Sequence[Sequence[str]]
) -> np.ndarray:
    """Each kept row's cell as a position in the public key product (row-major), or -1 if a key is not public."""
    n = int(mask.sum())
    index = np.zeros(n, dtype=np.int64)
    missing = np.zeros(n, dtype=bool)
    for name, level in zip(group_by, levels, strict=True):
        codes = category_codes(frame[name], level)[mask]
        missing |= codes < 0
        index = index * len(level) + codes
    index[missing] = -1
    return index


def category_codes(column: pd.Series, level: Sequence[str]) -> np.ndarray:
    """Positions of a column's values in the public list, kept as integer codes (never converted to text)."""
    if column.dtype == bool:
        return column.to_numpy().astype(np.int64)  # ("false", "true")
    if str(column.dtype) == "boolean":
        return column.astype("Int64").fillna(-1).to_numpy().astype(np.int64)
    if isinstance(column.dtype, pd.CategoricalDtype):
        if tuple(column.cat.categories) != tuple(level):
            column = column.cat.set_categories(list(level))
        return np.asarray(column.array.codes, dtype=np.int64)  # the codes themselves, no Series built
    return pd.Categorical(column.astype("object"), categories=list(level)).codes.astype(np.int64)


def cell_totals(cell: np.ndarray, values: np.ndarray | None, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-cell counts and integer sums (sums in int64, never through floating point)."""
    keep = cell >= 0
    counts = np.bincount(cell[keep], minlength=n_cells).astype(np.int64)
    sums = np.zeros(n_cells, dtype=np.int64)
    if values is not None:
        np.add.at(sums, cell[keep], values[keep].astype(np.int64))
    return counts, sums
