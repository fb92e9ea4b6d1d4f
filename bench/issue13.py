"""Issue 13's table, measured in one run: accuracy per unit of budget, a node near the floor, memory.

Every figure is a ratio of two things measured in this run, A and B interleaved (never against a number from
another run). Writes bench/results/issue13.json, issue13.png and issue13.md. `python -m bench.issue13`."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.queries import build_query
from bench import index_allocation, index_peer
from bench.common import PEER_PYTHON, RESULTS, bench_policy, distinct_filter, write_results
from common.estimates import Estimate
from coordinator.postprocess import reconcile
from node.engine import Caller, NodeEngine
from node.executor import exact_aggregate
from node.loader import load_district
from node.query import validate
from node.synth import generate_district
from privacy.accountant import plan_release
from privacy.accuracy import noise_variance
from privacy.audit import AuditSigner
from privacy.draw import make_draw, run
from privacy.ledger import PrivacyStore
from privacy.mechanisms import Mechanism
from privacy.policy import Policy
from privacy.sensitivity import sensitivity
from protos.lsi.v1 import query_pb2
from protos.serde import measure_to_wire
from reference.geography import district, districts, wards

CODE = max(districts(), key=lambda d: len(wards(d.code))).code  # most wards: most cells a household could double
MONTH = "2025-10"
SPLIT = 1 / 1.05**2  # share of the loss the split design gives the ward cells (their error then 1.05x)
# The "today" column (measured on main before this work, same machine), shown beside the new figures.
OLD = {
    "ward_error_laplace": 2.0,
    "ward_error_gaussian": 1.43,
    "node_over_pandas_100k": 13.6,
    "history_over_empty": 6.7,
    "bytes_per_household_month": 354.0,
}
TARGET = {
    "ward_error_laplace": 1.05,
    "ward_error_gaussian": 1.05,
    "node_over_pandas_100k": 1.3,
    "history_over_empty": 1.1,
    "bytes_per_household_month": 100.0,
}


def policy() -> Policy:
    return bench_policy(CODE)


def engine_at(root: Path, scale: float, name: str = "node") -> NodeEngine:
    folder = root / f"data-{scale}"
    if not folder.exists():
        folder.mkdir(parents=True)
        for month, frame in generate_district(CODE, scale=scale, months=1, end_month=MONTH).items():
            frame.to_csv(folder / f"{month}.csv", index=False)
    store = PrivacyStore(root / f"{name}.sqlite", policy(), AuditSigner.generate())
    return NodeEngine(CODE, load_district(folder, CODE), store)


def by_ward(loss: dict[str, float], qid: str = "bench", distinct: int | None = None) -> query_pb2.Query:
    """A by-ward count; `distinct` makes it a question of its own (answered afresh, never replayed)."""
    return build_query(
        measure_to_wire("count"),
        filters=[] if distinct is None else [distinct_filter(distinct)],
        group_by=["ward_code"],
        months=[MONTH],
        query_id=qid,
        epsilon=loss.get("epsilon"),
        rho=loss.get("rho"),
    )


# -- accuracy per unit of budget ---------------------------------------------------------------------------------


def accuracy(engine: NodeEngine, mechanism: Mechanism, loss: dict[str, float], reps: int) -> dict[str, float]:
    """Ward and district-total RMSE of three layouts at the same loss, ÷ the noise of ward cells released alone."""
    vq = validate(by_ward(loss), columns=engine.columns, months=engine.months)
    exact = exact_aggregate(engine.frames, vq, engine.columns, engine.wards)
    wards = list(exact.counts[:-1])
    total = exact.counts[-1]
    delta = engine.policy.delta

    def plan(cells: int, share: float):  # noqa: ANN202
        sens = sensitivity("count", 0, 0, contributions=1, cells_per_contribution=cells, months_in_separate_cells=True)
        scaled = {k: v * share for k, v in loss.items()}
        return plan_release(mechanism, sens, delta=delta, **scaled)

    alone = plan(1, 1.0)
    old, ward_part, total_part = plan(2, 1.0), plan(1, SPLIT), plan(1, 1 - SPLIT)
    errors: dict[str, list[float]] = {f"{d}_{lvl}": [] for d in ("new", "old", "split") for lvl in ("ward", "total")}
    for _ in range(reps):  # the three designs interleaved, draw by draw
        release = query_pb2.Release.FromString(engine._draw_unledgered(vq, exact, engine._plan(vq, exact)))
        new_wards = [c.value for c in release.cells if c.level == query_pb2.Cell.GROUP]
        new_total = next(c.value for c in release.cells if c.level == query_pb2.Cell.DISTRICT)
        record(errors, "new", new_wards, new_total, wards, total)
        (noisy,) = run([make_draw(mechanism, old.scale, old.sensitivity, [*wards, total])])
        record(errors, "old", *reconciled(noisy[:-1], noisy[-1], old.scale, old.scale, mechanism), wards, total)
        g, t = run(
            [
                make_draw(mechanism, ward_part.scale, ward_part.sensitivity, wards),
                make_draw(mechanism, total_part.scale, total_part.sensitivity, [total]),
            ]
        )
        record(errors, "split", *reconciled(g, t[0], ward_part.scale, total_part.scale, mechanism), wards, total)
    floor = math.sqrt(noise_variance(mechanism, alone.scale))
    return {key: math.sqrt(statistics.fmean(v)) / floor for key, v in errors.items()} | {"wards": len(wards)}


def reconciled(
    groups: tuple[int, ...], total: int, group_scale: float, total_scale: float, mechanism: Mechanism
) -> tuple[list[float], float]:
    gv, tv = noise_variance(mechanism, group_scale), noise_variance(mechanism, total_scale)
    out = reconcile({str(i): Estimate(v, gv) for i, v in enumerate(groups)}, Estimate(total, tv))
    return [out.groups[str(i)].value for i in range(len(groups))], out.total.value


def record(
    errors: dict[str, list[float]], design: str, noisy: list[float], total: float, wards: list[int], exact: int
) -> None:
    errors[f"{design}_ward"] += [(a - b) ** 2 for a, b in zip(noisy, wards, strict=True)]
    errors[f"{design}_total"].append((total - exact) ** 2)


# -- a node near the floor ---------------------------------------------------------------------------------------


def interleaved(a: Callable[[], object], b: Callable[[], object], n: int) -> tuple[float, float]:
    """Median seconds of a and of b, run alternately n times each after a warm-up."""
    ta, tb = [], []
    a(), b()
    for _ in range(n):
        start = time.perf_counter()
        a()
        ta.append(time.perf_counter() - start)
        start = time.perf_counter()
        b()
        tb.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


def node_vs_pandas(engine: NodeEngine, n: int) -> dict[str, float]:
    """The node's whole answer (validate, aggregate, plan, charge, noise, store, sign) ÷ a bare pandas group-by."""
    frame = engine.frames[MONTH]
    counter = iter(range(10**9))
    caller = Caller("bench", "analyst")

    def answer() -> None:
        i = next(counter)
        engine.answer(by_ward({"rho": 0.01}, f"q{i}", distinct=i), caller)

    def floor() -> None:
        frame.groupby("ward_code", observed=True).size()

    node_s, pandas_s = interleaved(answer, floor, n)
    return {"rows": len(frame), "node_ms": node_s * 1e3, "pandas_ms": pandas_s * 1e3, "ratio": node_s / pandas_s}


def history(root: Path, n_before: int, n: int) -> dict[str, float]:
    """Answer time with n_before earlier releases in the ledger ÷ with an empty ledger, interleaved."""
    full, empty = engine_at(root, 0.2, "full"), engine_at(root, 0.2, "empty")
    caller = Caller("bench", "analyst")
    seed_history(full.store.path, n_before)
    counter = iter(range(10**9))
    full_s, empty_s = interleaved(
        lambda: full.answer(by_ward({"rho": 1e-4}, f"f{(i := next(counter))}", distinct=i), caller),
        lambda: empty.answer(by_ward({"rho": 1e-4}, f"e{(i := next(counter))}", distinct=i), caller),
        n,
    )
    return {"releases_before": n_before, "full_ms": full_s * 1e3, "empty_ms": empty_s * 1e3, "ratio": full_s / empty_s}


def peer(engine: NodeEngine, root: Path, epsilon: float, batches: int = 3, reps: int = 10) -> dict[str, float] | None:
    """SmartNoise SQL (its own venv) against the node on the same by-ward count at the same epsilon, in batches
    alternating with the node's; None when `make bench-peer` has not been run."""
    if not PEER_PYTHON.exists():
        return None
    csv = root / "peer.csv"
    engine.frames[MONTH][["ward_code"]].to_csv(csv, index=False)
    caller = Caller("bench", "analyst")
    counter = iter(range(10**9))
    peer_s, node_s, peer_rmse, node_err = [], [], [], []
    for _ in range(batches):
        done = subprocess.run(
            [str(PEER_PYTHON), str(Path(__file__).with_name("peer_smartnoise.py")), str(csv), str(epsilon), str(reps)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        peer_s.append(figures["seconds"])
        peer_rmse.append(figures["ward_rmse"])
        for _ in range(reps):
            i = next(counter)
            query = by_ward({"epsilon": epsilon}, f"peer{i}", distinct=i)  # a fresh draw each time, not a replay
            start = time.perf_counter()
            release = engine.answer(query, caller)
            node_s.append(time.perf_counter() - start)
            truth = exact_aggregate(
                engine.frames,
                validate(query, columns=engine.columns, months=engine.months),
                engine.columns,
                engine.wards,
            )
            wards = [c.value for c in release.cells if c.level == query_pb2.Cell.GROUP]
            node_err += [(a - b) ** 2 for a, b in zip(wards, truth.counts[:-1], strict=True)]
    node_rmse = math.sqrt(statistics.fmean(node_err))
    return {
        "peer_over_node_time": statistics.median(peer_s) / statistics.median(node_s),
        "node_error_over_peer": node_rmse / statistics.fmean(peer_rmse),
        "peer_ms": statistics.median(peer_s) * 1e3,
        "node_ms": statistics.median(node_s) * 1e3,
    }


def seed_history(path: Path, n: int) -> None:
    """n earlier releases written straight into the tables (as many rows as real ones; answering them one by one
    would take most of an hour). The audit rows are not signed: the benchmark never verifies the chain."""
    import sqlite3
    from datetime import date, timedelta

    from privacy.audit import utc_now
    from privacy.ledger import charge_units, rebuild_daily_totals

    today = date.fromisoformat(utc_now()[:10])
    # Spread over 300 days, as a year's history would be (the daily totals then have 300 days to add up).
    days = [(today - timedelta(days=i % 300)).isoformat() for i in range(n)]
    now = utc_now()
    units = charge_units(1e-6)
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO charges (query_id, analyst, role, purpose, mechanism, scale, rho, rho_units, epsilon, delta, "
            "created_at, charge_date) "
            "VALUES (?, ?, 'analyst', ?, 'discrete_gaussian', 700.0, 1e-6, ?, 0.02, 1e-7, ?, ?)",
            [(f"old{i}", f"analyst{i % 7}", f"purpose{i % 5}", units, days[i] + now[10:], days[i]) for i in range(n)],
        )
        conn.executemany(
            "INSERT INTO releases (query_id, fingerprint, snapshot_digest, canonical_query, payload, created_at) "
            "VALUES (?, ?, 'd', '{}', x'00', ?)",
            [(f"old{i}", f"f{i}", now) for i in range(n)],
        )
        head = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log").fetchone()[0]
        conn.executemany(
            "INSERT INTO audit_log (seq, time, actor, role, action, query_id, canonical_query, purpose, rho, epsilon, "
            "detail, prev_hash, entry_hash, signature) VALUES (?, ?, 'a', 'analyst', ?, ?, '{}', 'p', 1e-6, 0.02, '', "
            "'', '', '')",
            [(head + 1 + i, days[i] + now[10:], "release" if i % 10 else "replay", f"old{i}") for i in range(n)],
        )
        conn.execute("UPDATE spend_totals SET units = units + ? WHERE key = 'lifetime'", (units * n,))
        rebuild_daily_totals(conn)
    conn.close()


def memory(engine: NodeEngine) -> dict[str, float]:
    """Bytes the node holds per household-month (its derived frames, deep)."""
    rows = sum(len(f) for f in engine.frames.values())
    held = sum(int(f.memory_usage(deep=True).sum()) for f in engine.frames.values())
    return {"rows": rows, "bytes_per_household_month": held / rows}


def chart(figures: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(OLD)
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 3.2))
    for ax, name in zip(axes, names, strict=True):
        ax.bar(["old", "new"], [OLD[name], figures[name]], color=["#bbb", "#2a7"])
        ax.axhline(TARGET[name], color="#c33", linestyle="--", linewidth=1)
        ax.set_title(name.replace("_", " "), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(reps: int = 150, n: int = 30, n_before: int = 100_000, scale_100k: float = 5.3) -> dict[str, object]:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        small = engine_at(root, 1.0, "acc")
        laplace = accuracy(small, Mechanism.DISCRETE_LAPLACE, {"epsilon": 1.0}, reps)
        gaussian = accuracy(small, Mechanism.DISCRETE_GAUSSIAN, {"rho": 0.5}, reps)
        big = engine_at(root, scale_100k, "big")
        speed = node_vs_pandas(big, n)
        mem = memory(big)
        versus = peer(big, root, 1.0)
        ledger = history(root, n_before, n)
    index = index_allocation.measure(rho=0.5, reps=reps // 2)
    index_versus = index_peer.main()  # also writes index_peer.md; None without .venv-peer
    figures = {
        "ward_error_laplace": laplace["new_ward"],
        "ward_error_gaussian": gaussian["new_ward"],
        "node_over_pandas_100k": speed["ratio"],
        "history_over_empty": ledger["ratio"],
        "bytes_per_household_month": mem["bytes_per_household_month"],
    }
    out = {
        "figures": figures,
        "old": OLD,
        "target": TARGET,
        "accuracy": {"laplace_epsilon_1": laplace, "gaussian_rho_0.5": gaussian, "split_share": SPLIT},
        "speed": speed,
        "ledger": ledger,
        "memory": mem,
        "peer": versus,
        "index_allocation": index,
        "index_peer": index_versus,
        "seconds": time.perf_counter() - start,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "issue13.json").write_text(json.dumps(out, indent=2) + "\n")
    chart(figures, RESULTS / "issue13.png")
    text = report(out, laplace, gaussian, speed, ledger, mem) + peer_lines(versus) + index_lines(index, index_versus)
    write_results("issue13.md", text)
    return out


def report(out: dict, laplace: dict, gaussian: dict, speed: dict, ledger: dict, mem: dict) -> str:
    rows = [
        ("ward-cell error ÷ ward cells alone, Laplace ε=1", "ward_error_laplace"),
        ("ward-cell error ÷ ward cells alone, Gaussian ρ=0.5", "ward_error_gaussian"),
        (f"node answer ÷ pandas group-by, {speed['rows']:,} households", "node_over_pandas_100k"),
        (f"answer with {ledger['releases_before']:,} earlier releases ÷ empty ledger", "history_over_empty"),
        ("bytes per household-month held", "bytes_per_household_month"),
    ]
    table = "\n".join(
        f"| {label} | {OLD[key]:g} | {out['figures'][key]:.2f} | {TARGET[key]:g} |" for label, key in rows
    )
    designs = "\n".join(
        f"| {name} | {acc['new_ward']:.2f} / {acc['new_total']:.2f} | {acc['old_ward']:.2f} / {acc['old_total']:.2f} "
        f"| {acc['split_ward']:.2f} / {acc['split_total']:.2f} |"
        for name, acc in (("Laplace ε=1", laplace), ("Gaussian ρ=0.5", gaussian))
    )
    return f"""# Issue 13: accuracy per budget, a node near the floor, memory

Command: `python -m bench.issue13` (also run by `make bench`); synthetic {district(CODE).name}
({int(laplace["wards"])} wards).
Each figure is a ratio of two things measured in this run, interleaved. "old" is the issue's figure for main
before this work (same machine); JSON: `bench/results/issue13.json`, chart: `bench/results/issue13.png`.

| work | old | new | target |
|---|---|---|---|
{table}

Ward-cell layouts at the same loss (RMSE ÷ the noise of ward cells released alone; ward / district total):

| loss | groups only, total derived (kept) | groups + total (old) | split {SPLIT:.3f}/{1 - SPLIT:.3f}, reconciled |
|---|---|---|---|
{designs}

Node answer {speed["node_ms"]:.1f} ms vs pandas {speed["pandas_ms"]:.1f} ms; ledger {ledger["full_ms"]:.1f} ms with
history vs {ledger["empty_ms"]:.1f} ms empty. Ran in {out["seconds"]:.0f} s.
"""


def peer_lines(versus: dict[str, float] | None) -> str:
    if versus is None:
        return "\nSmartNoise SQL 1.0.10: not measured in this run (`make bench-peer` makes its environment).\n"
    return (
        f"\nSmartNoise SQL 1.0.10, same by-ward count at epsilon 1 (old: 2.5-2.9x slower; target >= 10x): "
        f"{versus['peer_over_node_time']:.1f}x the node's time "
        f"({versus['peer_ms']:.1f} vs {versus['node_ms']:.1f} ms); "
        f"node ward RMSE ÷ peer's on this one count, per query: {versus['node_error_over_peer']:.2f}.\n"
    )


def index_lines(index: dict[str, float], versus: dict[str, Any] | None) -> str:
    """The index refresh's rho split (least-variance ÷ even), and the index against SmartNoise SQL at the same loss."""
    lines = (
        f"\nIndex refresh, ward LSI of {MONTH} against its base month at rho {index['rho']:g} a month "
        f"({int(index['wards'])} wards): the split by weight × sensitivity ÷ the even split, RMSE "
        f"{index['optimal_rmse']:.3f} ÷ {index['even_rmse']:.3f} = {index['ratio']:.2f}, mean 95% interval width "
        f"{index['optimal_width']:.2f} ÷ {index['even_width']:.2f} = {index['width_ratio']:.2f} "
        "(theory 0.80: `analysis/allocation.py`).\n"
    )
    if versus is None:
        return lines + "Node ÷ SmartNoise SQL on the ward index: not measured (make bench-peer).\n"
    total = versus["wards"] * versus["reps"]
    ratios = "; ".join(
        f"{index_peer.LABELS[m]} {'—' if p['ratio'] is None else format(p['ratio'], '.2f')} "
        f"({p['ward_indexes_published'] / total:.0%} of ward indexes published: "
        f"{index_peer.verdict(p, total, versus['target'])})"
        for m, p in versus["peer"].items()
    )
    lines += (
        f"Node (least-variance split) ÷ SmartNoise SQL ward LSI RMSE, measured at the same total loss (ε "
        f"{versus['epsilon_total']:.2f}, δ {versus['delta']:g} over both months; {versus['reps']} repetitions; "
        f"`index_peer.md`; target <= {versus['target']:g}), on the wards SmartNoise published: {ratios}.\n"
    )
    year = versus.get("year")
    if not year:
        return lines
    asked = year["indexes_per_rep"] * year["reps"]
    series = "; ".join(
        f"{index_peer.LABELS[m]} {'—' if p['ratio'] is None else format(p['ratio'], '.2f')} "
        f"({index_peer.verdict(p, asked, year['target'])})"
        for m, p in year["peer"].items()
    )
    return lines + (
        f"The year's series ({len(year['months'])} months, {year['months'][0]} the base month, every later month's "
        f"ward LSI pooled; ε {year['epsilon_total']:.2f}, δ {year['delta']:g} in all, converted once from rho "
        f"{year['rho_total']:g}; {year['reps']} repetitions; `index_peer.md`): node ÷ SmartNoise SQL {series}.\n"
    )


if __name__ == "__main__":
    main()
