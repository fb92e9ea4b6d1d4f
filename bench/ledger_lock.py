"""A node's answer time, SQLite connections per answer, and how long hostile queries hold the ledger's write lock.

Writes bench/results/ledger_lock.md. Runs against whatever code is importable, so the same script measured main
before this change (PYTHONPATH at an export of it) and after. Lock hold is timed around the ledger's write
transaction (BEGIN IMMEDIATE to COMMIT); timings drift by +/-15% run to run on a shared 2-core machine.

    .venv/bin/python -m bench.ledger_lock [--queries 200] [--households-scale 6.7] [--max-hostile-scale 1e7]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from analysis.queries import build_query
from bench.common import bench_policy, write_results
from node.engine import Caller, NodeEngine
from node.loader import load_district
from node.synth import _write_district
from privacy.audit import AuditSigner
from privacy.ledger import PrivacyStore
from protos.lsi.v1 import query_pb2
from protos.serde import measure_to_wire
from reference.geography import districts

CODE, MONTH = districts()[5].code, "2025-10"  # the built-in pack's sixth district
CALLER = Caller(name="bench", role="analyst")
HOLDS: list[float] = []
CONNECTIONS = [0]


def instrument() -> None:
    """Time every ledger write transaction and count every SQLite connection opened."""
    original = PrivacyStore._transaction

    def timed(self: PrivacyStore) -> Any:
        inner = original(self)

        @contextmanager
        def wrapper() -> Iterator[Any]:
            start = time.perf_counter()
            try:
                with inner as conn:
                    yield conn
            finally:
                HOLDS.append(time.perf_counter() - start)

        return wrapper()

    PrivacyStore._transaction = timed  # type: ignore[method-assign]
    connect = sqlite3.connect

    def counted(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        CONNECTIONS[0] += 1
        return connect(*args, **kwargs)

    sqlite3.connect = counted  # type: ignore[assignment]


def engine(root: Path, scale: float) -> NodeEngine:
    _write_district((CODE, root / "data", 7, scale, 1, MONTH, "csv"))
    policy = bench_policy(CODE, per_query_rho=1e6)
    store = PrivacyStore(root / "state.sqlite", policy, AuditSigner.generate())
    return NodeEngine(CODE, load_district(root / "data" / CODE, CODE), store)


def count_query(i: int) -> query_pb2.Query:
    # A fresh loss each time: an identical question would be replayed from the store.
    return build_query(
        measure_to_wire("count"), query_id=f"count-{i}", months=[MONTH], rho=0.01 + i * 1e-6, purpose="bench"
    )


def hostile() -> list[tuple[str, float, query_pb2.Query]]:
    """(label, Gaussian noise scale it asks for roughly, query)."""

    def q(qid: str, measure: query_pb2.Measure, rho: float, group_by: list[str]) -> query_pb2.Query:
        return build_query(measure, query_id=qid, group_by=group_by, months=[MONTH], rho=rho, purpose="hostile")

    count = measure_to_wire("count")
    big_sum = measure_to_wire("sum", "earnings_weekly", 0, 10_000_000)
    return [
        ("count by ward, rho 1e-12 (tiny loss)", 1e6, q("h-tiny", count, 1e-12, ["ward_code"])),
        ("sum, bounds 0..1e7, rho 5", 5e6, q("h-bounds", big_sum, 5.0, [])),
        ("sum, bounds 0..1e7, rho 1e-9 (huge bounds, tiny loss)", 4e11, q("h-both", big_sum, 1e-9, [])),
        ("count by ward x EPC band, rho 1e-6 (many cells)", 1e3, q("h-cells", count, 1e-6, ["ward_code", "epc_band"])),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--households-scale", type=float, default=6.7, help="synthetic scale (6.7: ~100k)")
    parser.add_argument(
        "--max-hostile-scale",
        type=float,
        default=float("inf"),
        help="skip hostile queries asking for more noise (main before the fix never finishes them)",
    )
    parser.add_argument("--out", default="ledger_lock.md")
    args = parser.parse_args()
    instrument()
    with tempfile.TemporaryDirectory() as tmp:
        node = engine(Path(tmp), args.households_scale)
        households = len(next(iter(node.frames.values())))
        node.answer(count_query(-1), CALLER)  # warm caches
        HOLDS.clear()
        CONNECTIONS[0] = 0
        times = []
        for i in range(args.queries):
            start = time.perf_counter()
            node.answer(count_query(i), CALLER)
            times.append((time.perf_counter() - start) * 1000)
        holds = [h * 1000 for h in HOLDS]
        per_answer = CONNECTIONS[0] / args.queries
        rows = []
        for label, scale, query in hostile():
            if scale > args.max_hostile_scale:
                rows.append(f"| {label} | skipped (asks for noise scale ~{scale:.0e}) | |")
                continue
            HOLDS.clear()
            start = time.perf_counter()
            try:
                node.answer(query, CALLER)
                outcome = "answered"
            except Exception as exc:  # noqa: BLE001 - a refusal is an outcome to report
                outcome = f"refused ({type(exc).__name__})"
            total = (time.perf_counter() - start) * 1000
            held = max(HOLDS, default=0.0) * 1000
            rows.append(f"| {label} | {outcome}: lock held {held:.2f} ms | {total:.1f} ms |")
    text = "\n".join(
        [
            f"# Ledger lock and answer time ({args.out})",
            "",
            f"One node engine over {households:,} synthetic households, no gRPC. `python -m bench.ledger_lock`.",
            "",
            f"- simple count, {args.queries} answers: mean {statistics.mean(times):.2f} ms, "
            f"median {statistics.median(times):.2f} ms",
            f"- ledger write lock per answer: mean {statistics.mean(holds):.2f} ms, max {max(holds):.2f} ms",
            f"- SQLite connections opened per answer: {per_answer:.1f}",
            "",
            "| hostile query | ledger write lock | whole answer |",
            "|---|---|---|",
            *rows,
            "",
        ]
    )
    write_results(args.out, text)


if __name__ == "__main__":
    main()
