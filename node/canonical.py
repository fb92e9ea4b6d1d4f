"""The canonical question: what decides a release's answer distribution, and so whether a query is a replay.

Two queries with the same canonical question over the same data get the same stored release. The form keeps
the measure, measured column, rounded clamping bounds, normalised filters, group-by (in order: it sets the
cell layout), months, dataset, and the planned noise (mechanism and scale of each release). It leaves out
what does not change the answer: the query id, `indicator`, `purpose`, the analyst, and whether the loss was
asked as epsilon, rho or a target accuracy (they resolve to a scale). Normalisation uses only the public
schema (types, valid ranges, categories, whether a column can be missing), never the data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node.query import FilterClause, ValidatedQuery
from node.schema import Column
from protos.serde import canonical_json, question_fields

# A clause no row meets, standing for any contradiction the normaliser recognises (x = 2.5 on whole numbers).
NEVER = FilterClause("", "never", "")


@dataclass(frozen=True)
class PlannedNoise:
    """One release's noise as planned: with the exact cells, it fixes the answer's distribution."""

    mechanism: str
    scale: float


def normalise_filters(filters: Sequence[FilterClause], columns: Mapping[str, Column]) -> tuple[FilterClause, ...]:
    """Filters in canonical form: same rows selected for every dataset the schema allows, sorted, merged."""
    by_column: dict[str, list[FilterClause]] = {}
    for f in filters:
        by_column.setdefault(f.column, []).append(f)
    out: list[FilterClause] = []
    for name, clauses in by_column.items():
        col = columns[name]
        if col.kind in ("int", "float"):
            normal = _numeric(col, clauses)
        elif col.kind == "bool":
            normal = _flags(col, clauses)
        elif col.kind == "category":
            normal = _categories(col, clauses)
        else:
            normal = sorted(set(clauses), key=_sort_key)
        if NEVER in normal:
            return (NEVER,)
        out += normal
    return tuple(sorted(out, key=_sort_key))


def _sort_key(f: FilterClause) -> str:
    return json.dumps([f.column, f.op, _jsonable(f.value)])


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _ranged(col: Column) -> bool:
    # The loader refuses (or quarantines) any row outside the schema's range, and a non-nullable column has
    # no missing values; only then does a comparison covering the whole range select every row.
    return not col.nullable and not col.derived


def _numeric(col: Column, clauses: Sequence[FilterClause]) -> list[FilterClause]:
    """Numeric clauses of one column as at most a lower bound, an upper bound, an equality and exclusions."""
    whole = col.kind == "int"
    lower: tuple[float, bool] | None = None  # (value, strict)
    upper: tuple[float, bool] | None = None
    equal: set[float] = set()
    excluded: set[float] = set()
    for c in clauses:
        v = float(c.value)  # type: ignore[arg-type]
        if whole:
            # On whole numbers every comparison is a closed one with a whole-number bound.
            if c.op in ("gt", "ge"):
                lower = _tighter_lower(lower, (float(math.floor(v) + 1 if c.op == "gt" else math.ceil(v)), False))
            elif c.op in ("lt", "le"):
                upper = _tighter_upper(upper, (float(math.ceil(v) - 1 if c.op == "lt" else math.floor(v)), False))
            elif c.op == "eq":
                if v != math.floor(v):
                    return [NEVER]
                equal.add(v)
            elif c.op == "ne" and v == math.floor(v):
                excluded.add(v)  # a whole column is never equal to 2.5: "ne 2.5" selects every row
            continue
        if c.op in ("gt", "ge"):
            lower = _tighter_lower(lower, (v, c.op == "gt"))
        elif c.op in ("lt", "le"):
            upper = _tighter_upper(upper, (v, c.op == "lt"))
        elif c.op == "eq":
            equal.add(v)
        elif c.op == "ne":
            excluded.add(v)
    if len(equal) > 1:
        return [NEVER]
    if equal:
        (v,) = equal
        if v in excluded or not _within(v, lower, upper):
            return [NEVER]
        # An equality implies every other clause on the column that it satisfies; it also excludes missing rows.
        return [FilterClause(col.name, "eq", v)]
    if lower is not None and upper is not None and not _nonempty(lower, upper):
        return [NEVER]
    if _ranged(col) and col.minimum is not None and lower is not None and _covers_below(lower, col.minimum):
        lower = None
    if _ranged(col) and col.maximum is not None and upper is not None and _covers_above(upper, col.maximum):
        upper = None
    # NE keeps missing rows, so an exclusion outside the valid range (or the other bounds) removes nothing.
    kept = sorted(v for v in excluded if _within(v, lower, upper) and _in_schema_range(col, v))
    out = [FilterClause(col.name, "ne", v) for v in kept]
    if lower is not None:
        out.append(FilterClause(col.name, "gt" if lower[1] else "ge", lower[0]))
    if upper is not None:
        out.append(FilterClause(col.name, "lt" if upper[1] else "le", upper[0]))
    return out


def _tighter_lower(a: tuple[float, bool] | None, b: tuple[float, bool]) -> tuple[float, bool]:
    if a is None:
        return b
    return max(a, b)  # larger value wins; at the same value, strict (True) wins


def _tighter_upper(a: tuple[float, bool] | None, b: tuple[float, bool]) -> tuple[float, bool]:
    if a is None:
        return b
    return min(a, b, key=lambda t: (t[0], not t[1]))  # smaller value wins; at the same value, strict wins


def _within(v: float, lower: tuple[float, bool] | None, upper: tuple[float, bool] | None) -> bool:
    above = lower is None or (v > lower[0] if lower[1] else v >= lower[0])
    below = upper is None or (v < upper[0] if upper[1] else v <= upper[0])
    return above and below


def _nonempty(lower: tuple[float, bool], upper: tuple[float, bool]) -> bool:
    if lower[0] != upper[0]:
        return lower[0] < upper[0]
    return not (lower[1] or upper[1])


def _covers_below(lower: tuple[float, bool], minimum: float) -> bool:
    return lower[0] < minimum or (lower[0] == minimum and not lower[1])


def _covers_above(upper: tuple[float, bool], maximum: float) -> bool:
    return upper[0] > maximum or (upper[0] == maximum and not upper[1])


def _in_schema_range(col: Column, v: float) -> bool:
    if not _ranged(col):
        return True
    return (col.minimum is None or v >= col.minimum) and (col.maximum is None or v <= col.maximum)


def _flags(col: Column, clauses: Sequence[FilterClause]) -> list[FilterClause]:
    """True/false clauses as equalities: NE true is EQ false when the flag cannot be missing."""
    wanted: set[tuple[str, bool]] = set()
    for c in clauses:
        flag = bool(c.value)
        wanted.add(("eq", not flag) if c.op == "ne" and not col.nullable else (c.op, flag))
    if {("eq", True), ("eq", False)} <= wanted:
        return [NEVER]
    return [FilterClause(col.name, op, flag) for op, flag in sorted(wanted)]


def _categories(col: Column, clauses: Sequence[FilterClause]) -> list[FilterClause]:
    """Category clauses as one sorted IN-set (their intersection), plus NE where the categories are unknown."""
    allowed: set[str] | None = None
    excluded: set[str] = set()
    for c in clauses:
        if c.op == "in":
            chosen = set(c.value)  # type: ignore[arg-type]
        elif c.op == "eq":
            chosen = {str(c.value)}
        elif col.categories and not col.nullable:
            # NE keeps missing rows; a column that cannot be missing has only its categories to choose from.
            chosen = set(col.categories) - {str(c.value)}
        else:
            excluded.add(str(c.value))
            continue
        allowed = chosen if allowed is None else allowed & chosen
    if allowed is not None:
        allowed -= excluded
        if not allowed:
            return [NEVER]
        if col.categories and not col.nullable and allowed >= set(col.categories):
            return []
        return [FilterClause(col.name, "in", tuple(sorted(allowed)))]
    return [FilterClause(col.name, "ne", v) for v in sorted(excluded)]


def canonical_question(vq: ValidatedQuery, columns: Mapping[str, Column], noise: Sequence[PlannedNoise]) -> str:
    """The canonical question as JSON: the replay identity, before the data's version is added.

    The wire vocabulary's question fields, over the normalised filters, with the dataset and planned noise."""
    fields = question_fields(
        vq.measure,
        vq.column,
        vq.lower,
        vq.upper,
        [(f.column, f.op, f.value) for f in normalise_filters(vq.filters, columns)],
        vq.group_by,
        vq.months,
    )
    fields["dataset"] = vq.dataset
    fields["noise"] = [[n.mechanism, repr(float(n.scale))] for n in noise]
    return canonical_json(fields)
