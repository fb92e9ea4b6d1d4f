"""Wall time of county queries over 12 in-process nodes with mutual TLS, and of synthetic data generation.

Writes bench/results/latency.md. Timings drift by +/-15% run to run on a 2-core machine."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from analysis.queries import build_query
from bench.common import write_results
from node.synth import write_county
from protos.lsi.v1 import coordinator_pb2
from protos.serde import filter_to_wire, measure_to_wire
from tests.county import policy_with, running_county


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_queries(stub, group_by: list[str], n: int) -> list[float]:
    times: list[float] = []
    for _ in range(n):
        # A fresh loss each time: an identical query would be replayed from the store.
        query = build_query(
            measure_to_wire("count"),
            filters=[filter_to_wire("on_cts", "eq", True)],
            group_by=group_by,
            months=["2025-10"],
            epsilon=1.0 + len(times) * 1e-6,
        )
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
        query = build_query(
            measure_to_wire("count"),
            filters=[filter_to_wire("on_cts", "eq", True)],
            group_by=["ward_code"],
            months=["2025-10"],
            epsilon=2.0 + i * 1e-6,
        )
        start = time.perf_counter()
        engine.answer(query, caller)
        times.append((time.perf_counter() - start) * 1000)
    return times


def time_with_processes(scale: float, n: int) -> tuple[list[float], list[float], float]:
    """County queries against 12 node processes and a coordinator process, as deployed (on one machine)."""
    import grpc

    from cli.local_county import ANALYST, COORDINATOR, LocalCounty, node_name
    from protos.lsi.v1 import coordinator_pb2_grpc
    from reference.geography import districts
    from security.tls import channel_credentials

    with tempfile.TemporaryDirectory() as tmp:
        county = LocalCounty(Path(tmp))
        write_county(county.data_dir, seed=7, scale=scale, months=1, end_month="2025-10")
        county.prepare_pki()
        # The demo's policy caps a query at rho 0.5, which these epsilon-1 counts just pass: a bench budget instead.
        county.write_configs(policy_with(total_rho=1e6, per_query_rho=1e3))
        start = time.perf_counter()
        try:
            county.start_nodes()
            for d in districts():
                county.wait_serving(d.code, county.node_address(d.code), node_name(d))
            county.start_coordinator()
            county.wait_serving("coordinator", county.coordinator_address, COORDINATOR)
            startup = time.perf_counter() - start
            creds = channel_credentials(county.tls(ANALYST))
            with grpc.secure_channel(
                county.coordinator_address, creds, options=[("grpc.ssl_target_name_override", COORDINATOR)]
            ) as channel:
                stub = coordinator_pb2_grpc.CoordinatorStub(channel)
                time_queries(stub, [], 3)
                return time_queries(stub, [], n), time_queries(stub, ["ward_code"], n), startup
        finally:
            county.stop()


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
    proc_district, proc_ward, startup = time_with_processes(scale, n)
    rows = "\n".join(
        f"| {name} | {statistics.median(t):.1f} | {percentile(t, 0.95):.1f} |"
        for name, t in (
            ("county: count by district", by_district),
            ("county: count by ward (255 wards + reconciliation)", by_ward),
            (f"one node's answer by ward, no gRPC ({node_rows:,} records)", node_ms),
            ("12 node processes + coordinator process: count by district", proc_district),
            ("12 node processes + coordinator process: count by ward", proc_ward),
        )
    )
    text = f"""# Latency

Command: `python -m bench.latency` (12 district nodes and a coordinator in one process, mutual TLS on
loopback; synthetic scale {scale}, {records:,} household records in the queried month; {n} queries each;
every query charged to the ledger, released through OpenDP, audited and stored).

| query | p50 ms | p95 ms |
|---|---|---|
{rows}

In the first two rows all 12 nodes share one Python process, so their work is serialised by the interpreter
lock: a county query costs about twelve node answers end to end. The last two rows run each node as its own
process, as deployed, but all on this 2-core machine, so twelve nodes still share two cores; on separate
machines a county query costs about one node's answer plus the fan-out. Starting 12 node processes and the
coordinator took {startup:.1f} s.

Synthetic data, 12 districts x 13 months at scale {scale}: {synth_s:.1f} s.
"""
    write_results("latency.md", text)


if __name__ == "__main__":
    main()
