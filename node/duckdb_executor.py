"""Exact aggregation on DuckDB over Parquet snapshots: the same cells as the pandas executor, out of core.

For national-size nodes: each month's derived frame is written once to Parquet and dropped from memory, and
DuckDB scans only the columns a query names, within a memory limit. Only the exact aggregation runs here; the
privacy path after it (planning, the ledger's charge, OpenDP's noise) is the engine's, shared by both executors.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from node.compact import PENNIES
from node.executor import ExactAggregate, MonthCells, assemble, public_categories
from node.query import FilterClause, ValidatedQuery
from node.schema import Column

COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class DuckDBExecutor:
    """Exact cells from Parquet files, one per month, through one DuckDB connection (queries serialised)."""

    def __init__(
        self,
        paths: Mapping[str, Path],
        *,
        pennies: Mapping[str, Sequence[str]] | None = None,
        memory_limit: str = "512MB",
        threads: int = 2,
    ) -> None:
        import duckdb  # optional dependency (the `duckdb` extra): only nodes configured for it import it

        self.paths = dict(paths)
        # By month, the money columns held as whole pennies (node.compact): read back as pounds, exactly.
        self.pennies = {month: frozenset((pennies or {}).get(month, ())) for month in self.paths}
        self._conn = duckdb.connect(config={"memory_limit": memory_limit, "threads": threads})
        self._lock = threading.Lock()  # a DuckDB connection is not safe to share between threads

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame], directory: Path, **kwargs: Any) -> DuckDBExecutor:
        """Write each month's frame to `directory` as Parquet (the node's working copy) and open over them."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = {}
        pennies = {}
        for month, frame in frames.items():
            path = directory / f"{month}.parquet"
            frame.to_parquet(path, index=False)
            paths[month] = path
            pennies[month] = tuple(frame.attrs.get(PENNIES, ()))
        return cls(paths, pennies=pennies, **kwargs)

    def aggregate(self, query: ValidatedQuery, columns: Mapping[str, Column], wards: Sequence[str]) -> ExactAggregate:
        """Exact counts (and clamped whole-pound sums) for every public cell of every month asked for."""
        levels = [public_categories(columns[g], wards) for g in query.group_by]
        return assemble(query, levels, [self._month(month, query, levels) for month in query.months])

    def _month(self, month: str, query: ValidatedQuery, levels: Sequence[Sequence[str]]) -> MonthCells:
        pennies = self.pennies[month]
        where, args = where_clause(query.filters, pennies)
        value = "NULL"
        if query.measure != "count":
            measured = column_sql(query.column, pennies)
            where.append(f"{measured} IS NOT NULL")
            # round_even matches pandas (round half to even) before the clamp, as clamp_whole_pounds does.
            value = (
                f"CAST(LEAST(GREATEST(round_even(CAST({measured} AS DOUBLE), 0), {int(query.lower)}), "
                f"{int(query.upper)}) AS BIGINT)"
            )
        keys = ", ".join(quote(g) for g in query.group_by)
        select = f"SELECT {keys + ', ' if keys else ''}COUNT(*), SUM({value}) FROM read_parquet(?)"
        sql = select + (" WHERE " + " AND ".join(where) if where else "") + (f" GROUP BY {keys}" if keys else "")
        with self._lock:
            rows = self._conn.execute(sql, [str(self.paths[month]), *args]).fetchall()
        return month_cells(month, rows, levels, query.measure != "count")


def month_cells(month: str, rows: list[tuple[Any, ...]], levels: Sequence[Sequence[str]], summed: bool) -> MonthCells:
    """Place DuckDB's grouped rows at their public positions; the total counts every row, as pandas does."""
    n_cells = math.prod(len(level) for level in levels) if levels else 0
    counts = np.zeros(n_cells, dtype=np.int64)
    sums = np.zeros(n_cells, dtype=np.int64)
    positions = [{v: i for i, v in enumerate(level)} for level in levels]
    total_count, total_sum = 0, 0
    for row in rows:
        *key, count, total = row
        total_count += int(count)
        total_sum += int(total or 0) if summed else 0
        cell = 0
        for value, place, level in zip(key, positions, levels, strict=True):
            text = key_text(value)
            if text not in place:
                cell = -1
                break
            cell = cell * len(level) + place[text]
        if levels and cell >= 0:
            counts[cell] += int(count)
            sums[cell] += int(total or 0) if summed else 0
    return MonthCells(month, counts, sums, total_count, total_sum)


def key_text(value: Any) -> str | None:
    """A group value as the public list spells it ('true'/'false' for flags)."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def where_clause(filters: Sequence[FilterClause], pennies: frozenset[str] = frozenset()) -> tuple[list[str], list[Any]]:
    """SQL conditions and their parameters; a missing value meets no comparison but 'not equal', as in pandas."""
    where: list[str] = []
    args: list[Any] = []
    for clause in filters:
        column = column_sql(clause.column, pennies)
        if clause.op == "in":
            assert isinstance(clause.value, tuple)
            if not clause.value:
                where.append("FALSE")
                continue
            where.append(f"CAST({column} AS VARCHAR) IN ({', '.join('?' for _ in clause.value)})")
            args += list(clause.value)
            continue
        op = COMPARISONS[clause.op]
        cast = "CAST({} AS VARCHAR)" if isinstance(clause.value, str) else "{}"
        condition = f"{cast.format(column)} {op} ?"
        where.append(f"({condition} OR {column} IS NULL)" if clause.op == "ne" else condition)
        args.append(clause.value)
    return where, args


def column_sql(name: str, pennies: frozenset[str]) -> str:
    """A column's exact value in SQL: pennies divided back to the float64 pounds they were (IEEE division)."""
    return f"(CAST({quote(name)} AS DOUBLE) / 100)" if name in pennies else quote(name)


def quote(name: str) -> str:
    """A column name as a SQL identifier (names come from the schema, never from the wire, but quote anyway)."""
    return '"' + name.replace('"', '""') + '"'
