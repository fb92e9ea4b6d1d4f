"""Campaign results: each district's households contacted, helped and £ a year gained, as released."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from analysis.federated import Submit, send
from analysis.indicators import indicator
from analysis.possible import at_most, possible_values
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
    rows = []
    for c in codes:
        targeted = per["campaign_households"].get(c)
        contacted = per["campaign_contacted"][c]
        contacted = at_most(contacted, targeted) if targeted is not None else contacted
        rows.append(
            CampaignRow(
                c,
                district_info(c).name,
                name,
                contacted,
                at_most(per["campaign_claimed"][c], contacted),
                per["campaign_gained"][c],
            )
        )
    return rows


# Released figures that bound others: contacted <= targeted, claimed <= contacted (post-processing only).
CAMPAIGN_BOUNDS: tuple[tuple[str, str], ...] = (
    ("campaign_contacted", "campaign_households"),
    ("campaign_claimed", "campaign_contacted"),
)


def possible_campaign_figures(
    results: Mapping[str, coordinator_pb2.FederatedResult],
) -> dict[str, coordinator_pb2.FederatedResult]:
    """The campaign's results as shown: clamped at zero, and each figure no larger than the one that bounds it
    (the same area and keys), the raw noisy value kept in Cell.raw_value."""
    shown = {i: possible_values(r) for i, r in results.items()}
    for figure, bound in CAMPAIGN_BOUNDS:
        if figure not in shown or bound not in shown:
            continue
        limits = {_area_key(c): c for c in shown[bound].cells if not c.suppressed}
        for cell in shown[figure].cells:
            limit = limits.get(_area_key(cell))
            if limit is None or cell.suppressed or cell.value <= limit.value:
                continue
            if not cell.HasField("raw_value"):
                cell.raw_value = cell.value
            cell.value = limit.value
            cell.ci_low, cell.ci_high = min(cell.ci_low, limit.value), min(cell.ci_high, limit.ci_high)
    return shown


def _area_key(cell: query_pb2.Cell) -> tuple[int, str, tuple[tuple[str, str], ...]]:
    return cell.level, cell.district_code, tuple((k.column, k.value) for k in cell.keys)
