"""Campaign results: each district's households contacted, helped and £ a year gained, as released."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from analysis.federated import Recent, Submit, send
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


# Campaign results are stored under ids `campaign/NAME/BATCH/INDICATOR`: one batch per asking (outcomes change as
# teams record them, so each asking is a new question), and the newest batch is found by name (Results RPC).
ID_PREFIX = "campaign/"
MAX_LISTED = 50  # stored results read when listing campaigns (the coordinator's limit per call)


def campaign_prefix(name: str) -> str:
    """The start of every stored result id of one campaign (ValueError for a name no campaign can have)."""
    if not name or "/" in name:
        raise ValueError(f"campaign name {name!r}: use lowercase letters, digits and hyphens")
    return f"{ID_PREFIX}{name}/"


def new_batch(now: datetime | None = None) -> str:
    """A fresh batch label for one asking: its UTC time to the microsecond (so ids sort by when asked, even for two
    askings in the same second) and a random tail."""
    at = now or datetime.now(UTC)
    return f"{at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"


def batch_of(query_id: str) -> tuple[str, str] | None:
    """(campaign name, batch) of a stored campaign result's id, or None for any other id."""
    parts = query_id.split("/")
    if len(parts) != 4 or f"{parts[0]}/" != ID_PREFIX or parts[3] not in CAMPAIGN_INDICATORS:
        return None
    return parts[1], parts[2]


def campaign_queries(name: str, epsilon: float, purpose: str = "", batch: str = "") -> list[query_pb2.Query]:
    """The campaign indicator queries over `campaign:NAME`, the total epsilon split evenly, under one new batch."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    prefix = campaign_prefix(name)
    batch = batch or new_batch()
    per_query = epsilon / len(CAMPAIGN_INDICATORS)
    return [
        indicator_query(
            indicator(i),
            months=[],
            epsilon=per_query,
            query_id=f"{prefix}{batch}/{i}",
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
    """Ask a campaign's figures (a new batch: outcomes change as teams record them; a node still answers an
    unchanged campaign from its release store by fingerprint, so a repeat costs nothing until there is something
    new to count) and return each district's row."""
    return campaign_rows(name, {q.indicator: send(submit, q) for q in campaign_queries(name, epsilon)})


def campaign_rows(name: str, results: Mapping[str, coordinator_pb2.FederatedResult]) -> list[CampaignRow]:
    """Each district's campaign figures (contacted, claimed, £ a year gained) from the four indicators' results."""
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


@dataclass(frozen=True)
class StoredCampaign:
    """A campaign's newest complete batch of stored results, read by name (never asked again)."""

    name: str
    batch: str
    asked_at: str  # when the coordinator stored it (ISO, UTC)
    epsilon: float  # the total epsilon that batch was asked with
    rows: tuple[CampaignRow, ...]
    answered: tuple[str, ...]  # district codes whose node answered every indicator
    missing: tuple[tuple[str, str], ...]  # (district name, why) for the others


def stored_campaign(recent: Recent, name: str) -> StoredCampaign | None:
    """The newest batch of a campaign with all four indicators stored, or None if it was never asked."""
    found = recent(campaign_prefix(name), MAX_LISTED)
    batches: dict[str, dict[str, coordinator_pb2.FederatedResult]] = {}
    for r in found:  # newest first
        key = batch_of(r.query_id)
        if key is not None and key[0] == name:
            batches.setdefault(key[1], {}).setdefault(r.query.indicator, r)
    for batch, results in batches.items():  # insertion order: newest batch first
        if set(results) >= set(CAMPAIGN_INDICATORS):
            return _stored(name, batch, results)
    return None


def stored_campaign_names(recent: Recent) -> list[str]:
    """Names of the campaigns with stored results this caller may read, most recently asked first."""
    names: list[str] = []
    for r in recent(ID_PREFIX, MAX_LISTED):
        key = batch_of(r.query_id)
        if key is not None and key[0] not in names:
            names.append(key[0])
    return names


def _stored(name: str, batch: str, results: Mapping[str, coordinator_pb2.FederatedResult]) -> StoredCampaign:
    shown = possible_campaign_figures(results)
    names: dict[str, str] = {}
    missing: dict[str, str] = {}
    for r in results.values():
        for d in r.districts:
            names[d.district_code] = d.district_name or d.district_code
            if not d.answered:
                missing.setdefault(d.district_code, d.error or d.error_code or "no answer")
    return StoredCampaign(
        name=name,
        batch=batch,
        asked_at=max(r.created_at for r in results.values()),
        epsilon=sum(r.query.privacy.epsilon for r in results.values()),
        rows=tuple(campaign_rows(name, shown)),
        answered=tuple(sorted(c for c in names if c not in missing)),
        missing=tuple(sorted((names[c], why) for c, why in missing.items())),
    )


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
