"""The report's data model: everything the county report shows, as released (noisy) estimates.

Gathered by analysis/county_report.py and drawn by the view (report/); it knows nothing of HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from analysis.benchmarks import RankRange
from common.estimates import Estimate

__all__ = ["BenchmarkRow", "BudgetRow", "CampaignRow", "ReportData", "SeriesPoint", "UnclaimedRow"]


@dataclass(frozen=True)
class SeriesPoint:
    """One month of the county index."""

    month: str
    estimate: Estimate


@dataclass(frozen=True)
class BenchmarkRow:
    """One district's benchmark rate (per 1,000 dwellings), rank range and changes."""

    district_code: str
    name: str
    rate: Estimate
    rank: RankRange
    change_month: Estimate | None = None
    change_year: Estimate | None = None
    vs_county: Estimate | None = None  # district rate minus the county rate


@dataclass(frozen=True)
class UnclaimedRow:
    """Unclaimed support found in one district's records."""

    district_code: str
    name: str
    pc_households: Estimate
    pc_value: Estimate  # £ a year
    fsm_children: Estimate


@dataclass(frozen=True)
class CampaignRow:
    """Results of one take-up campaign."""

    district_code: str
    name: str
    campaign: str
    contacted: Estimate
    claimed: Estimate
    gained: Estimate  # £ a year


@dataclass(frozen=True)
class BudgetRow:
    """A node's privacy budget use for the period."""

    district_code: str
    name: str
    spent_rho: float
    total_rho: float
    epsilon_spent: float
    delta: float


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows; all estimates are already released (noisy) values."""

    title: str
    generated_at: datetime
    county_series: list[SeriesPoint] = field(default_factory=list)
    district_rows: list[BenchmarkRow] = field(default_factory=list)
    ward_index: dict[str, Estimate] = field(default_factory=dict)
    unclaimed: list[UnclaimedRow] = field(default_factory=list)
    campaigns: list[CampaignRow] = field(default_factory=list)
    budgets: list[BudgetRow] = field(default_factory=list)
    missing_districts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    benchmark_measure: str = "Households in crisis per 1,000 dwellings"
    gaps: list[str] = field(default_factory=list)  # figures not in the store (the report never asks them)
