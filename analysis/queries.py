"""The one query builder: every Query the analysts' side sends (CLI, demo, indicators, index refresh) is made here.

A query is only assembled here; each node validates it again against its own schema and data.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from analysis.indicators import FilterSpec, Indicator
from protos.lsi.v1 import query_pb2
from protos.serde import CAMPAIGN_PREFIX, Mechanism, filter_to_wire, measure_to_wire, privacy_request


def filter_message(spec: FilterSpec) -> query_pb2.Filter:
    """One catalogue filter as a wire Filter."""
    return filter_to_wire(spec.column, spec.op, spec.value)


def indicator_measure_and_filters(ind: Indicator) -> tuple[query_pb2.Measure, list[query_pb2.Filter]]:
    """The measure and filters that define an indicator."""
    measure = measure_to_wire(ind.measure, ind.column, ind.lower, ind.upper)
    return measure, [filter_message(f) for f in ind.filters]


def build_query(
    measure: query_pb2.Measure,
    *,
    months: Sequence[str] = (),
    filters: Sequence[query_pb2.Filter] = (),
    group_by: Sequence[str] = (),
    epsilon: float | None = None,
    rho: float | None = None,
    accuracy: float | None = None,
    mechanism: Mechanism | None = None,
    purpose: str = "",
    query_id: str | None = None,
    indicator: str = "",
    dataset: str = "",
) -> query_pb2.Query:
    """A complete Query: exactly one of epsilon, rho or a target accuracy (ValueError otherwise); a fresh id
    unless one is given (a retry with the same id costs nothing)."""
    return query_pb2.Query(
        query_id=query_id or str(uuid.uuid4()),
        measure=measure,
        filters=list(filters),
        group_by=list(group_by),
        months=list(months),
        privacy=privacy_request(epsilon=epsilon, rho=rho, accuracy=accuracy, mechanism=mechanism),
        purpose=purpose,
        indicator=indicator,
        dataset=dataset,
    )


def indicator_query(
    ind: Indicator,
    *,
    months: Sequence[str],
    group_by: Sequence[str] = (),
    epsilon: float | None = None,
    rho: float | None = None,
    accuracy: float | None = None,
    mechanism: Mechanism | None = None,
    purpose: str = "",
    query_id: str | None = None,
    extra_filters: Sequence[query_pb2.Filter] = (),
    dataset: str = "",
) -> query_pb2.Query:
    """A complete query for an indicator, as the CLI, the scheduled refresh and the demo send it.

    A campaign indicator needs `dataset="campaign:NAME"`; a household indicator takes no dataset."""
    if ind.dataset == "campaign" and not dataset.startswith(CAMPAIGN_PREFIX):
        raise ValueError(f"indicator {ind.name} is measured over a campaign: give dataset='campaign:NAME'")
    if ind.dataset == "" and dataset:
        raise ValueError(f"indicator {ind.name} is measured over the household snapshots, not {dataset!r}")
    measure, filters = indicator_measure_and_filters(ind)
    return build_query(
        measure,
        months=months,
        filters=[*filters, *extra_filters],
        group_by=group_by,
        epsilon=epsilon,
        rho=rho,
        accuracy=accuracy,
        mechanism=mechanism,
        purpose=purpose or ind.title,
        query_id=query_id,
        indicator=ind.name,
        dataset=dataset,
    )
