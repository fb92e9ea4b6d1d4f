"""Where a query is validated: a structured `Query` message checked against the schema and the node's data."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from node.schema import Column, did_you_mean
from protos.lsi.v1 import query_pb2
from protos.serde import (
    CAMPAIGN_PREFIX,
    MEASURES,
    OPERATORS,
    MeasureKind,
    Mechanism,
    canonical_json,
    mechanism_from_wire,
    question_fields,
)

ORDERED_OPS = {"lt", "le", "gt", "ge"}
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# Large enough for a year of monthly snapshots twice over; bounds the sensitivity a single query can carry.
MAX_MONTHS = 24
MAX_GROUP_COLUMNS = 2
# Exact aggregates are 64-bit integers, and OpenDP adds noise in 64 bits too. These two limits keep every
# exact cell inside +-EXACT_LIMIT (half the int64 range, leaving the other half for noise): a cell sums at most
# one snapshot's households, each clamped to at most MAX_CLAMP_ABS pounds. MAX_MONTHS is in the product too, so
# the bound would still hold if a future layout pooled months into one cell. Far above any household's money
# (the schema's largest maximum is £100,000) and any district's size (the built-in pack's largest: under 70,000).
MAX_CLAMP_ABS = 10_000_000
MAX_ROWS_PER_SNAPSHOT = 10_000_000
EXACT_LIMIT = 2**62
assert MAX_CLAMP_ABS * MAX_ROWS_PER_SNAPSHOT * MAX_MONTHS < EXACT_LIMIT


class QueryError(ValueError):
    """A query the node will not run; `field` names the part of the query that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class FilterClause:
    column: str
    op: str
    value: str | float | bool | tuple[str, ...]


@dataclass(frozen=True)
class LossRequest:
    """The privacy loss asked for: exactly one of epsilon, rho or a per-cell target accuracy."""

    epsilon: float | None
    rho: float | None
    accuracy: float | None
    mechanism: Mechanism


@dataclass(frozen=True)
class ValidatedQuery:
    query_id: str
    measure: MeasureKind
    column: str
    lower: int
    upper: int
    filters: tuple[FilterClause, ...]
    group_by: tuple[str, ...]
    months: tuple[str, ...]
    loss: LossRequest
    purpose: str
    indicator: str
    dataset: str = ""

    def canonical(self) -> str:
        """The query as asked, in canonical JSON, for the audit log (the replay identity is node.canonical's)."""
        fields = question_fields(
            self.measure,
            self.column,
            self.lower,
            self.upper,
            [(f.column, f.op, f.value) for f in self.filters],
            self.group_by,
            self.months,
        )
        fields["loss"] = {
            "epsilon": self.loss.epsilon,
            "rho": self.loss.rho,
            "accuracy": self.loss.accuracy,
            "mechanism": self.loss.mechanism.value,
        }
        fields["indicator"] = self.indicator
        # Left out for the household snapshots, so their canonical form is what it was before campaigns existed.
        if self.dataset:
            fields["dataset"] = self.dataset
        return canonical_json(fields)


def campaign_of(dataset: str, campaigns: Collection[str]) -> str | None:
    """The campaign a query's dataset names, or None for the household snapshots; QueryError naming `dataset`."""
    if not dataset:
        return None
    if not dataset.startswith(CAMPAIGN_PREFIX):
        raise QueryError(
            "dataset",
            f"{dataset!r} is not a dataset: leave it empty for the household snapshots, "
            f"or name a campaign as {CAMPAIGN_PREFIX}NAME",
        )
    name = dataset[len(CAMPAIGN_PREFIX) :]
    if name not in campaigns:
        held = f"its campaigns: {', '.join(sorted(campaigns))}" if campaigns else "it has none"
        raise QueryError("dataset", f"this district has no campaign {name!r}; {held}")
    return name


def validate(query: query_pb2.Query, *, columns: Mapping[str, Column], months: Sequence[str]) -> ValidatedQuery:
    """Check a query against the queryable columns and available months; raise QueryError naming the field.

    For a campaign dataset, `columns` are the campaign's and `months` holds only the campaign's month."""
    if not query.query_id.strip():
        raise QueryError("query_id", "is required (the coordinator sets one for every query)")
    kind, column, lower, upper = _measure(query.measure, columns)
    filters = tuple(_filter(i, f, columns) for i, f in enumerate(query.filters))
    group_by = _group_by(query.group_by, columns)
    return ValidatedQuery(
        query_id=query.query_id,
        measure=kind,
        column=column,
        lower=lower,
        upper=upper,
        filters=filters,
        group_by=group_by,
        months=_campaign_months(query.months, months) if query.dataset else _months(query.months, months),
        loss=_loss(query.privacy),
        purpose=query.purpose.strip(),
        indicator=query.indicator,
        dataset=query.dataset,
    )


def _measure(measure: query_pb2.Measure, columns: Mapping[str, Column]) -> tuple[MeasureKind, str, int, int]:
    if measure.kind not in MEASURES:
        raise QueryError("measure.kind", "must be COUNT, SUM or MEAN")
    kind = MEASURES[measure.kind]
    if kind == "count":
        if measure.column:
            raise QueryError("measure.column", "a count takes no column")
        return kind, "", 0, 0
    col = _column("measure.column", measure.column, columns)
    if col.kind not in ("int", "float"):
        raise QueryError("measure.column", f"{col.name} is {col.kind}, a {kind} needs a numeric column")
    if not (math.isfinite(measure.lower) and math.isfinite(measure.upper)):
        raise QueryError("measure.lower", "clamping bounds must be finite numbers")
    for name, bound in (("lower", measure.lower), ("upper", measure.upper)):
        if abs(bound) > MAX_CLAMP_ABS:
            raise QueryError(
                f"measure.{name}",
                f"{name} bound {bound:g} is outside the node's limit of -{MAX_CLAMP_ABS:,} to {MAX_CLAMP_ABS:,} "
                "(the limit keeps every exact sum exact in 64-bit arithmetic); choose bounds that fit the column",
            )
    if measure.lower >= measure.upper:
        raise QueryError(
            "measure.lower",
            f"lower bound {measure.lower:g} must be below upper bound {measure.upper:g} "
            "(every household's value is clamped to these bounds)",
        )
    # Whole-pound bounds keep every per-household value, and so every exact sum, an integer; rounding the
    # bounds outward never narrows what the analyst asked for.
    return kind, col.name, math.floor(measure.lower), math.ceil(measure.upper)


def _column(field: str, name: str, columns: Mapping[str, Column]) -> Column:
    if name not in columns:
        raise QueryError(field, f"unknown column {name!r}{did_you_mean(name, columns)}")
    return columns[name]


def _filter(i: int, f: query_pb2.Filter, columns: Mapping[str, Column]) -> FilterClause:
    field = f"filters[{i}]"
    col = _column(f"{field}.column", f.column, columns)
    if f.op not in OPERATORS:
        raise QueryError(f"{field}.op", "must be one of EQ, NE, LT, LE, GT, GE, IN")
    op = OPERATORS[f.op]
    which = f.WhichOneof("value")
    if op == "in":
        if not f.values:
            raise QueryError(f"{field}.values", "IN needs at least one value")
        if col.kind != "category" and col.name != "ward_code":
            raise QueryError(f"{field}.op", f"IN applies to category columns; {col.name} is {col.kind}")
        bad = [v for v in f.values if col.categories and v not in col.categories]
        if bad:
            raise QueryError(f"{field}.values", f"{bad[0]!r} is not a category of {col.name}")
        return FilterClause(col.name, op, tuple(f.values))
    if col.kind == "bool":
        if which != "flag" or op not in ("eq", "ne"):
            raise QueryError(field, f"{col.name} is true/false: compare it with EQ or NE and a flag value")
        return FilterClause(col.name, op, bool(f.flag))
    if col.kind in ("int", "float"):
        if which != "number" or not math.isfinite(f.number):
            raise QueryError(f"{field}.number", f"{col.name} is numeric: give a finite number")
        return FilterClause(col.name, op, float(f.number))
    if which != "text":
        raise QueryError(f"{field}.text", f"{col.name} is {col.kind}: give a text value")
    if op in ORDERED_OPS:
        raise QueryError(f"{field}.op", f"{col.name} is {col.kind}: only EQ, NE and IN apply")
    if col.categories and f.text not in col.categories:
        raise QueryError(f"{field}.text", f"{f.text!r} is not a category of {col.name}: {', '.join(col.categories)}")
    return FilterClause(col.name, op, f.text)


def _group_by(names: Sequence[str], columns: Mapping[str, Column]) -> tuple[str, ...]:
    if len(names) > MAX_GROUP_COLUMNS:
        raise QueryError("group_by", f"at most {MAX_GROUP_COLUMNS} columns")
    if len(set(names)) != len(names):
        raise QueryError("group_by", "a column is named twice")
    for i, name in enumerate(names):
        col = _column(f"group_by[{i}]", name, columns)
        # Group keys must come from a public list, so that the presence of a key reveals nothing.
        if name != "ward_code" and col.kind not in ("category", "bool"):
            raise QueryError(
                f"group_by[{i}]", f"{name} is {col.kind}; group by ward_code or a category or true/false column"
            )
    return tuple(names)


def _months(asked: Sequence[str], available: Sequence[str]) -> tuple[str, ...]:
    if not available:
        raise QueryError("months", "this node has no snapshots loaded")
    if not asked:
        return (max(available),)
    for i, m in enumerate(asked):
        if not MONTH.match(m):
            raise QueryError(f"months[{i}]", f"{m!r} is not a month in YYYY-MM form")
        if m not in available:
            held = f"{min(available)} to {max(available)}"
            raise QueryError(f"months[{i}]", f"no snapshot for {m}; this node holds {held}")
    if len(set(asked)) != len(asked):
        raise QueryError("months", "a month is named twice")
    if len(asked) > MAX_MONTHS:
        raise QueryError("months", f"at most {MAX_MONTHS} months in one query")
    return tuple(sorted(asked))


def _campaign_months(asked: Sequence[str], campaign_month: Sequence[str]) -> tuple[str, ...]:
    # A campaign is one list of households drawn from one snapshot: one row each, one month.
    if asked and list(asked) != list(campaign_month):
        raise QueryError(
            "months",
            f"the campaign's targets come from {campaign_month[0]}; leave months empty "
            f"or ask for {campaign_month[0]} alone",
        )
    return tuple(campaign_month)


def _loss(p: query_pb2.PrivacyRequest) -> LossRequest:
    which = p.WhichOneof("loss")
    if which is None:
        raise QueryError("privacy", "ask for a loss: epsilon, rho or target_accuracy")
    value = getattr(p, which)
    if not (math.isfinite(value) and value > 0):
        raise QueryError(f"privacy.{which}", f"must be a positive number, not {value:g}")
    mechanism = mechanism_from_wire(p.mechanism, which)
    if which == "epsilon" and mechanism is Mechanism.DISCRETE_GAUSSIAN:
        raise QueryError("privacy.mechanism", "a Gaussian release is asked for by rho, not epsilon")
    if which == "rho" and mechanism is Mechanism.DISCRETE_LAPLACE:
        raise QueryError("privacy.mechanism", "a Laplace release is asked for by epsilon, not rho")
    return LossRequest(
        epsilon=value if which == "epsilon" else None,
        rho=value if which == "rho" else None,
        accuracy=value if which == "target_accuracy" else None,
        mechanism=mechanism,
    )


# An accuracy goal beyond this (in the measure's units) is asked only to make the loss vanish; the floors on the
# loss would refuse the plan anyway, but this keeps the node's search for it bounded.
MAX_TARGET_ACCURACY = 1e12


@dataclass(frozen=True)
class LossLimits:
    """A policy's per-query floors on the loss and ceiling on clamping bounds."""

    min_rho: float
    min_epsilon: float
    max_clamp_abs: float


def check_loss_limits(query: query_pb2.Query, limits: LossLimits) -> None:
    """Raise QueryError naming the field when a query's loss or clamping bounds are outside the policy's limits."""
    p = query.privacy
    which = p.WhichOneof("loss")
    floors = {"rho": limits.min_rho, "epsilon": limits.min_epsilon}
    if which in floors and math.isfinite(getattr(p, which)) and 0 < getattr(p, which) < floors[which]:
        raise QueryError(
            f"privacy.{which}",
            f"{getattr(p, which):g} is below this node's floor of "
            f"{floors[which]:g} per query (min_query_{which} in its policy): a "
            "smaller loss releases only noise",
        )
    if which == "target_accuracy" and p.target_accuracy > MAX_TARGET_ACCURACY:
        raise QueryError(
            "privacy.target_accuracy", f"{p.target_accuracy:g} is above the limit of {MAX_TARGET_ACCURACY:g}"
        )
    ceiling = min(limits.max_clamp_abs, MAX_CLAMP_ABS)
    if MEASURES.get(query.measure.kind) in ("sum", "mean"):
        for name in ("lower", "upper"):
            bound = getattr(query.measure, name)
            if math.isfinite(bound) and abs(bound) > ceiling:
                raise QueryError(
                    f"measure.{name}",
                    f"{name} bound {bound:g} is outside this node's limit of "
                    f"-{ceiling:,.0f} to {ceiling:,.0f} (max_clamp_abs in its "
                    "policy); choose bounds that fit the column",
                )
