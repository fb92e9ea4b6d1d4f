"""Turn catalogue indicators into structured queries (the wire form every node validates again)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from analysis.indicators import FilterSpec, Indicator
from common.wire import CAMPAIGN_PREFIX, OPERATORS
from protos.lsi.v1 import query_pb2

# The catalogue names operators as the node does; the node's table, read backwards, gives the wire value.
_OPS = {name: op for op, name in OPERATORS.items()}
_KINDS = {"count": query_pb2.Measure.COUNT, "sum": query_pb2.Measure.SUM, "mean": query_pb2.Measure.MEAN}


def filter_message(spec: FilterSpec) -> query_pb2.Filter:
    """One catalogue filter as a wire Filter."""
    f = query_pb2.Filter(column=spec.column, op=_OPS[spec.op])
    if isinstance(spec.value, tuple):
        f.values.extend(spec.value)
    elif isinstance(spec.value, bool):
        f.flag = spec.value
    elif isinstance(spec.value, int | float):
        f.number = float(spec.value)
    else:
        f.text = spec.value
    return f


def indicator_measure_and_filters(ind: Indicator) -> tuple[query_pb2.Measure, list[query_pb2.Filter]]:
    """The measure and filters that define an indicator."""
    measure = query_pb2.Measure(kind=_KINDS[ind.measure], column=ind.column, lower=ind.lower, upper=ind.upper)
    return measure, [filter_message(f) for f in ind.filters]


def indicator_query(
    ind: Indicator, *, months: Sequence[str], group_by: Sequence[str] = (), epsilon: float | None = None,
    rho: float | None = None, purpose: str = "", query_id: str | None = None,
    extra_filters: Sequence[query_pb2.Filter] = (), dataset: str = "",
) -> query_pb2.Query:
    """A complete query for an indicator, as the scheduled refresh and the demo send it.

    A campaign indicator needs `dataset="campaign:NAME"`; a household indicator takes no dataset."""
    if ind.dataset == "campaign" and not dataset.startswith(CAMPAIGN_PREFIX):
        raise ValueError(f"indicator {ind.name} is measured over a campaign: give dataset='campaign:NAME'")
    if ind.dataset == "" and dataset:
        raise ValueError(f"indicator {ind.name} is measured over the household snapshots, not {dataset!r}")
    measure, filters = indicator_measure_and_filters(ind)
    privacy = query_pb2.PrivacyRequest(epsilon=epsilon) if epsilon is not None else query_pb2.PrivacyRequest(rho=rho)
    return query_pb2.Query(
        query_id=query_id or str(uuid.uuid4()), measure=measure, filters=[*filters, *extra_filters],
        group_by=list(group_by), months=list(months), privacy=privacy, purpose=purpose or ind.title,
        indicator=ind.name, dataset=dataset,
    )
