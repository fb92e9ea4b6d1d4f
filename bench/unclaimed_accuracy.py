"""How close is the county-wide unclaimed Pension Credit estimate to the exact figure, at the demo's budget?

The synthetic county as the demo makes it (seed 7, scale 0.5, 13 months ending 2025-10; month 2025-10), the demo's
unclaimed-support queries (`analysis.unclaimed.unclaimed_queries` at `cli.demo.UNCLAIMED_EPSILON`), each
released by every district's own release path and combined by the coordinator's code, repeated with fresh
noise. The £ figure is also measured at the catalogue's £12,000 clamp for comparison. Writes
bench/results/unclaimed_accuracy.md."""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from analysis.unclaimed import PC_VALUE_UPPER, unclaimed_queries
from bench.common import county_engines, write_results
from cli.demo import END_MONTH, MONTHS, UNCLAIMED_EPSILON
from coordinator.combine import combine
from node.compact import exact_values
from node.engine import NodeEngine
from node.executor import exact_aggregate
from node.query import validate
from protos.lsi.v1 import query_pb2

SEED, SCALE, RUNS = 7, 0.5, 20


def engines(root: Path) -> dict[str, NodeEngine]:
    """The demo's data; only the measured month is loaded (it is the same file the demo's nodes hold)."""
    return county_engines(root, seed=SEED, scale=SCALE, months=MONTHS, end_month=END_MONTH, only_month=END_MONTH)


@dataclass(frozen=True)
class Measured:
    """Errors of RUNS county estimates against the exact figure."""

    label: str
    exact: float
    exact_clamped: float
    estimates: tuple[float, ...]
    covered: int

    @property
    def mae(self) -> float:
        return statistics.mean(abs(e - self.exact) for e in self.estimates)

    @property
    def bias(self) -> float:
        return statistics.mean(e - self.exact for e in self.estimates)

    def row(self, money: bool) -> str:
        f = (lambda x: f"£{x:,.0f}") if money else (lambda x: f"{x:,.1f}")
        return (
            f"| {self.label} | {f(self.exact)} | {f(self.exact_clamped)} | {f(self.mae)} | "
            f"{100 * self.mae / self.exact:.1f}% | {f(self.bias)} | "
            f"{f(max(abs(e - self.exact) for e in self.estimates))} | {self.covered}/{len(self.estimates)} |"
        )


def measure(county: dict[str, NodeEngine], query: query_pb2.Query, label: str, truth: float) -> Measured:
    """RUNS independent county estimates of one query through the nodes' release path and the coordinator."""
    prepared = []
    exact_total = 0.0
    for engine in county.values():
        vq = validate(query, columns=engine.columns, months=engine.months)
        exact = exact_aggregate(engine.frames, vq, engine.columns, engine.wards)
        exact_total += (exact.counts if vq.measure == "count" else exact.sums)[-1]  # type: ignore[index]
        prepared.append((engine, vq, exact, engine._plan(vq, exact)))
    estimates, covered = [], 0
    for _ in range(RUNS):
        releases = [query_pb2.Release.FromString(e._draw_unledgered(vq, ex, plans)) for e, vq, ex, plans in prepared]
        (cell,) = [c for c in combine(query, releases) if c.level == query_pb2.Cell.COUNTY]
        estimates.append(cell.value)
        covered += cell.ci_low <= truth <= cell.ci_high
    return Measured(label, truth, exact_total, tuple(estimates), covered)


def main() -> None:
    started = time.perf_counter()
    queries = {q.indicator: q for q in unclaimed_queries(END_MONTH, epsilon=UNCLAIMED_EPSILON)}
    with tempfile.TemporaryDirectory() as tmp:
        county = engines(Path(tmp))
        frames = [e.frames[END_MONTH] for e in county.values()]
        # Money is held compactly (node/compact.py): read it back as the exact pounds.
        pc = [exact_values(f, "pc_unclaimed_annual")[f["pc_unclaimed"].to_numpy(dtype=bool)] for f in frames]
        households = float(sum(len(p) for p in pc))
        value = float(sum(p.sum() for p in pc))
        over = sum(int((p > PC_VALUE_UPPER).sum()) for p in pc)
        wide = copy.deepcopy(queries["pc_unclaimed_value"])
        wide.measure.upper = 12000
        hh = measure(county, queries["pc_unclaimed_households"], "households", households)
        pounds = measure(county, queries["pc_unclaimed_value"], f"£ a year, clamp £{PC_VALUE_UPPER:,.0f}", value)
        pounds_wide = measure(county, wide, "£ a year, clamp £12,000 (catalogue)", value)
    per_query = UNCLAIMED_EPSILON / len(queries)
    text = f"""# Unclaimed Pension Credit, county-wide: estimate against the exact figure

Command: `python -m bench.unclaimed_accuracy`. Synthetic data as `lsi demo` makes it (seed {SEED}, scale {SCALE},
{MONTHS} months ending {END_MONTH}), month {END_MONTH}. The demo's unclaimed-support budget: epsilon
{UNCLAIMED_EPSILON:g} at each node over four figures, so epsilon {per_query:g} (discrete Laplace) for each of the
two Pension Credit figures, by district. {RUNS} independent releases, each through every district's own release
path and the coordinator's combination; the county figure is the sum of 12 noisy district totals.

Exact: {households:,.0f} households missing out, £{value:,.0f} a year in all; {over} of them have a gap above the
£{PC_VALUE_UPPER:,.0f} clamp, so the clamped exact total is lower by
{100 * (value - pounds.exact_clamped) / value:.2f}% (the clamping bias).

| figure | exact | exact after clamping | mean absolute error | relative | mean error (bias) | worst of {RUNS} | 95% intervals holding the exact figure |
|---|---|---|---|---|---|---|---|
{hh.row(False)}
{pounds.row(True)}
{pounds_wide.row(True)}

The clamp near the 99th percentile of per-household gaps trades a small known bias for half the noise of the
catalogue's theoretical £12,000 ceiling.

Ran in {time.perf_counter() - started:.1f} s.
"""  # noqa: E501
    write_results("unclaimed_accuracy.md", text)


if __name__ == "__main__":
    main()
