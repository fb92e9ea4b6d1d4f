"""Unclaimed support: households missing out on Pension Credit (and £ a year) and on free school meals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from analysis.coverage import MonthCover, combined, coverage_of
from analysis.federated import Submit, areas_of, charged_rho, missing_districts, send, ward_of
from analysis.indicators import indicator
from analysis.possible import at_least
from analysis.queries import indicator_query
from analysis.report_data import UnclaimedRow
from common.estimates import Estimate
from protos.lsi.v1 import query_pb2
from reference.geography import district as district_info

# Clamp for one household's unclaimed Pension Credit (£ a year) in the unclaimed-support analysis. The
# catalogue's 0..12,000 is the theoretical ceiling; noise scales with the bound, so we clamp near the 99th
# percentile of per-household gaps instead. On the demo's synthetic county (seed 7, scale 0.5, 2025-10) 6 of 560
# households have a gap above £6,000 and clamping lowers the exact total (£1.00m) by 0.47%, while the county
# estimate's mean absolute error at the demo's budget falls from 11.1% to 4.9% (bench/unclaimed_accuracy.py,
# bench/results/unclaimed_accuracy.md). Real caseloads should be checked the same way before relying on it.
PC_VALUE_UPPER = 6000.0


@dataclass(frozen=True)
class UnclaimedArea:
    """Unclaimed support in one area: Pension Credit households and £ a year, free school meals households and
    children (None where a cell was withheld)."""

    level: str  # "county", "district" or "ward"
    code: str
    district_code: str
    pc_households: Estimate | None
    pc_value: Estimate | None
    fsm_households: Estimate | None
    fsm_children: Estimate | None


@dataclass(frozen=True)
class UnclaimedTable:
    """Unclaimed support county-wide, by district and (when asked) by ward."""

    month: str
    epsilon: float
    pc_value_upper: float
    county: UnclaimedArea
    districts: tuple[UnclaimedArea, ...]
    wards: tuple[UnclaimedArea, ...] = ()
    missing_districts: tuple[str, ...] = ()
    charged_rho: Mapping[str, float] = field(default_factory=dict)
    coverage: MonthCover | None = None  # districts in every one of the four county figures

    def report_rows(self) -> list[UnclaimedRow]:
        """District rows for the HTML report (districts with all three figures released)."""
        return [
            UnclaimedRow(a.code, district_info(a.code).name, a.pc_households, a.pc_value, a.fsm_children)
            for a in self.districts
            if a.pc_households is not None and a.pc_value is not None and a.fsm_children is not None
        ]


UNCLAIMED_QUERIES = (
    "pc_unclaimed_households",
    "pc_unclaimed_value",
    "fsm_unclaimed_households",
    "fsm_unclaimed_children",
)


def unclaimed_queries(
    month: str, *, epsilon: float, by_ward: bool = False, pc_value_upper: float = PC_VALUE_UPPER
) -> list[query_pb2.Query]:
    """The four unclaimed-support queries, the total epsilon split evenly (pure DP composes by addition)."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    per_query = epsilon / len(UNCLAIMED_QUERIES)
    grouping = "ward" if by_ward else "district"
    out = []
    for name in UNCLAIMED_QUERIES:
        upper = f"-upper{pc_value_upper:g}" if name == "pc_unclaimed_value" else ""
        q = indicator_query(
            indicator(name),
            months=[month],
            group_by=["ward_code"] if by_ward else [],
            epsilon=per_query,
            purpose=f"Unclaimed support by {grouping}, {month}",
            query_id=f"lsi-unclaimed-{month}-{name}-by-{grouping}-eps{epsilon:g}{upper}",
        )
        if name == "pc_unclaimed_value":
            q.measure.upper = pc_value_upper  # see PC_VALUE_UPPER; the audit log records the bound used
        out.append(q)
    return out


def unclaimed(
    submit: Submit, month: str, *, epsilon: float, by_ward: bool = False, pc_value_upper: float = PC_VALUE_UPPER
) -> UnclaimedTable:
    """Households missing out on Pension Credit (and £ a year) and on free school meals, with 95% intervals."""
    results = {
        q.indicator: send(submit, q)
        for q in unclaimed_queries(month, epsilon=epsilon, by_ward=by_ward, pc_value_upper=pc_value_upper)
    }
    areas = {name: areas_of(r, month) for name, r in results.items()}
    pc_h, pc_v, fsm_h, fsm_c = (areas[n] for n in UNCLAIMED_QUERIES)
    answered = sorted(set(pc_h.districts) | set(pc_v.districts) | set(fsm_h.districts) | set(fsm_c.districts))
    county = UnclaimedArea("county", "county", "", pc_h.county, pc_v.county, fsm_h.county, fsm_c.county)
    districts = tuple(
        UnclaimedArea(
            "district",
            c,
            c,
            pc_h.districts.get(c),
            pc_v.districts.get(c),
            fsm_h.districts.get(c),
            fsm_c.districts.get(c),
        )
        for c in answered
    )
    ward_district = {w: c.district_code for r in results.values() for c in r.cells if (w := ward_of(c))}
    wards = tuple(
        UnclaimedArea(
            "ward", w, ward_district[w], pc_h.wards.get(w), pc_v.wards.get(w), fsm_h.wards.get(w), fsm_c.wards.get(w)
        )
        for w in sorted(ward_district, key=lambda w: (ward_district[w], w))
    )
    covers = [coverage_of(r).month(month) for r in results.values()]
    return UnclaimedTable(
        month,
        epsilon,
        pc_value_upper,
        possible(county),
        tuple(possible(a) for a in districts),
        tuple(possible(a) for a in wards),
        missing_districts(list(results.values())),
        charged_rho(list(results.values())),
        combined([c for c in covers if c is not None]),
    )


def possible(area: UnclaimedArea) -> UnclaimedArea:
    """An area's figures made consistent (post-processing): the £ withheld when its household count is, and
    children at least the households they live in (each household missing free school meals has a child)."""
    children = area.fsm_children
    if children is not None and area.fsm_households is not None:
        children = at_least(children, area.fsm_households)
    return replace(area, pc_value=area.pc_value if area.pc_households is not None else None, fsm_children=children)
