"""Exact aggregation at the node: filter, group and clamp with pandas. Nothing here leaves the node unnoised."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

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


def public_categories(column: Column, wards: Sequence[str]) -> tuple[str, ...]:
    """The public key list for a group-by column: ward codes from the reference geography, else the schema's."""
    if column.name == "ward_code":
        return tuple(wards)
    if column.kind == "bool":
        return ("false", "true")
    return tuple(column.categories)


def filter_mask(frame: pd.DataFrame, clauses: Sequence[FilterClause]) -> pd.Series:
    """Rows meeting every clause; a missing value meets no comparison but 'not equal'."""
    mask = pd.Series(True, index=frame.index)
    for c in clauses:
        col = frame[c.column]
        if c.op == "in":
            mask &= col.astype("object").isin(list(c.value)).to_numpy()  # type: ignore[arg-type]
            continue
        compare = {
            "eq": col.__eq__,
            "ne": col.__ne__,
            "lt": col.__lt__,
            "le": col.__le__,
            "gt": col.__gt__,
            "ge": col.__ge__,
        }[c.op]
        mask &= compare(c.value).fillna(c.op == "ne").astype(bool)
    return mask


def exact_aggregate(
    frames: Mapping[str, pd.DataFrame],
    query: ValidatedQuery,
    columns: Mapping[str, Column],
    wards: Sequence[str],
) -> ExactAggregate:
    """Exact counts (and clamped whole-pound sums) for every public cell of every month asked for."""
    levels = [public_categories(columns[g], wards) for g in query.group_by]
    combos = list(itertools.product(*levels)) if query.group_by else []
    keys: list[CellKey] = []
    counts: list[int] = []
    sums: list[int] = []
    for month in query.months:
        frame = frames[month]
        rows = frame[filter_mask(frame, query.filters)]
        values = None
        if query.measure != "count":
            # Households with no value for the measured column are left out of both sum and count.
            rows = rows[rows[query.column].notna()]
            values = clamp_whole_pounds(rows[query.column], query.lower, query.upper)
        if combos:
            group_counts, group_sums = _grouped(rows, values, query.group_by, combos)
            keys += [CellKey(month, "group", tuple(zip(query.group_by, combo, strict=True))) for combo in combos]
            counts += group_counts
            sums += group_sums
        keys.append(CellKey(month, "district", ()))
        counts.append(len(rows))
        sums.append(int(values.sum()) if values is not None else 0)
    return ExactAggregate(
        keys=tuple(keys),
        counts=tuple(counts),
        sums=tuple(sums) if query.measure != "count" else None,
        # With groups, a household touches its group cell and its district total each month.
        cells_per_contribution=2 if combos else 1,
    )


def clamp_whole_pounds(values: pd.Series, lower: int, upper: int) -> pd.Series:
    """Round each household's value to whole pounds, then clamp it to the query's bounds."""
    return values.astype("float64").round().clip(lower, upper).astype("int64")


def _grouped(
    rows: pd.DataFrame,
    values: pd.Series | None,
    group_by: Sequence[str],
    combos: list[tuple[str, ...]],
) -> tuple[list[int], list[int]]:
    keyframe = pd.DataFrame({g: _as_key(rows[g]) for g in group_by}, index=rows.index)
    index = pd.MultiIndex.from_tuples(combos, names=list(group_by))
    grouped = keyframe.groupby(list(group_by), observed=True, sort=False)
    counts = grouped.size().reindex(index, fill_value=0)
    if values is None:
        return [int(c) for c in counts.to_numpy()], [0] * len(combos)
    sums = values.groupby([keyframe[g] for g in group_by], observed=True, sort=False).sum()
    sums = sums.reindex(index, fill_value=0)
    return [int(c) for c in counts.to_numpy()], [int(s) for s in sums.to_numpy()]


def _as_key(column: pd.Series) -> pd.Series:
    """Group keys as text, matching the public category list ('true'/'false' for flags)."""
    if column.dtype == bool or str(column.dtype) == "boolean":
        return column.map({True: "true", False: "false"}).astype("object")
    return column.astype("object").astype(str).where(column.notna(), np.nan)
