"""The index refresh's rho split (issue 13): ward-level LSI error with the least-variance split vs the even split.

Both splits spend the same total rho per month on the same seven queries over the same synthetic data (the built-in
pack's first district); each repetition draws both designs' releases (interleaved) through the node's own planner
and noise, builds the ward LSI of the current month against the base month with the library's own code, and
compares it with the exact LSI from the unnoised aggregates. `python -m bench.index_allocation` (also part of
`python -m bench.issue13`)."""

from __future__ import annotations

import math
import statistics
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from analysis.federated import Areas
from analysis.index_refresh import INDEX_QUERIES, IndexInputs, index_queries, index_series
from bench.common import bench_policy
from common.estimates import Estimate
from node.engine import NodeEngine
from node.executor import ExactAggregate, exact_aggregate
from node.loader import load_district
from node.query import ValidatedQuery, validate
from node.synth import generate_district
from privacy.audit import AuditSigner
from privacy.ledger import PrivacyStore
from protos.lsi.v1 import query_pb2
from reference.geography import districts

CODE = districts()[0].code  # the built-in pack's first district
BASE, MONTH = "2025-09", "2025-10"
Z95 = 1.959963984540054


def _engine(root: Path, scale: float, months: int = 2) -> NodeEngine:
    """A node engine over the synthetic district's `months` months ending MONTH (two: the base month and MONTH)."""
    folder = root / "index-data"
    folder.mkdir(parents=True, exist_ok=True)
    for month, frame in generate_district(CODE, scale=scale, months=months, end_month=MONTH).items():
        frame.to_csv(folder / f"{month}.csv", index=False)
    # No minimum cell, a budget no run can exhaust: the draws here are never charged anyway.
    store = PrivacyStore(root / "index.sqlite", bench_policy(CODE), AuditSigner.generate())
    return NodeEngine(CODE, load_district(folder, CODE), store)


def _queries(month: str, rho: float, even: bool) -> list[query_pb2.Query]:
    queries = index_queries(month, rho=rho)
    if even:
        for q in queries:
            q.privacy.rho = rho / len(INDEX_QUERIES)
    return queries


def _ward_cells(release: query_pb2.Release, exact: bool = False) -> dict[str, Estimate]:
    out = {}
    for c in release.cells:
        ward = next((k.value for k in c.keys if k.column == "ward_code"), None)
        if c.level == query_pb2.Cell.GROUP and ward is not None:
            out[ward] = Estimate(c.value, 0.0 if exact else c.variance)
    return out


def inputs(month: str, wards: Mapping[str, dict[str, Estimate]]) -> IndexInputs:
    """One month's index inputs from each query's ward cells, by indicator name."""
    areas = {name: Areas(None, {}, cells) for name, cells in wards.items()}
    return IndexInputs(month, areas["households"], {n: a for n, a in areas.items() if n != "households"})


def aggregates(
    engine: NodeEngine, month: str, rho: float, even: bool
) -> Iterator[tuple[str, ValidatedQuery, ExactAggregate]]:
    """Each index query of a month, validated, with its exact aggregate: (indicator name, query, aggregate)."""
    for q in _queries(month, rho, even):
        vq = validate(q, columns=engine.columns, months=engine.months)
        yield q.indicator, vq, exact_aggregate(engine.frames, vq, engine.columns, engine.wards)


def ward_series(
    engine: NodeEngine, rho: float, months: Sequence[str], even: bool = False, exact: bool = False
) -> dict[str, dict[str, Estimate]]:
    """Every ward's LSI in each of `months` after the first, against the first (the base month), from one draw of
    each month's queries at rho (or from the exact aggregates): {ward: {month: LSI}}."""
    by_month = {}
    for month in months:
        wards = {}
        for name, vq, agg in aggregates(engine, month, rho, even):
            if exact:
                wards[name] = exact_cells(vq.measure, agg)
            else:
                release = engine._draw_unledgered(vq, agg, engine._plan(vq, agg))
                wards[name] = _ward_cells(query_pb2.Release.FromString(release))
        by_month[month] = inputs(month, wards)
    series = index_series(by_month, months[0])
    return {w: {m: v for m, v in s.items() if m != months[0]} for w, s in series.wards.items()}


def ward_index(engine: NodeEngine, rho: float, even: bool, exact: bool = False) -> dict[str, Estimate]:
    """The current month's LSI in every ward, from one draw of each query (or from the exact aggregates)."""
    return {w: s[MONTH] for w, s in ward_series(engine, rho, (BASE, MONTH), even, exact).items()}


def exact_cells(measure: str, agg: ExactAggregate) -> dict[str, Estimate]:
    """Each ward's exact value: its count, its sum, or for a mean its sum over its count."""
    out = {}
    for i, key in enumerate(agg.keys):
        if key.level != "group":
            continue
        ward = dict(key.groups)["ward_code"]
        if measure == "mean":
            assert agg.sums is not None
            value = agg.sums[i] / agg.counts[i] if agg.counts[i] else 0.0
        else:
            value = agg.counts[i] if measure == "count" else (agg.sums or ())[i]
        out[ward] = Estimate(float(value), 0.0)
    return out


def measure(rho: float = 0.5, reps: int = 100, scale: float = 1.0) -> dict[str, float]:
    """Ward LSI RMSE and mean 95% interval width under the optimal and the even split at the same rho."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = _engine(Path(tmp), scale)
        truth = {w: e.value for w, e in ward_index(engine, rho, even=False, exact=True).items()}
        errors: dict[str, list[float]] = {"optimal": [], "even": []}
        widths: dict[str, list[float]] = {"optimal": [], "even": []}
        for _ in range(reps):
            for design in ("optimal", "even"):  # interleaved, draw by draw
                got = ward_index(engine, rho, even=design == "even")
                errors[design] += [(got[w].value - truth[w]) ** 2 for w in truth if w in got]
                widths[design] += [2 * Z95 * got[w].sd for w in truth if w in got]
    rmse = {d: math.sqrt(statistics.fmean(errors[d])) for d in errors}
    width = {d: statistics.fmean(widths[d]) for d in widths}
    return {
        "rho": rho,
        "wards": len(truth),
        "optimal_rmse": rmse["optimal"],
        "even_rmse": rmse["even"],
        "ratio": rmse["optimal"] / rmse["even"],
        "optimal_width": width["optimal"],
        "even_width": width["even"],
        "width_ratio": width["optimal"] / width["even"],
    }


if __name__ == "__main__":
    print(measure())
