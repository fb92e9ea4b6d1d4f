"""Campaign results: each district's households contacted, helped and £ a year gained, as released."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from analysis.federated import Submit, send
from analysis.indicators import indicator
from analysis.queries import indicator_query
from analysis.report_data import CampaignRow
from common.estimates import Estimate
from protos.lsi.v1 import coordinator_pb2, query_pb2
from protos.serde import CAMPAIGN_PREFIX
from reference.geography import district as district_info

CAMPAIGN_INDICATORS: tuple[str, ...] = (
    "campaign_households",
    "campaign_contacted",
    "campaign_claimed",
    "campaign_gained",
)


def campaign_queries(name: str, epsilon: float, purpose: str = "") -> list[query_pb2.Query]:
    """The campaign indicator queries over `campaign:NAME`, the total epsilon split evenly, fresh ids."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    per_query = epsilon / len(CAMPAIGN_INDICATORS)
    return [
        indicator_query(
            indicator(i),
            months=[],
            epsilon=per_query,
            query_id=str(uuid.uuid4()),
            purpose=purpose or f"campaign {name} results",
            dataset=f"{CAMPAIGN_PREFIX}{name}",
        )
        for i in CAMPAIGN_INDICATORS
    ]


def campaign_figures(
    submit: Submit, name: str, epsilon: float, purpose: str = "", districts: Sequence[str] = ()
) -> dict[str, coordinator_pb2.FederatedResult]:
    """Each campaign indicator's combined result, by indicator name (the total epsilon split evenly)."""
    return {
        q.indicator: submit(coordinator_pb2.FederatedQuery(query=q, districts=list(districts)))
        for q in campaign_queries(name, epsilon, purpose)
    }


def campaign_results(submit: Submit, name: str, *, epsilon: float) -> list[CampaignRow]:
    """Each district's campaign figures (contacted, claimed, £ a year gained), the total epsilon split evenly.

    Fresh query ids: outcomes change as teams record them, and a node answers an unchanged campaign from its
    release store by fingerprint anyway, so a repeat costs nothing until there is something new to count."""
    results = {q.indicator: send(submit, q) for q in campaign_queries(name, epsilon)}
    per = {
        i: {
            c.district_code: Estimate(c.value, c.variance)
            for c in r.cells
            if c.level == query_pb2.Cell.DISTRICT and not c.suppressed
        }
        for i, r in results.items()
    }
    codes = sorted(set(per["campaign_contacted"]) & set(per["campaign_claimed"]) & set(per["campaign_gained"]))
    return [
        CampaignRow(
            c,
            district_info(c).name,
            name,
            per["campaign_contacted"][c],
            per["campaign_claimed"][c],
            per["campaign_gained"][c],
        )
        for c in codes
    ]
