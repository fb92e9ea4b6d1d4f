"""200 concurrent county queries from several analysts against 12 node processes and a coordinator process.

Half the nodes are dialled, half dial out. Run with every district healthy (analysts asking with a few usual
losses, then with every query a loss never seen before) and once with one district frozen (SIGSTOP). Writes
bench/results/load.md and load.json: p50/p99 latency, throughput, errors other than the frozen district, CPU
per county query by process, and issue 13's 12-node ratio: a county query's wall time over the node CPU it
needs divided by the cores, that CPU measured in this run by answering the same queries in-process on the same
data (NodeEngine.answer, interleaved with the county queries)."""

from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc

from analysis.queries import build_query
from bench.common import RESULTS, distinct_filter, reference_loop_ms, write_results
from cli.local_county import ANALYST, COORDINATOR, LocalCounty, node_name
from node.engine import Caller, NodeEngine
from node.loader import load_district
from node.synth import write_county
from privacy.audit import AuditSigner
from privacy.ledger import PrivacyStore
from protos.lsi.v1 import coordinator_pb2, coordinator_pb2_grpc, query_pb2
from protos.serde import filter_to_wire, measure_to_wire
from reference.geography import districts
from security.pki import Role, issue
from security.tls import channel_credentials
from tests.county import policy_with

ANALYSTS = [ANALYST, "analyst-bob", "analyst-carol", "analyst-dan"]
# Analysts ask with a handful of usual losses; a node plans each loss once (plans depend on no data).
USUAL_EPSILONS = (0.1, 0.2, 0.5, 1.0)
CORES = os.cpu_count() or 1
# Where each run's questions start, so no run asks a question an earlier one asked (it would be a free replay).
RATIO, HEALTHY, NEW_LOSSES, FROZEN = 1_000, 2_000, 3_000, 4_000


def usual_loss(i: int) -> float:
    """The loss of query i when analysts use the usual few."""
    return USUAL_EPSILONS[i % len(USUAL_EPSILONS)]


def new_loss(i: int) -> float:
    """A loss no earlier query used (the worst case: every node plans it afresh)."""
    return 0.1 + (i + 1) * 1e-7


def question(i: int, epsilon: float) -> query_pb2.Query:
    """The benchmark's county question i: a count of households on council tax support (each i its own question,
    so every node charges and draws afresh: an identical question is answered from its stored release)."""
    return build_query(
        measure_to_wire("count"),
        filters=[filter_to_wire("on_cts", "eq", True), distinct_filter(i)],
        months=["2025-10"],
        epsilon=epsilon,
        purpose="load benchmark",
    )


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every process's, from /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def process_cpu(county: LocalCounty) -> dict[str, float]:
    """CPU seconds so far of every process of the county."""
    return {name: cpu_seconds(p.pid) for name, p in county.processes.items()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_and_warm(county: LocalCounty, deadline: float) -> None:
    """Start every node and the coordinator, wait until all serve, then warm channels and caches with 12 queries."""
    county.start_nodes()
    for d in districts():
        county.wait_serving(d.code, county.node_address(d.code), node_name(d))
    county.start_coordinator()
    county.wait_serving("coordinator", county.coordinator_address, COORDINATOR)
    county.wait_all_connected()
    burst(county, 12, deadline, None)


def burst(
    county: LocalCounty,
    n: int,
    deadline: float,
    frozen: str | None,
    loss: Callable[[int], float] = usual_loss,
    first: int = 0,
) -> dict[str, float]:
    """n county queries at once (questions first .. first + n - 1), spread over the analysts; latency percentiles,
    throughput, errors and CPU."""
    stubs = {}
    for name in ANALYSTS:
        channel = grpc.secure_channel(
            county.coordinator_address,
            channel_credentials(county.tls(name)),
            options=[("grpc.ssl_target_name_override", COORDINATOR)],
        )
        stubs[name] = coordinator_pb2_grpc.CoordinatorStub(channel)

    # Every query is started from this one thread as a gRPC future and timed by its completion callback, rather
    # than from 200 threads each blocked on a call: this process (the analysts' side) shares the 2 cores with the
    # county, and a real analyst's machine would not. Its CPU is reported below ("client_cpu_ms").
    outcomes: list[tuple[float, int, int]] = [(0.0, 0, 0)] * n
    finished = threading.Semaphore(0)

    def done(i: int, start: float, call: grpc.Future) -> None:
        elapsed = time.perf_counter() - start
        try:
            result = call.result()
            errors = sum(1 for d in result.districts if not d.answered and d.district_code != frozen)
            replays = sum(1 for d in result.districts if d.replayed)
        except grpc.RpcError as exc:
            print(f"query {i}: {exc.code().name} {exc.details()}", file=sys.stderr)  # noqa: T201
            errors, replays = 12, 0
        outcomes[i] = (elapsed, errors, replays)
        finished.release()

    requests = [
        coordinator_pb2.FederatedQuery(query=question(first + i, loss(i)), deadline_seconds=deadline) for i in range(n)
    ]
    cpu_before, busy_before, client_before = process_cpu(county), machine_busy(), time.process_time()
    start = time.perf_counter()
    for i, request in enumerate(requests):
        sent = time.perf_counter()
        call = stubs[ANALYSTS[i % len(ANALYSTS)]].Submit.future(request, timeout=120)
        call.add_done_callback(lambda f, i=i, sent=sent: done(i, sent, f))
    for _ in range(n):
        finished.acquire()
    wall = time.perf_counter() - start
    cpu = {k: v - cpu_before[k] for k, v in process_cpu(county).items()}
    client = time.process_time() - client_before  # this process: the analysts' side
    busy, total = (after - before for after, before in zip(machine_busy(), busy_before, strict=True))
    times = [t for t, _, _ in outcomes]
    return {
        "p50": statistics.median(times),
        "p99": percentile(times, 0.99),
        "max": max(times),
        "throughput": n / wall,
        "errors": sum(e for _, e, _ in outcomes),
        # Answers a node gave from its store (an identical question asked before): none, or the run measured replays.
        "replays": sum(r for _, _, r in outcomes),
        "wall": wall,
        "coordinator_cpu_ms": cpu["coordinator"] / n * 1e3,
        "nodes_cpu_ms": (sum(cpu.values()) - cpu["coordinator"]) / n * 1e3,
        # Of the machine's CPU over the burst: how much the county used, and how much other work on it did.
        "county_share": sum(cpu.values()) / total,
        "others_share": max(0.0, busy - sum(cpu.values()) - client) / total,
        "client_cpu_ms": client / n * 1e3,
    }


def floor_engines(county: LocalCounty, root: Path) -> dict[str, NodeEngine]:
    """The twelve districts' engines in this process over the county's own data, each with a throwaway ledger."""
    policy = policy_with(total_rho=1000.0, per_query_rho=50.0)
    return {
        d.code: NodeEngine(
            d.code,
            load_district(county.data_dir / d.code, d.code),
            PrivacyStore(root / f"floor-{d.code}.sqlite", policy(d), AuditSigner.generate()),
        )
        for d in districts()
    }


def twelve_node_ratio(county: LocalCounty, engines: dict[str, NodeEngine], reps: int) -> dict[str, float]:
    """County query wall time, one at a time, against the CPU its twelve answers take in-process, interleaved."""
    channel = grpc.secure_channel(
        county.coordinator_address,
        channel_credentials(county.tls(ANALYST)),
        options=[("grpc.ssl_target_name_override", COORDINATOR)],
    )
    stub = coordinator_pb2_grpc.CoordinatorStub(channel)
    caller = Caller(COORDINATOR, "coordinator")
    walls, floors = [], []
    for i in range(reps):
        start = time.perf_counter()
        stub.Submit(coordinator_pb2.FederatedQuery(query=question(RATIO + i, usual_loss(i))), timeout=60)
        walls.append(time.perf_counter() - start)
        cpu = 0.0
        for code, engine in engines.items():
            query = question(RATIO + i, usual_loss(i))
            query.query_id, query.analyst = f"floor-{i}-{code}", ANALYST
            start = time.process_time()
            engine.answer(query, caller)
            cpu += time.process_time() - start
        floors.append(cpu)
    channel.close()
    floor = statistics.median(floors) / CORES
    return {"wall": statistics.median(walls), "node_cpu": statistics.median(floors), "floor": floor}


def main(n: int = 200, scale: float = 0.05, deadline: float = 45.0, reps: int = 40) -> None:
    codes = [d.code for d in districts()]
    with tempfile.TemporaryDirectory() as tmp:
        county = LocalCounty(Path(tmp))
        write_county(county.data_dir, seed=7, scale=scale, months=1, end_month="2025-10")
        county.prepare_pki()
        for name in ANALYSTS[1:]:
            issue(county.pki_dir, name, Role.ANALYST)
        county.write_configs(policy_with(total_rho=1000.0, per_query_rho=50.0), outbound=codes[1::2])
        engines = floor_engines(county, Path(tmp))
        try:
            start_and_warm(county, deadline)
            ratio = twelve_node_ratio(county, engines, reps)
            runs = {
                "healthy, usual losses": burst(county, n, deadline, None, first=HEALTHY),
                "healthy, every loss new": burst(county, n, deadline, None, loss=new_loss, first=NEW_LOSSES),
            }
            frozen = codes[0]
            os.kill(county.processes[frozen].pid, signal.SIGSTOP)
            try:
                runs[f"one district frozen (SIGSTOP of {frozen}), usual losses"] = burst(
                    county, n, deadline, frozen, first=FROZEN
                )
            finally:
                os.kill(county.processes[frozen].pid, signal.SIGCONT)
        finally:
            county.stop()
    speed = reference_loop_ms()
    write_results("load.md", report(n, scale, deadline, reps, runs, ratio, speed))
    figures = {"runs": runs, "twelve_node": ratio, "cores": CORES, "reference_loop_ms": speed}
    (RESULTS / "load.json").write_text(json.dumps(figures, indent=2))
    print((RESULTS / "load.md").read_text())  # noqa: T201


# The same benchmark just before the throughput work (commit 5ba2c5b, same 2 shared cores, other engineers' work
# running), shown beside each new run: (p50 s, p99 s, queries/s, coordinator CPU ms, 12 nodes' CPU ms per query).
BEFORE = {
    "healthy, usual losses": (32.81, 42.58, 4.6, 32.1, 111.2),
    "healthy, every loss new": (58.54, 65.98, 3.0, 40.5, 294.9),
}
BEFORE_ONE_AT_A_TIME = (247.1, 29.4)  # wall ms, floor ms


HEADER = (
    "| run | p50 s | p99 s | max s | queries/s | district errors (other than the frozen one) | replayed answers "
    "| coordinator CPU ms per query | 12 nodes' CPU ms per query | analysts' client CPU ms per query "
    "| queries/s the county's CPU allows "
    "| machine CPU: county / other work | wall per query ÷ floor |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def report(
    n: int,
    scale: float,
    deadline: float,
    reps: int,
    runs: dict[str, dict[str, float]],
    ratio: dict[str, float],
    speed: float,
) -> str:
    """load.md: the runs' table and the 12-node ratio."""
    floor = ratio["floor"]
    healthy = runs["healthy, usual losses"]
    under_load = healthy["wall"] / n / floor
    # The same ratio with the floor read from the node processes themselves (their gRPC, TLS, ledger and
    # receipts as well as the answer): how close the county runs to what the nodes' own work allows.
    process_floor = healthy["nodes_cpu_ms"] / 1e3 / CORES  # the table's "12 nodes' CPU ms per query" over the cores
    before = "\n".join(f"| {name} | " + " | ".join(f"{v:g}" for v in row) + " |" for name, row in BEFORE.items())
    rows = "\n".join(
        f"| {name} | {r['p50']:.2f} | {r['p99']:.2f} | {r['max']:.2f} | {r['throughput']:.1f} | {int(r['errors'])} "
        f"| {int(r['replays'])} "
        f"| {r['coordinator_cpu_ms']:.1f} | {r['nodes_cpu_ms']:.1f} | {r['client_cpu_ms']:.1f} "
        f"| {CORES * 1e3 / (r['coordinator_cpu_ms'] + r['nodes_cpu_ms']):.1f} "
        f"| {r['county_share']:.0%} / {r['others_share']:.0%} | {r['wall'] / n / floor:.2f} |"
        for name, r in runs.items()
    )
    return f"""# Load: {n} concurrent county queries

Command: `python -m bench.load` ({n} county queries sent at once from {len(ANALYSTS)} analysts; 12 node processes,
6 dialled by the coordinator and 6 dialling out to it, and a coordinator process, all on this machine over mutual
TLS on loopback; synthetic scale {scale}; per-node deadline {deadline:g} s; every query charged, released through
OpenDP, audited and stored; os.cpu_count() = {CORES}; this machine runs the reference loop,
`bench.common.reference_loop_ms`, in {speed:.0f} ms: absolute times scale with it, the ratios do not). Every query
is a question of its own (a distinct earnings bound, keeping nearly every household): an identical question would
be answered from the nodes' stores at no charge, and the "replayed answers" column shows none was. "Usual losses":
analysts ask with epsilon {", ".join(f"{e:g}" for e in USUAL_EPSILONS)} in turn; "every loss new": no two queries
share a loss, so every node plans every query afresh (the worst case).

{HEADER}
{rows}

## 12-node ratio (issue 13)

A county query's wall time ÷ (node CPU per query ÷ cores). The node CPU is the twelve districts' `NodeEngine.answer`
on the same question and data, in this process, interleaved with {reps} county queries sent one at a time:
median {ratio["node_cpu"] * 1e3:.1f} ms for the twelve, so the floor on {CORES} cores is {floor * 1e3:.1f} ms.

| measure | value |
|---|---|
| one county query at a time: wall (median) | {ratio["wall"] * 1e3:.1f} ms |
| ratio, one at a time (target ≤ 1.3) | {ratio["wall"] / floor:.2f} |
| ratio under the burst of {n}, usual losses (wall ÷ n ÷ floor) | {under_load:.2f} |
| ratio under the burst, floor from the 12 node processes' own CPU | {healthy["wall"] / n / process_floor:.2f} |

Before the throughput work (same benchmark, commit 5ba2c5b, same shared machine):

| run | p50 s | p99 s | queries/s | coordinator CPU ms per query | 12 nodes' CPU ms per query |
|---|---|---|---|---|---|
{before}

and one query at a time {BEFORE_ONE_AT_A_TIME[0]:.1f} ms against a floor of {BEFORE_ONE_AT_A_TIME[1]:.1f} ms
(ratio {BEFORE_ONE_AT_A_TIME[0] / BEFORE_ONE_AT_A_TIME[1]:.2f}).

The last column of the first table is the same ratio for each burst. CPU columns are read from /proc for each
process over the burst (so they include gRPC, TLS, the ledger and receipts, not just the answer); "queries/s the
county's CPU allows" is the cores divided by that CPU per county query, the throughput if nothing else ran.
Other work on this machine during the run (its share of the machine's CPU is shown) inflates wall times and
the ratios, but not the CPU columns.
"""


if __name__ == "__main__":
    main()
