"""Possible values only: non-negative figures shown clamped at zero with their intervals clipped.

Display post-processing of released figures (no budget, no new noise). The raw noisy value is kept in
Cell.raw_value wherever a value was moved, so those who sum figures can still use the unbiased one."""

from __future__ import annotations

from common.estimates import Estimate
from protos.lsi.v1 import coordinator_pb2, query_pb2
from protos.serde import MEASURES


def non_negative(measure: query_pb2.Measure) -> bool:
    """Whether every value of this measure is at least zero (a count, or a sum or mean of values clamped at >= 0)."""
    kind = MEASURES.get(measure.kind)
    return kind == "count" or (kind in ("sum", "mean") and measure.lower >= 0)


def clamp_cell(cell: query_pb2.Cell, floor: float = 0.0) -> query_pb2.Cell:
    """A copy of a cell with its value and interval at or above `floor` (raw value kept when it moved)."""
    out = query_pb2.Cell()
    out.CopyFrom(cell)
    if cell.suppressed:
        return out
    if cell.value < floor:
        out.raw_value = cell.value
        out.value = floor
    out.ci_low = max(cell.ci_low, floor)
    out.ci_high = max(cell.ci_high, floor)
    return out


def possible_values(result: coordinator_pb2.FederatedResult) -> coordinator_pb2.FederatedResult:
    """A copy of a result as it is shown: non-negative measures clamped at zero, intervals clipped."""
    out = coordinator_pb2.FederatedResult()
    out.CopyFrom(result)
    if non_negative(result.query.measure):
        cells = [clamp_cell(c) for c in result.cells]
        del out.cells[:]
        out.cells.extend(cells)
    return out


def at_most(e: Estimate, bound: Estimate) -> Estimate:
    """A figure no larger than the released figure that bounds it (e.g. contacted <= targeted); noise kept."""
    return Estimate(min(e.value, bound.value), e.variance)


def at_least(e: Estimate, bound: Estimate) -> Estimate:
    """A figure no smaller than the released figure that bounds it (e.g. children >= households with children)."""
    return Estimate(max(e.value, bound.value), e.variance)


def clipped(e: Estimate, floor: float = 0.0) -> tuple[float, float, float]:
    """A non-negative figure as shown: value and 95% interval at or above `floor`."""
    low, high = e.ci()
    return max(e.value, floor), max(low, floor), max(high, floor)
