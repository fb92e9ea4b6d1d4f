"""The index refresh against SmartNoise SQL at the same total loss (issue 13), measured on the ward index.

The node spends rho a month in a district on the refresh's seven ward queries; the index of the current month
against its base month uses two months, so 2·rho in all (rho adds up under zCDP), which at the node's policy delta
is (epsilon, delta) = rho_to_epsilon(2·rho, delta). SmartNoise SQL 1.0.10 (`bench/peer_index.py`, in `.venv-peer`)
gets that (epsilon, delta) for the same queries of both months and spreads it evenly, as its own accounting does.
Every design's ward LSI is built with the library's own `index_series` and compared with the exact LSI, over the
same synthetic district as `bench.index_allocation`. `python -m bench.index_peer` (also run by bench.issue13).

A second measurement, the year's series (`measure_year`), is the product's real workload: the same seven queries in
each of N months (a base month and N - 1 refreshes), every month's LSI against the base month. The node spends rho a
month, N·rho in all; SmartNoise gets rho_to_epsilon(N·rho, delta), converted once, spread over all its columns of
all N months. Only censoring off is run there: ward codes are public, and censoring on publishes few ward indexes."""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.index_refresh import INDEX_QUERIES, IndexInputs, index_series
from analysis.indicators import FilterSpec, Indicator, indicator
from bench.common import PEER_PYTHON, RESULTS, write_results
from bench.index_allocation import (
    BASE,
    MONTH,
    Z95,
    _engine,
    aggregates,
    exact_cells,
    inputs,
    ward_index,
    ward_series,
)
from common.estimates import Estimate
from node.engine import NodeEngine
from node.executor import clamp_whole_pounds
from privacy.accountant import rho_to_epsilon
from privacy.accuracy import noise_variance

PEER_SCRIPT = Path(__file__).with_name("peer_index.py")
MECHANISMS = ("default", "gaussian", "default-nocensor", "gaussian-nocensor")
MONTHS = (BASE, MONTH)
MONTH_COLUMN = "snapshot_month"  # SmartNoise's SQL grammar reserves MONTH (peer_index.MONTH_COLUMN)
# Money is given to the peer in £100s: SmartNoise 1.0.10's Gaussian cannot find its scale for a sum whose bound is
# ~£200 or more (OpenDP's search overflows), and Laplace and Gaussian noise both scale linearly with the bound, so
# the same sum in £100s is the same mechanism at the same loss (checked: 100 × scale at ±15 = scale at ±1500).
SUM_UNIT = 100.0
TARGET = 0.5  # issue 13: half SmartNoise's ward-level error
# Repetitions of every design: ~80 s on 2 cores (a peer repetition of the four variants takes ~1 s), so that
# `make bench` stays short; the RMSEs then carry a few per cent of sampling error (see the md).
REPS = 60
# The year's series: N months ending MONTH (a base month and a year of refreshes), censoring off only (see the module
# docstring). A peer repetition of one variant answers 13 × 7 queries (~2.7 s on 2 cores); YEAR_REPS of each variant
# in YEAR_BATCHES keeps the series to about two minutes (its RMSEs pool 12 months × every ward, so few repetitions do).
YEAR_MONTHS = 13
YEAR_MECHANISMS = ("default-nocensor", "gaussian-nocensor")
YEAR_REPS = 20
YEAR_BATCHES = 2
_SQL_OPS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def sql_value(value: str | float | bool) -> str:
    """A filter value as an SQL literal."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def sql_condition(f: FilterSpec) -> str:
    """One indicator filter as an SQL WHERE condition."""
    if f.op == "in":
        assert isinstance(f.value, tuple)
        return f"{f.column} IN ({', '.join(sql_value(v) for v in f.value)})"
    assert not isinstance(f.value, tuple)
    return f"{f.column} {_SQL_OPS[f.op]} {sql_value(f.value)}"


def _peer_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str | tuple) else "float"


def months_ending(end: str, n: int) -> tuple[str, ...]:
    """The n months ("YYYY-MM") ending with `end`, oldest first (node.synth's months for the same arguments)."""
    if n < 1:
        raise ValueError(f"at least one month, got {n}")
    year, month = int(end[:4]), int(end[5:7])
    index = year * 12 + month - 1
    return tuple(f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - n + 1, index + 1))


def batched(reps: int, batches: int) -> tuple[int, int]:
    """(repetitions per batch, repetitions in all): at least one per batch, the same number in each."""
    per_batch = max(1, reps // batches)
    return per_batch, per_batch * batches


def series_loss(rho_per_month: float, months: int, delta: float) -> tuple[float, float]:
    """(rho, epsilon) of a series: rho a month adds up over the months (zCDP), converted to epsilon once at delta,
    the only way to give SmartNoise the same total loss (converting each month and adding epsilons is far dearer)."""
    rho_total = months * rho_per_month
    return rho_total, rho_to_epsilon(rho_total, delta)


def peer_spec(months: Sequence[str] = MONTHS, names: Sequence[str] = INDEX_QUERIES) -> dict[str, Any]:
    """The peer's column types and its queries: each index input in each month, money bounds in SUM_UNIT."""
    columns: dict[str, dict[str, str]] = {"ward_code": {"type": "string"}, MONTH_COLUMN: {"type": "string"}}
    queries = []
    for month in months:
        for name in names:
            spec = indicator(name)
            for f in spec.filters:
                columns[f.column] = {"type": _peer_type(f.value)}
            if spec.measure != "count":
                columns[spec.column] = {"type": "float"}
            queries.append(
                {
                    "name": name,
                    "month": month,
                    "measure": spec.measure,
                    "column": spec.column,
                    "lower": spec.lower / SUM_UNIT,
                    "upper": spec.upper / SUM_UNIT,
                    "where": [sql_condition(f) for f in spec.filters],
                }
            )
    return {"columns": columns, "queries": queries}


def peer_frame(engine: NodeEngine, spec: Mapping[str, Any], months: Sequence[str] = MONTHS) -> pd.DataFrame:
    """The district's rows for the peer: one per household and month, only the columns its queries read.

    Money is rounded to whole pounds and clamped as the node's exact aggregation does (SmartNoise clamps again to
    the same bounds, a no-op), so the peer's exact answers can be checked against the node's."""
    money = {q["column"]: indicator(q["name"]) for q in spec["queries"] if q["measure"] != "count"}
    frames = []
    for month in months:
        frame = engine.frames[month]
        out = pd.DataFrame({"ward_code": frame["ward_code"].astype(str), MONTH_COLUMN: month})
        for column, kind in spec["columns"].items():
            if column in money:
                ind = money[column]
                out[column] = clamp_whole_pounds(frame[column], int(ind.lower), int(ind.upper)) / SUM_UNIT
            elif column not in out:
                out[column] = frame[column].astype(bool if kind["type"] == "boolean" else str)
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def peer_variance(noise: Mapping[str, Any]) -> float:
    """The variance of one SmartNoise column's noise (continuous Laplace: 2b²; Gaussian: σ²), in the peer's units."""
    scale = float(noise["scale"])
    if noise["kind"] == "laplace":
        return 2 * scale * scale
    if noise["kind"] == "gaussian":
        return scale * scale
    raise ValueError(f"unknown SmartNoise mechanism {noise['kind']!r}")


def peer_cells(
    spec: Indicator, cells: Mapping[str, Mapping[str, float]], noise: Mapping[str, Any]
) -> dict[str, Estimate]:
    """One query's ward estimates from the peer's cells, post-processed as the node's release is.

    A mean is the noisy sum over the noisy count, clamped to the bounds, with the node's delta-method variance,
    and is withheld when the noisy count is below 1 (node.engine._mean_cell); sums come back in pounds."""
    out = {}
    for ward, cell in cells.items():
        if spec.measure == "count":
            out[ward] = Estimate(cell["n"], peer_variance(noise["n"]))
            continue
        total = Estimate(cell["s"] * SUM_UNIT, peer_variance(noise["s"]) * SUM_UNIT**2)
        if spec.measure == "sum":
            out[ward] = total
        elif cell["n"] >= 1:
            mean = min(max(total.value / cell["n"], spec.lower), spec.upper)
            out[ward] = Estimate(mean, (total.variance + mean**2 * peer_variance(noise["n"])) / cell["n"] ** 2)
    return out


def peer_inputs(
    cells: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]],
    noise: Mapping[str, Mapping[str, Any]],
) -> dict[str, IndexInputs]:
    """Each month's IndexInputs from one repetition of the peer (month -> query -> ward -> column)."""
    return {
        month: inputs(month, {name: peer_cells(indicator(name), c, noise[month][name]) for name, c in by_name.items()})
        for month, by_name in cells.items()
    }


def peer_series(
    cells: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]],
    noise: Mapping[str, Mapping[str, Any]],
    base: str,
) -> dict[str, dict[str, Estimate]]:
    """Every later month's LSI against `base` in every ward the peer released all its inputs for, both in that
    month and in the base month: {ward: {month: LSI}}."""
    series = index_series(peer_inputs(cells, noise), base)
    return {w: {m: v for m, v in s.items() if m != base} for w, s in series.wards.items()}


def peer_ward_index(
    cells: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]],
    noise: Mapping[str, Mapping[str, Any]],
) -> dict[str, Estimate]:
    """The current month's LSI in every ward the peer released all inputs for, both months."""
    return {w: s[MONTH] for w, s in peer_series(cells, noise, BASE).items() if MONTH in s}


def squared_errors(
    got: Mapping[str, Mapping[str, Estimate]],
    truth: Mapping[str, Mapping[str, float]],
    months: Collection[str] | None = None,
) -> dict[str, float]:
    """One repetition's squared error of every (month, ward) LSI it published, keyed "month ward", pooled over the
    months of `truth` (or only `months`): a ward or month without an index is missing, not an error."""
    return {
        f"{m} {w}": (got[w][m].value - exact) ** 2
        for w, by_month in truth.items()
        for m, exact in by_month.items()
        if (months is None or m in months) and m in got.get(w, {})
    }


def check_exact(
    engine: NodeEngine,
    rho: float,
    exact: Mapping[str, Mapping[str, Mapping[str, Any]]],
    months: Sequence[str] = MONTHS,
) -> None:
    """Raise unless the peer's exact answers (its SQL, no noise) are the node's: the same data, the same filters."""
    for month in months:
        for name, vq, agg in aggregates(engine, month, rho, even=False):
            node = exact_cells(vq.measure, agg)
            peer = exact[month][name]
            for ward, e in node.items():
                cell = peer.get(ward, {"n": 0.0, "s": 0.0})  # SQL has no row for a ward with no matching household
                got = cell["n"] if vq.measure == "count" else cell["s"] * SUM_UNIT / max(cell["n"], 1.0)
                if not math.isclose(got, e.value, rel_tol=1e-9, abs_tol=1e-6):
                    raise AssertionError(f"{month} {name} {ward}: peer's exact {got} != node's {e.value}")


def run_peer(
    root: Path,
    spec: Mapping[str, Any],
    epsilon: float,
    delta: float,
    reps: int,
    mechanisms: Sequence[str] = MECHANISMS,
) -> dict[str, Any]:
    """One run of the peer script: `reps` repetitions alternating between `mechanisms`."""
    spec_path = root / "peer-spec.json"
    spec_path.write_text(json.dumps(spec))
    done = subprocess.run(
        [str(PEER_PYTHON), str(PEER_SCRIPT), str(root / "peer.csv"), str(spec_path), repr(epsilon), repr(delta)]
        + [str(reps), ",".join(mechanisms)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"bench/peer_index.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def _node_sd(engine: NodeEngine, rho: float) -> dict[str, list[float]]:
    """Each input's noise sd per released vector (a mean: its sum's, then its count's), least-variance split."""
    out = {}
    for name, vq, agg in aggregates(engine, MONTH, rho, even=False):
        out[name] = [math.sqrt(noise_variance(p.mechanism, p.scale)) for p in engine._plan(vq, agg)]
    return out


def _peer_sd(noise: Mapping[str, Any]) -> dict[str, list[float]]:
    return {
        name: [math.sqrt(peer_variance(n[c])) * (SUM_UNIT if c == "s" else 1.0) for c in ("s", "n") if c in n]
        for name, n in noise[MONTH].items()
    }


def _rmse(errors: Sequence[Mapping[str, float]]) -> float | None:
    """Root mean square over every (repetition, ward); None when no ward index was published at all."""
    squares = [e for rep in errors for e in rep.values()]
    return math.sqrt(statistics.fmean(squares)) if squares else None


def _over(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def interval(
    num: Sequence[Mapping[str, float]], den: Sequence[Mapping[str, float]], draws: int = 2000
) -> tuple[float, float] | None:
    """95% bootstrap interval of RMSE(num) ÷ RMSE(den), resampling repetitions (num[i] goes with den[i])."""
    a = [(math.fsum(rep.values()), len(rep)) for rep in num]
    b = [(math.fsum(rep.values()), len(rep)) for rep in den]
    rng = random.Random(13)  # fixed: the interval of one run's draws should not move when it is re-reported
    ratios = []
    for _ in range(draws):
        picks = [rng.randrange(len(a)) for _ in a]
        sa, na = sum(a[i][0] for i in picks), sum(a[i][1] for i in picks)
        sb, nb = sum(b[i][0] for i in picks), sum(b[i][1] for i in picks)
        if na and nb and sb > 0:
            ratios.append(math.sqrt(sa / na) / math.sqrt(sb / nb))
    if len(ratios) < draws // 2:  # too few published indexes to say anything
        return None
    ratios.sort()
    return ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios)) - 1]


def loss_figures(
    rho: float, months: Sequence[str], rho_total: float, delta: float, epsilon: float, reps: int, batches: int
) -> dict[str, Any]:
    """The figures both measures report first: the loss each side spent, over which months, and how often."""
    return {
        "rho_per_month": rho,
        "months": list(months),
        "rho_total": rho_total,
        "delta": delta,
        "epsilon_total": epsilon,
        "reps": reps,
        "batches": batches,
    }


def measure(rho: float = 0.5, reps: int = REPS, scale: float = 1.0, batches: int = 3) -> dict[str, Any] | None:
    """Ward LSI RMSE of the node (least-variance and even split) and of SmartNoise SQL (each mechanism) at the same
    total loss, `reps` repetitions of each, in `batches` alternating node and peer; None without `.venv-peer`."""
    if not PEER_PYTHON.exists():
        return None
    start = time.perf_counter()
    per_batch, reps = batched(reps, batches)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = _engine(root, scale)
        delta = engine.policy.delta
        rho_total, epsilon = series_loss(rho, len(MONTHS), delta)
        spec = peer_spec()
        peer_frame(engine, spec).to_csv(root / "peer.csv", index=False)
        truth = {w: e.value for w, e in ward_index(engine, rho, even=False, exact=True).items()}
        node_sd = _node_sd(engine, rho)
        errors: dict[str, list[dict[str, float]]] = {d: [] for d in ("optimal", "even", *MECHANISMS)}
        widths: dict[str, list[float]] = {d: [] for d in errors}
        dropped: dict[str, dict[str, int]] = {m: dict.fromkeys(INDEX_QUERIES, 0) for m in MECHANISMS}
        peer: dict[str, Any] = {}
        for batch in range(batches):  # node and peer alternate, batch by batch
            for _ in range(per_batch):
                for design in ("optimal", "even"):  # interleaved, draw by draw
                    got = ward_index(engine, rho, even=design == "even")
                    errors[design].append({w: (got[w].value - truth[w]) ** 2 for w in truth if w in got})
                    widths[design] += [2 * Z95 * got[w].sd for w in truth if w in got]
            peer = run_peer(root, spec, epsilon, delta, per_batch * len(MECHANISMS))
            if batch == 0:
                check_exact(engine, rho, peer["exact"])
            for rep in peer["reps"]:
                mech = rep["mechanism"]
                got = peer_ward_index(rep["cells"], peer["noise"][mech])
                errors[mech].append({w: (got[w].value - truth[w]) ** 2 for w in truth if w in got})
                widths[mech] += [2 * Z95 * got[w].sd for w in truth if w in got]
                for month in MONTHS:
                    for name, cells in rep["cells"][month].items():
                        dropped[mech][name] += sum(w not in cells for w in truth)
    wards = len(truth)
    optimal = _rmse(errors["optimal"])
    even = _rmse(errors["even"])
    out: dict[str, Any] = {
        **loss_figures(rho, MONTHS, rho_total, delta, epsilon, reps, batches),
        "wards": wards,
        "target": TARGET,
        "node": {
            "optimal": {"rmse": optimal, "width": statistics.fmean(widths["optimal"])},
            "even": {"rmse": even, "width": statistics.fmean(widths["even"])},
            "optimal_over_even": _over(optimal, even),
        },
        "node_sd": node_sd,
        "peer": {},
    }
    for mech in MECHANISMS:
        mine = errors[mech]
        # The node's error on the wards this repetition of the peer published an index for (censoring drops some).
        same = [{w: o[w] for w in p} for o, p in zip(errors["optimal"], mine, strict=True)]
        published = sum(len(rep) for rep in mine)
        rmse = _rmse(mine)
        out["peer"][mech] = {
            "rmse": rmse,
            "width": statistics.fmean(widths[mech]) if widths[mech] else None,
            "node_rmse_same_wards": _rmse(same),
            "ratio": _over(_rmse(same), rmse),
            "ratio_interval": interval(same, mine),
            "ratio_all_wards": _over(optimal, rmse),
            "ward_indexes_published": published,
            "ward_indexes_missing": wards * reps - published,
            "wards_ever_missing": len({w for w in truth if any(w not in rep for rep in mine)}),
            "cells_censored": dropped[mech],
            "loss": peer["loss"][mech],
            "sd": _peer_sd(peer["noise"][mech]),
            "tau": {name: n["tau"] for name, n in peer["noise"][mech][MONTH].items()},
        }
    out["seconds"] = time.perf_counter() - start
    return out


def measure_year(
    rho: float = 0.5,
    months: int = YEAR_MONTHS,
    reps: int = YEAR_REPS,
    scale: float = 1.0,
    batches: int = YEAR_BATCHES,
) -> dict[str, Any] | None:
    """The year's series: ward LSI RMSE of the node (least-variance split) and of SmartNoise SQL (YEAR_MECHANISMS)
    over every later month against the base month, the node at rho a month and SmartNoise at the same total loss
    converted once; `reps` repetitions of each, in `batches` alternating node and peer. None without `.venv-peer`."""
    if not PEER_PYTHON.exists():
        return None
    start = time.perf_counter()
    per_batch, reps = batched(reps, batches)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = _engine(root, scale, months)
        ms = months_ending(MONTH, months)
        if tuple(sorted(engine.frames)) != ms:
            raise AssertionError(f"the district's months {sorted(engine.frames)} are not {ms}")
        delta = engine.policy.delta
        rho_total, epsilon = series_loss(rho, months, delta)
        spec = peer_spec(ms)
        peer_frame(engine, spec, ms).to_csv(root / "peer.csv", index=False)
        exact = ward_series(engine, rho, ms, exact=True)
        truth = {w: {m: e.value for m, e in s.items()} for w, s in exact.items()}
        designs = ("node", *YEAR_MECHANISMS)
        errors: dict[str, list[dict[str, float]]] = {d: [] for d in designs}
        peer: dict[str, Any] = {}
        for batch in range(batches):  # node and peer alternate, batch by batch
            for _ in range(per_batch):
                errors["node"].append(squared_errors(ward_series(engine, rho, ms), truth))
            peer = run_peer(root, spec, epsilon, delta, per_batch * len(YEAR_MECHANISMS), YEAR_MECHANISMS)
            if batch == 0:
                check_exact(engine, rho, peer["exact"], ms)
            for rep in peer["reps"]:
                got = peer_series(rep["cells"], peer["noise"][rep["mechanism"]], ms[0])
                errors[rep["mechanism"]].append(squared_errors(got, truth))
    last = f"{ms[-1]} "

    def last_month(errs: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
        return [{k: v for k, v in rep.items() if k.startswith(last)} for rep in errs]

    wards = len(truth)
    node = _rmse(errors["node"])
    out: dict[str, Any] = {
        **loss_figures(rho, ms, rho_total, delta, epsilon, reps, batches),
        "scale": scale,
        "wards": wards,
        "indexes_per_rep": wards * (months - 1),
        "target": TARGET,
        "node": {"rmse": node, "rmse_last_month": _rmse(last_month(errors["node"]))},
        "peer": {},
    }
    for mech in YEAR_MECHANISMS:
        mine = errors[mech]
        # The node's error on the (month, ward) indexes this repetition of the peer published (a noisy count under
        # 1 or a base share of 1 or more can withhold one even with censoring off).
        same = [{k: o[k] for k in p} for o, p in zip(errors["node"], mine, strict=True)]
        rmse, node_same = _rmse(mine), _rmse(same)
        out["peer"][mech] = {
            "rmse": rmse,
            "node_rmse_same_indexes": node_same,
            "ratio": _over(node_same, rmse),
            "ratio_interval": interval(same, mine),
            "rmse_last_month": _rmse(last_month(mine)),
            "ratio_last_month": _over(_rmse(last_month(same)), _rmse(last_month(mine))),
            "ward_indexes_published": sum(len(rep) for rep in mine),
            "loss": peer["loss"][mech],
            "sd": _peer_sd(peer["noise"][mech]),
        }
    out["seconds"] = time.perf_counter() - start
    return out


LABELS = {
    "default": "Laplace (its default), censoring on (its default)",
    "gaussian": "Gaussian, censoring on (its default)",
    "default-nocensor": "Laplace (its default), censoring off",
    "gaussian-nocensor": "Gaussian, censoring off",
}


def _f(x: float | None, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def verdict(p: Mapping[str, Any], total: int, target: float) -> str:
    """Met or not, where SmartNoise published every ward's index; else only on the wards it chose to publish."""
    if p["ratio"] is None:
        return "no ward index published"
    if p["ward_indexes_published"] < total:
        # Censoring keeps the wards whose noisy counts came out high: a selected, not a like-for-like, sample.
        return "not comparable: selected wards only"
    return "met" if p["ratio"] <= target else "not met"


def ratio(p: Mapping[str, Any]) -> str:
    """A node ÷ peer ratio in bold, with its bootstrap interval when there is one."""
    low_high = p["ratio_interval"]
    ci = "" if low_high is None else f" ({low_high[0]:.2f}–{low_high[1]:.2f})"
    return f"**{_f(p['ratio'], '.2f')}**{ci}"


def report(r: Mapping[str, Any]) -> str:
    """The results as markdown."""
    node, peer, total = r["node"], r["peer"], r["wards"] * r["reps"]

    headline = "\n".join(
        f"| {LABELS[m]} | {p['ward_indexes_published'] / total:.1%} | {_f(p['node_rmse_same_wards'])} | "
        f"{_f(p['rmse'])} | {ratio(p)} | {verdict(p, total, r['target'])} |"
        for m, p in peer.items()
    )
    mine = "\n".join(
        f"| node, {label} split | {_f(node[d]['rmse'])} | {node[d]['width']:.2f} | 100% | {value} |"
        for d, label, value in (
            ("optimal", "least-variance", "1.00"),
            ("even", "even", _f(node["optimal_over_even"], ".2f")),
        )
    )
    rows = "\n".join(
        f"| SmartNoise SQL, {LABELS[m]} | {_f(p['rmse'])} | {_f(p['width'], '.2f')} | "
        f"{p['ward_indexes_published'] / total:.1%} ({p['wards_ever_missing']} wards missing at least once) | "
        f"{_f(p['ratio_all_wards'], '.2f')} |"
        for m, p in peer.items()
    )
    censoring = [m for m in peer if not m.endswith("-nocensor")]
    losses = "\n".join(
        f"- {m}: ε {peer[m]['loss']['epsilon_per_query']:.4f} and δ {peer[m]['loss']['delta_per_query']:.3g} per "
        f"query; {peer[m]['loss']['columns']} measured columns, {peer[m]['loss']['columns_charged_delta']} of them "
        f"charged δ; SmartNoise's `get_privacy_cost` of them all: ε {peer[m]['loss']['spent'][0]:.4f}, "
        f"δ {peer[m]['loss']['spent'][1]:.3g} (the same with censoring off)."
        for m in censoring
    )

    cells = total * len(r["months"])
    noise = "\n".join(
        f"| {name} | {sds(r['node_sd'][name])} | "
        + " | ".join(f"{sds(peer[m]['sd'][name])} | {peer[m]['cells_censored'][name] / cells:.0%}" for m in censoring)
        + " |"
        for name in INDEX_QUERIES
    )
    heads = " | ".join(f"SmartNoise {m} sd | {m}: cells censored" for m in censoring)
    taus = ", ".join(f"{m} {peer[m]['tau']['households']:.1f}" for m in censoring)
    return f"""# The index refresh against SmartNoise SQL at the same total loss (issue 13)

Command: `python -m bench.index_peer` (also run by `python -m bench.issue13`), with SmartNoise SQL 1.0.10 in
`.venv-peer` (`make bench-peer`). Data: the synthetic district of `bench.index_allocation`, {r["wards"]} wards.
Measured: the ward LSI of {r["months"][1]} against {r["months"][0]}, built by the library's `index_series` from
each design's releases, against the exact LSI. {r["reps"]} repetitions of every design, in {r["batches"]} batches
alternating node and peer; ran in {r["seconds"]:.0f} s.

Same total loss. The node spends ρ {r["rho_per_month"]:g} a month: ρ {r["rho_total"]:g} over the two months (ρ
adds up), which at its δ {r["delta"]:g} is ε {r["epsilon_total"]:.4f} (`privacy.accountant.rho_to_epsilon`, once
for both months). SmartNoise gets (ε {r["epsilon_total"]:.4f}, δ {r["delta"]:g}) for all its queries of both
months and spends it evenly, by its own accounting:

{losses}

A mean is asked as SUM and COUNT(*) (two columns; AVG would be three) and post-processed as the node's mean is.
Money goes in £100s: SmartNoise's Gaussian cannot find a scale for a £1,500 bound, and both mechanisms' noise
scales with the bound, so it is the same mechanism. By default SmartNoise censors a ward whose noisy count is
under its threshold; a ward with any input censored in either month has no index, counted as missing, not as an
error. Ward codes are public (the node releases every ward), so censoring off is measured too: the only
like-for-like comparison of the two. Thresholds τ: {taus}.

**Node (least-variance split) ÷ SmartNoise ward LSI RMSE at the same (ε, δ), on the wards SmartNoise published
(95% bootstrap interval over repetitions); target ≤ {r["target"]:g}:**

| SmartNoise SQL | ward indexes published | node RMSE, same wards | SmartNoise RMSE | node ÷ SmartNoise | target |
|---|---|---|---|---|---|
{headline}

| design | ward LSI RMSE | mean 95% width | ward indexes published | node (all wards) ÷ this |
|---|---|---|---|---|
{mine}
{rows}

Noise sd per ward cell (a mean: its sum's / its count's), and the share of ward cells SmartNoise censored over all
repetitions and both months:

| input | node sd | {heads} |
|---|---|{"---|---|" * len(censoring)}
{noise}
"""


def year_report(two: Mapping[str, Any], y: Mapping[str, Any]) -> str:
    """The year's series as markdown, beside the two-month comparison's censoring-off figures."""
    total = y["indexes_per_rep"] * y["reps"]
    first, last, base = y["months"][1], y["months"][-1], y["months"][0]
    n = len(y["months"])

    side = "\n".join(
        f"| {LABELS[m]} | {ratio(two['peer'][m])} | {verdict(two['peer'][m], two['wards'] * two['reps'], TARGET)} | "
        f"{ratio(p)} | {verdict(p, total, y['target'])} |"
        for m, p in y["peer"].items()
    )
    rows = "\n".join(
        f"| SmartNoise SQL, {LABELS[m]} | {p['loss']['columns']} | {p['loss']['epsilon_per_query']:.4f} | "
        f"{p['loss']['delta_per_query']:.3g} | {sds(p['sd']['households'])} | {_f(p['rmse'])} | "
        f"{_f(p['rmse_last_month'])} | {p['ward_indexes_published'] / total:.1%} | "
        f"{_f(p['ratio_last_month'], '.2f')} |"
        for m, p in y["peer"].items()
    )
    node_sd = sds(two["node_sd"]["households"])
    return f"""
## The year's series: {n} months, every month's ward LSI against {base}

The product's real workload: the county refreshes the index every month, {base} (the base month) then {first} to
{last}, each month's seven inputs released once. The node spends ρ {y["rho_per_month"]:g} a month, ρ
{y["rho_total"]:g} in all; at δ {y["delta"]:g} that is ε {y["epsilon_total"]:.4f}, converted once
(`series_loss`), and SmartNoise gets (ε {y["epsilon_total"]:.4f}, δ {y["delta"]:g}) for all its queries of all
{n} months, spread evenly by its own accounting as above. Censoring off only (ward codes are public; censoring on
publishes few ward indexes, as the two-month table shows). RMSE is pooled over every (month, ward) index of
{first} to {last} ({y["indexes_per_rep"]} a repetition); {y["reps"]} repetitions of each design in {y["batches"]}
batches alternating node and peer; scale {y["scale"]:g} (the same district as above); ran in {y["seconds"]:.0f} s.

**Node (least-variance split) ÷ SmartNoise ward LSI RMSE at the same total loss, two months and the year's series
side by side (95% bootstrap interval over repetitions); target ≤ {y["target"]:g}:**

| SmartNoise SQL | 2 months (ε {two["epsilon_total"]:.2f}) | target | {n} months (ε {y["epsilon_total"]:.2f}) | target |
|---|---|---|---|---|
{side}

| design | measured columns | ε per column | δ per column | count sd | ward LSI RMSE, pooled | {last} alone | \
indexes published | node ÷ this, {last} alone |
|---|---|---|---|---|---|---|---|---|
| node, least-variance split | 8 a month (ρ {y["rho_per_month"]:g}) | — | — | {node_sd} | {_f(y["node"]["rmse"])} | \
{_f(y["node"]["rmse_last_month"])} | 100% | 1.00 |
{rows}

Why the two differ: the node's loss composes in zCDP, so each month's ρ {y["rho_per_month"]:g} buys the same
Gaussian noise however many months the series runs (its sd above is the two-month run's), while SmartNoise composes
(ε, δ) over every measured column: converted once, the total ε grows far more slowly than the months
({y["epsilon_total"] / two["epsilon_total"]:.1f} times the two months' ε for {n / 2:g} times the months and ρ:
ε {two["epsilon_total"]:.2f} for two, {y["epsilon_total"]:.2f} for {n}), but SmartNoise shares it among
{y["peer"][YEAR_MECHANISMS[0]]["loss"]["columns"]} columns instead of {two["peer"]["default"]["loss"]["columns"]}, so
each of its columns gets less ε and more noise, while the node's does not. (SmartNoise's odometer takes advanced
composition where that is cheaper than adding, which is why its ε per column is more than
{y["epsilon_total"]:.2f} ÷ {y["peer"][YEAR_MECHANISMS[0]]["loss"]["columns"]} =
{y["epsilon_total"] / y["peer"][YEAR_MECHANISMS[0]]["loss"]["columns"]:.4f}: its own accounting, in its favour.)
The series crosses April, a new rates year; that moves the exact LSI and every design's alike, each measured
against the exact.
"""


def sds(values: Sequence[float]) -> str:
    """Noise sds, a mean's sum's then its count's."""
    return " / ".join(f"{v:,.1f}" for v in values)


def main(reps: int = REPS, year_reps: int = YEAR_REPS) -> dict[str, Any] | None:
    result = measure(reps=reps)
    if result is None:
        print("SmartNoise SQL on the index: not measured (make bench-peer)")
        return None
    result["year"] = measure_year(reps=year_reps)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "index_peer.json").write_text(json.dumps(result, indent=2) + "\n")
    write_results("index_peer.md", report(result) + (year_report(result, result["year"]) if result["year"] else ""))
    return result


if __name__ == "__main__":
    main()
