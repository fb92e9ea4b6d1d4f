"""Combine district releases into county answers: reconcile levels, pool areas. Post-processing only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from common.estimates import Estimate, add, ratio
from coordinator.postprocess import county_total, reconcile
from protos.lsi.v1 import query_pb2
from protos.serde import MEASURES

Key = tuple[tuple[str, str], ...]


def cell_key(cell: query_pb2.Cell) -> Key:
    """A cell's group keys as a hashable tuple (month first)."""
    return tuple((k.column, k.value) for k in cell.keys)


def month_of(cell: query_pb2.Cell) -> str:
    """The cell's month (nodes always key a cell by month first)."""
    return cell.keys[0].value


def estimate(cell: query_pb2.Cell) -> Estimate:
    """The cell's value and noise variance, for post-processing."""
    return Estimate(cell.value, cell.variance)


def combine(query: query_pb2.Query, releases: Sequence[query_pb2.Release]) -> list[query_pb2.Cell]:
    """Group cells and district totals (reconciled where possible) from each district, then county cells."""
    if MEASURES.get(query.measure.kind) == "mean":
        district_cells = [c for r in releases for c in r.cells]
        return district_cells + _pooled_means(district_cells)
    cells: list[query_pb2.Cell] = []
    for release in releases:
        cells += reconcile_release(release)
    return cells + _county_sums(cells)


def reconcile_release(release: query_pb2.Release) -> list[query_pb2.Cell]:
    """Make one district's group cells add up to its total, month by month, by weighted least squares.

    Left as released when a month has no group cells, any of its cells was suppressed (a withheld cell
    cannot take part in the constraint), or the node derived the total from its group cells (post_processed:
    they already add up, and the total is not an independent estimate to weigh against them)."""
    by_month: dict[str, list[query_pb2.Cell]] = defaultdict(list)
    for c in release.cells:
        by_month[month_of(c)].append(c)
    out: list[query_pb2.Cell] = []
    for cells in by_month.values():
        groups = [c for c in cells if c.level == query_pb2.Cell.GROUP]
        (total,) = [c for c in cells if c.level == query_pb2.Cell.DISTRICT]
        if not groups or total.suppressed or total.post_processed or any(g.suppressed for g in groups):
            out += cells
            continue
        result = reconcile({_label(g): estimate(g) for g in groups}, estimate(total))
        out += [_replace(g, result.groups[_label(g)]) for g in groups]
        out.append(_replace(total, result.total))
    return out


def _label(cell: query_pb2.Cell) -> str:
    return "|".join(f"{k.column}={k.value}" for k in cell.keys)


def _replace(cell: query_pb2.Cell, e: Estimate) -> query_pb2.Cell:
    low, high = e.ci()
    out = query_pb2.Cell()
    out.CopyFrom(cell)
    out.value, out.variance, out.ci_low, out.ci_high, out.post_processed = e.value, e.variance, low, high, True
    return out


def _county_cell(keys: Key, e: Estimate) -> query_pb2.Cell:
    low, high = e.ci()
    return query_pb2.Cell(
        level=query_pb2.Cell.COUNTY,
        keys=[query_pb2.GroupKey(column=c, value=v) for c, v in keys],
        value=e.value,
        variance=e.variance,
        ci_low=low,
        ci_high=high,
        post_processed=True,
    )


def _county_sums(cells: Sequence[query_pb2.Cell]) -> list[query_pb2.Cell]:
    """County totals per month from district totals; per other group key (e.g. tenure) from group cells."""
    totals: dict[Key, dict[str, Estimate]] = defaultdict(dict)
    groups: dict[Key, list[Estimate]] = defaultdict(list)
    blocked: set[Key] = set()
    for c in cells:
        if c.level == query_pb2.Cell.DISTRICT:
            if c.suppressed:
                blocked.add(cell_key(c))
            else:
                totals[cell_key(c)][c.district_code] = estimate(c)
        elif c.level == query_pb2.Cell.GROUP:
            # Wards belong to one district: a county figure exists only for the keys other than the ward.
            key = tuple(kv for kv in cell_key(c) if kv[0] != "ward_code")
            if len(key) == 1:
                continue
            if c.suppressed:
                blocked.add(key)
            else:
                groups[key].append(estimate(c))
    out = [_county_cell(key, county_total(per_district)) for key, per_district in totals.items() if key not in blocked]
    for key, estimates in groups.items():
        if key not in blocked:
            out.append(_county_cell(key, county_total({str(i): e for i, e in enumerate(estimates)})))
    return out


def _pooled_means(cells: Sequence[query_pb2.Cell]) -> list[query_pb2.Cell]:
    """County means as pooled noisy sum over pooled noisy count, per month and group key."""
    sums: dict[Key, Estimate] = {}
    counts: dict[Key, Estimate] = {}
    for c in cells:
        if c.suppressed or not c.HasField("mean_parts"):
            continue
        key = (
            cell_key(c)
            if c.level == query_pb2.Cell.DISTRICT
            else tuple(kv for kv in cell_key(c) if kv[0] != "ward_code")
        )
        if c.level == query_pb2.Cell.GROUP and len(key) == 1:
            continue
        p = c.mean_parts
        s, n = Estimate(p.sum, p.sum_variance), Estimate(p.count, p.count_variance)
        sums[key] = add(sums[key], s) if key in sums else s
        counts[key] = add(counts[key], n) if key in counts else n
    return [_county_cell(key, ratio(sums[key], counts[key])) for key in sums if counts[key].value > 0]
