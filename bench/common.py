"""What the benchmarks share: a county of node engines over synthetic data, and writing a results file."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from node.engine import NodeEngine
from node.loader import load_district
from node.synth import write_county
from privacy.audit import AuditSigner
from privacy.ledger import PrivacyStore
from privacy.policy import Policy
from protos.lsi.v1 import query_pb2
from protos.serde import filter_to_wire
from reference.geography import ENV_VAR, districts, use_pack
from reference.pack_generate import generate_pack

RESULTS = Path(__file__).parent / "results"
# The peer's interpreter (SmartNoise SQL in its own environment, `make bench-peer`); benches skip it when absent.
PEER_PYTHON = Path(__file__).resolve().parent.parent / ".venv-peer" / "bin" / "python"
# Handshake and GOAWAY chatter from gRPC's core is noise in a benchmark's output.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def distinct_filter(i: int) -> query_pb2.Filter:
    """A filter that makes question i differ from every other: weekly earnings up to £4,000 plus i pence.

    A node answers an identical question (same filters, loss and data) from the stored release, at no charge and
    without drawing noise, whatever its query id; a benchmark of answers must ask distinct questions, and this one
    keeps nearly every household and the same noise plan."""
    return filter_to_wire("earnings_weekly", "le", 4000.0 + i / 100)


def bench_policy(code: str, *, total_rho: float = 1e9, per_query_rho: float = 1e3) -> Policy:
    """A policy no benchmark run can exhaust, with no minimum cell: benchmarks measure, they do not govern."""
    return Policy(
        district_code=code,
        period_start="2000-04-01",
        period_end="2099-03-31",
        total_rho=total_rho,
        month_lifetime_rho=total_rho,
        per_query_rho=per_query_rho,
        delta=1e-7,
        min_published_cell=0,
        analyst_caps={},
    )


def generated_county(root: Path, n_districts: int, wards_each: int = 4) -> Path:
    """Make and activate a generated pack of `n_districts` (e.g. 300 for a 300-node registry), here and in children."""
    pack = generate_pack(root / "pack", [wards_each] * n_districts, name=f"Bench{n_districts}")
    use_pack(pack)
    os.environ[ENV_VAR] = str(pack.resolve())  # node and coordinator processes the benchmark starts read it too
    return pack


def county_engines(
    root: Path, *, seed: int, scale: float, months: int, end_month: str, only_month: str | None = None
) -> dict[str, NodeEngine]:
    """A node engine per district over synthetic data (optionally one month only), each with a throwaway store.

    The budget is effectively unlimited: benchmarks draw many releases to measure error, not to spend."""
    write_county(root / "data", seed=seed, scale=scale, months=months, end_month=end_month)
    out = {}
    for d in districts():
        folder = root / "data" / d.code
        if only_month is not None:
            for f in folder.iterdir():
                if not f.name.startswith(only_month):
                    f.unlink()
        policy = bench_policy(d.code, total_rho=1e6)
        store = PrivacyStore(root / f"{d.code}.sqlite", policy, AuditSigner.generate())
        out[d.code] = NodeEngine(d.code, load_district(folder, d.code), store)
    return out


def reference_loop_ms() -> float:
    """Milliseconds this machine takes for a fixed pure-Python loop (median of 5), printed beside absolute figures.

    The issues' absolute targets (a p99 in seconds) were set on one 2-core machine; machines differ by 2-3x in this
    loop, and so, in proportion, in every timing here. The ratios each benchmark reports do not depend on it."""
    times = []
    for _ in range(5):
        start = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        times.append(time.perf_counter() - start)
    return sorted(times)[2] * 1e3


def write_results(name: str, text: str) -> None:
    """Write a benchmark's figures to bench/results/NAME and echo them."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(text)
    sys.stdout.write(text)
