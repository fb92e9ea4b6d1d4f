"""The vocabulary of the wire contract: every enum and every proto <-> domain conversion, in one place.

The node, the coordinator, the CLI and the analysts' library spell measures, filter operators, mechanisms and
datasets through this module, and decide "the same question" with `canonical_query`. It imports only the
generated messages, so any side may use it without pulling in another's internals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Literal, NamedTuple

from protos.lsi.v1 import node_pb2, query_pb2

MeasureKind = Literal["count", "sum", "mean"]
FilterValue = str | float | bool | tuple[str, ...]


class Mechanism(StrEnum):
    """Noise mechanisms a node may use; the value is what policies, the ledger and the audit log store."""

    DISCRETE_LAPLACE = "discrete_laplace"
    DISCRETE_GAUSSIAN = "discrete_gaussian"


# A measure's wire kind and its domain name.
MEASURES: Mapping[query_pb2.Measure.Kind, MeasureKind] = {
    query_pb2.Measure.COUNT: "count",
    query_pb2.Measure.SUM: "sum",
    query_pb2.Measure.MEAN: "mean",
}
# A filter operator's wire value and the short name the node and the indicator catalogue use.
OPERATORS: Mapping[query_pb2.Filter.Op, str] = {
    query_pb2.Filter.EQ: "eq",
    query_pb2.Filter.NE: "ne",
    query_pb2.Filter.LT: "lt",
    query_pb2.Filter.LE: "le",
    query_pb2.Filter.GT: "gt",
    query_pb2.Filter.GE: "ge",
    query_pb2.Filter.IN: "in",
}
# How an analyst writes each operator in a `--where` expression.
OPERATOR_SYMBOLS: Mapping[str, str] = {
    "=": "eq",
    "==": "eq",
    "!=": "ne",
    "<": "lt",
    "<=": "le",
    ">": "gt",
    ">=": "ge",
    "in": "in",
}
MECHANISMS: Mapping[query_pb2.Mechanism, Mechanism] = {
    query_pb2.DISCRETE_LAPLACE: Mechanism.DISCRETE_LAPLACE,
    query_pb2.DISCRETE_GAUSSIAN: Mechanism.DISCRETE_GAUSSIAN,
}
# A query's dataset names a campaign as CAMPAIGN_PREFIX + its name; empty means the household snapshots.
CAMPAIGN_PREFIX = "campaign:"

_MEASURE_WIRE = {name: kind for kind, name in MEASURES.items()}
_OPERATOR_WIRE = {name: op for op, name in OPERATORS.items()}
_MECHANISM_WIRE = {m: wire for wire, m in MECHANISMS.items()}


def measure_to_wire(kind: MeasureKind, column: str = "", lower: float = 0.0, upper: float = 0.0) -> query_pb2.Measure:
    """A measure by its domain name ("count", "sum", "mean") as a wire Measure."""
    return query_pb2.Measure(kind=_MEASURE_WIRE[kind], column=column, lower=lower, upper=upper)


def operator_to_wire(op: str) -> query_pb2.Filter.Op:
    """An operator's short name ("eq", "in", ...) as its wire value; KeyError for an unknown name."""
    return _OPERATOR_WIRE[op]


def mechanism_to_wire(mechanism: Mechanism) -> query_pb2.Mechanism:
    """A domain mechanism as its wire enum value."""
    return _MECHANISM_WIRE[Mechanism(mechanism)]


def mechanism_from_wire(wire: query_pb2.Mechanism, loss: str) -> Mechanism:
    """The mechanism a privacy request names, or the default for its kind of loss (rho: Gaussian, else Laplace)."""
    if wire in MECHANISMS:
        return MECHANISMS[wire]
    return Mechanism.DISCRETE_GAUSSIAN if loss == "rho" else Mechanism.DISCRETE_LAPLACE


def filter_to_wire(column: str, op: str, value: FilterValue) -> query_pb2.Filter:
    """One condition as a wire Filter, the value typed by its Python type (a tuple is IN's list)."""
    f = query_pb2.Filter(column=column, op=operator_to_wire(op))
    if isinstance(value, tuple):
        f.values.extend(value)
    elif isinstance(value, bool):
        f.flag = value
    elif isinstance(value, int | float):
        f.number = float(value)
    else:
        f.text = value
    return f


def filter_value(f: query_pb2.Filter) -> FilterValue | None:
    """A wire Filter's value as a Python value (IN's list as a tuple); None when none is set."""
    if f.op == query_pb2.Filter.IN:
        return tuple(f.values)
    which = f.WhichOneof("value")
    return None if which is None else getattr(f, which)


def privacy_request(
    *,
    epsilon: float | None = None,
    rho: float | None = None,
    accuracy: float | None = None,
    mechanism: Mechanism | None = None,
) -> query_pb2.PrivacyRequest:
    """A PrivacyRequest for exactly one of epsilon, rho or a target accuracy; ValueError otherwise."""
    asked = {"epsilon": epsilon, "rho": rho, "target_accuracy": accuracy}
    given = {k: v for k, v in asked.items() if v is not None}
    if len(given) != 1:
        raise ValueError("give exactly one of epsilon, rho or a target accuracy")
    ((which, value),) = given.items()
    request = query_pb2.PrivacyRequest()
    setattr(request, which, value)
    if mechanism is not None:
        request.mechanism = mechanism_to_wire(mechanism)
    return request


def canonical_json(fields: Mapping[str, object]) -> str:
    """The one JSON encoding every canonical form uses: sorted keys, no spaces."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def question_fields(
    measure: MeasureKind,
    column: str,
    lower: float,
    upper: float,
    filters: Sequence[tuple[str, str, FilterValue | None]],
    group_by: Sequence[str],
    months: Sequence[str],
) -> dict[str, object]:
    """What a question measures, over which rows, in which cells: the fields every canonical form shares.

    The wire form (`canonical_query`), the node's audit form and its replay fingerprint all start here and add
    their own fields (the loss, the indicator, the planned noise)."""
    return {
        "measure": measure,
        "column": column,
        "bounds": [lower, upper] if measure != "count" else None,
        "filters": [[c, op, list(v) if isinstance(v, tuple) else v] for c, op, v in filters],
        "group_by": list(group_by),
        "months": list(months),
    }


def canonical_query(query: query_pb2.Query) -> str:
    """The question a wire query asks, as canonical JSON: everything but its id, who asked and why.

    Two queries with the same canonical form ask the same question as sent; the node layers its schema-aware
    normalisation on top (node.canonical) to recognise the same question written differently."""
    m = query.measure
    fields = question_fields(
        MEASURES.get(m.kind, f"unknown:{m.kind}"),  # type: ignore[arg-type]
        m.column,
        m.lower,
        m.upper,
        [(f.column, OPERATORS.get(f.op, f"unknown:{f.op}"), filter_value(f)) for f in query.filters],
        query.group_by,
        query.months,
    )
    which = query.privacy.WhichOneof("loss")
    fields["loss"] = {
        "kind": which,
        "value": getattr(query.privacy, which) if which else None,
        "mechanism": MECHANISMS[query.privacy.mechanism].value if query.privacy.mechanism in MECHANISMS else None,
    }
    fields["indicator"] = query.indicator
    fields["dataset"] = query.dataset
    return canonical_json(fields)


def quarantine_to_wire(rows_by_month: Mapping[str, int]) -> list[node_pb2.MonthQuarantine]:
    """Rows set aside per month as NodeDescription entries (months with none are left out), oldest first."""
    return [node_pb2.MonthQuarantine(month=m, rows=n) for m, n in sorted(rows_by_month.items()) if n]


def quarantine_from_wire(entries: Sequence[node_pb2.MonthQuarantine]) -> dict[str, int]:
    """NodeDescription's rows set aside per month, as a mapping."""
    return {e.month: e.rows for e in entries}


class DaySpend(NamedTuple):
    """One day's spend at a node by one analyst for one purpose (zCDP rho and how many charges)."""

    day: str
    analyst: str
    purpose: str
    rho: float
    queries: int


def spend_history_to_wire(rows: Sequence[DaySpend]) -> list[query_pb2.DailySpend]:
    """A node's spending history as BudgetStatus.history entries."""
    return [
        query_pb2.DailySpend(day=r.day, analyst=r.analyst, purpose=r.purpose, rho=r.rho, queries=r.queries)
        for r in rows
    ]


def spend_history_from_wire(status: query_pb2.BudgetStatus) -> list[DaySpend]:
    """A BudgetStatus's spending history, oldest day first."""
    return [DaySpend(h.day, h.analyst, h.purpose, h.rho, h.queries) for h in status.history]
