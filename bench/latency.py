"""Wall time of county queries over 12 in-process nodes with mutual TLS, and of synthetic data generation.

Writes bench/results/latency.md. Timings drift by +/-15% run to run on a 2-core machine."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from node.synth import write_county
from protos.lsi.v1 import coordinator_pb2, query_pb2
from tests.county import running_county

RESULTS = Path(__file__).parent / "results" / "latency.md"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_queries(stub, group_by: list[str], n: int) -> list[float]:
    times = []
    for _ in range(n):
        query = query_pb2.Query(
            query_id=str(uuid.uuid4()), measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
            filters=[query_pb2.Filter(column="on_cts", op=query_pb2.Filter.EQ, flag=True)],
            group_by=group_by, months=["2025-10"],
            # A fresh loss each time: an identical query would be replayed from the store.
            privacy=query_pb2.PrivacyRequest(epsilon=1.0 + len(times) * 1e-6))
        start = time.perf_counter()
        stub.Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)
        times.append((time.perf_counter() - start) * 1000)
    return times


def time_node_answers(engine, n: int) -> list[float]:
    """One node's whole answer path, called directly (no gRPC)."""
    from node.engine import Caller

    caller = Caller("county-coordinator", "coordinator")
    times = []
    for i in range(n):
        query = query_pb2.Query(
            query_id=str(uuid.uuid4()), measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
            filters=[query_pb2.Filter(column="on_cts", op=query_pb2.Filter.EQ, flag=True)],
            group_by=["ward_code"], months=["2025-10"], privacy=query_pb2.PrivacyRequest(epsilon=2.0 + i * 1e-6))
        start = time.perf_counter()
        engine.answer(query, caller)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main(scale: float = 1.0, n: int = 40) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_county(Path(tmp) / "synth", seed=7, scale=scale, months=13, end_month="2025-10")
        synth_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp, running_county(Path(tmp), scale=scale, months=1) as county:
        records = sum(len(e.frames["2025-10"]) for e in county.engines.values())
        stub = county.coordinator_stub()
        time_queries(stub, [], 3)  # warm channels
        by_district = time_queries(stub, [], n)
        by_ward = time_queries(stub, ["ward_code"], n)
        largest = max(county.engines.values(), key=lambda e: len(e.frames["2025-10"]))
        node_ms = time_node_answers(largest, n)
        node_rows = len(largest.frames["2025-10"])
    rows = "\n".join(
        f"| {name} | {statistics.median(t):.1f} | {percentile(t, 0.95):.1f} |"
        for name, t in (("county: count by district", by_district),
                        ("county: count by ward (257 wards + reconciliation)", by_ward),
                        (f"one node's answer by ward, no gRPC ({node_rows:,} records)", node_ms))
    )
    text = f"""# Latency

Command: `python -m bench.latency` (12 district nodes and a coordinator in one process, mutual TLS on
loopback; synthetic scale {scale}, {records:,} household records in the queried month; {n} queries each;
every query charged to the ledger, released through OpenDP, audited and stored).

| query | p50 ms | p95 ms |
|---|---|---|
{rows}

All 12 nodes share one Python process here, so their work is serialised by the interpreter lock: a county
query costs about twelve node answers end to end. Deployed nodes are separate processes on separate machines
and answer in parallel; one node's answer (validate, aggregate, charge, release, audit, store) is the
figure that scales.

Synthetic data, 12 districts x 13 months at scale {scale}: {synth_s:.1f} s.
"""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
