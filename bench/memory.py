"""A national-size node's memory: 1M households x 13 months on DuckDB, months never all in memory.

The synthetic district is generated once and cached on disk (a temporary folder, reused by later runs): one
month of synthetic households at the size asked, and for each of the 13 months a different random 99% of it in
a shuffled order (so every month is its own file, digest and version). A fresh process then starts a node over
it exactly as `lsi node serve` does (each file loaded, validated, derived and written to its Parquet working copy
in turn), answers the standard queries through the whole privacy path, and reports its own peak RSS.

Writes bench/results/memory.json and memory.md. `python -m bench.memory [--households N] [--months M]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS, bench_policy, write_results
from reference.geography import districts

CODE = districts()[0].code  # the built-in pack's first district
END_MONTH = "2025-10"
TARGET_RSS = 1024**3  # the 1 GiB for 1M households x 13 months
TARGET_BYTES = 100.0  # per household-month held


def cache_dir(households: int, months: int) -> Path:
    """Where the synthetic district of this size and this file schema is kept between runs.

    The schema's column names are part of the name, so a column added since a run is never met by an old cache."""
    from node.schema import SCHEMA

    schema = hashlib.sha256(",".join(SCHEMA).encode()).hexdigest()[:8]
    return Path(tempfile.gettempdir()) / "lsi-bench-memory" / f"{CODE}-{households}x{months}-{schema}"


def synthetic_district(households: int, months: int, seed: int = 13) -> Path:
    """The cached folder of monthly Parquet snapshots, generated on first use."""
    from node.synth import _months, generate_district

    folder = cache_dir(households, months)
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    sample = len(generate_district(CODE, scale=1.0, months=1, end_month=END_MONTH)[END_MONTH])
    scale = households / sample
    base = generate_district(CODE, seed=seed, scale=scale, months=1, end_month=END_MONTH)[END_MONTH]
    rng = np.random.default_rng(seed)
    for month in _months(END_MONTH, months):
        keep = np.sort(rng.permutation(len(base))[: int(len(base) * 0.99)])
        base.iloc[rng.permutation(keep)].to_parquet(folder / f"{month}.parquet", index=False)
    done.write_text(f"{len(base)} households\n")
    return folder


def serve(folder: Path, state: Path, engine: str, months_in_memory: int) -> dict[str, object]:
    """In this (fresh) process: start a node over the folder, answer the standard queries, report memory."""
    import pyarrow.parquet as pq

    from analysis.queries import build_query
    from node.compact import compact
    from node.engine import Caller, NodeEngine
    from node.loader import district_snapshots
    from privacy.audit import AuditSigner
    from privacy.ledger import PrivacyStore
    from protos.serde import filter_to_wire, measure_to_wire

    def peak() -> int:
        # VmHWM is this process image's own high-water mark: ru_maxrss would carry over the parent's, from
        # before the exec (a parent that has just generated the data would be counted as the node's peak).
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux

    def now() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()

    baseline = peak()
    policy = bench_policy(CODE, total_rho=1e6)
    store = PrivacyStore(state / "node.sqlite", policy, AuditSigner.generate())
    start = time.perf_counter()
    node = NodeEngine(CODE, district_snapshots(folder, CODE), store, engine=engine, months_in_memory=months_in_memory)
    started = time.perf_counter() - start
    after_start, resident_after_start = peak(), now()
    months = node.months
    standard = {
        "count by ward, every month": build_query(
            measure_to_wire("count"), group_by=["ward_code"], months=months, query_id="ward", rho=0.1
        ),
        "sum of earnings by UC, not council tenants, last month": build_query(
            measure_to_wire("sum", "earnings_weekly", 0, 1000),
            filters=[filter_to_wire("tenure", "ne", "council")],
            group_by=["on_uc"],
            months=months[-1:],
            query_id="earnings",
            rho=0.1,
        ),
        "mean HB award by tenure, pension age, every month": build_query(
            measure_to_wire("mean", "hb_award_weekly", 0, 400),
            filters=[filter_to_wire("pension_age", "eq", True)],
            group_by=["tenure"],
            months=months,
            query_id="hb",
            rho=0.1,
        ),
        "count by resilience and ward, last three months": build_query(
            measure_to_wire("count"),
            group_by=["resilience", "ward_code"],
            months=months[-3:],
            query_id="resilience",
            rho=0.1,
        ),
    }
    answers = {}
    for name, query in standard.items():
        begin = time.perf_counter()
        release = node.answer(query, Caller("bench", "analyst"))
        answers[name] = {"ms": (time.perf_counter() - begin) * 1000, "cells": len(release.cells)}
    resident_after_queries = now()
    served_peak = peak()
    paths = getattr(node.executor, "paths", {})
    households = {m: pq.read_metadata(paths[m]).num_rows for m in months}  # the working copies' row counts
    # What a pandas node holds per month (DuckDB's Parquet keeps no dictionary of amounts): measured after the peak.
    one = compact(node.frames[months[-1]])
    held = int(one.memory_usage(deep=True).sum())
    return {
        "engine": engine,
        "months_in_memory": months_in_memory,
        "months": len(months),
        "households_last_month": households[months[-1]],
        "household_months": sum(households.values()),
        "start_seconds": started,
        "rss_baseline_bytes": baseline,
        "rss_peak_after_start_bytes": after_start,
        "rss_peak_bytes": served_peak,
        "rss_after_start_bytes": resident_after_start,
        "rss_after_queries_bytes": resident_after_queries,
        "compact_bytes_per_household_month": held / len(one),
        "answers": answers,
    }


def main(households: int = 1_000_000, months: int = 13, engine: str = "duckdb", months_in_memory: int = 0) -> dict:
    begin = time.perf_counter()
    folder = synthetic_district(households, months)
    generated = time.perf_counter() - begin
    with tempfile.TemporaryDirectory() as state:
        # A fresh interpreter, so its peak RSS is the node's alone (not the generator's).
        command = [sys.executable, "-m", "bench.memory", "--serve", str(folder), "--state", state]
        command += ["--engine", engine, "--months-in-memory", str(months_in_memory)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    node = json.loads(done.stdout.strip().splitlines()[-1])
    rows = node["household_months"]
    out = {
        **node,
        "rss_bytes_per_household_month": node["rss_peak_bytes"] / rows,
        "target_rss_bytes": TARGET_RSS,
        "target_bytes_per_household_month": TARGET_BYTES,
        "generate_seconds": generated,
        "data": str(folder),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps(out, indent=2) + "\n")
    write_results("memory.md", report(out))
    return out


def report(out: dict) -> str:
    mib = 1024**2
    lines = "\n".join(f"| {name} | {a['cells']} | {a['ms']:.0f} |" for name, a in out["answers"].items())
    ok = "✓" if out["rss_peak_bytes"] <= TARGET_RSS else "✗"
    started, queried = out["rss_after_start_bytes"] / mib, out["rss_after_queries_bytes"] / mib
    return f"""# A national-size node's memory ({out["engine"]}, months held: {out["months_in_memory"]})

Command: `python -m bench.memory` (also run by `make bench`). Synthetic {CODE}, {out["households_last_month"]:,}
households in the last month, {out["months"]} months ({out["household_months"]:,} household-months), Parquet
snapshots cached in `{out["data"]}`. The node runs in its own process, started as `lsi node serve` starts it.

| figure | value | target |
|---|---|---|
| node peak RSS (start-up and the queries below) | {out["rss_peak_bytes"] / mib:.0f} MiB | ≤ 1024 MiB {ok} |
| peak RSS ÷ household-months | {out["rss_bytes_per_household_month"]:.1f} B | |
| one month's frame in memory, compact, ÷ its households | {out["compact_bytes_per_household_month"]:.1f} B | ≤ 100 B |
| node RSS once started / after the queries | {started:.0f} / {queried:.0f} MiB | ≤ 1024 MiB |
| interpreter and libraries before loading | {out["rss_baseline_bytes"] / mib:.0f} MiB | |
| start-up (load, validate, derive, write working copies) | {out["start_seconds"]:.0f} s | |

| standard query (full privacy path, ledger included) | cells | ms |
|---|---|---|
{lines}
"""


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--engine", default="duckdb", choices=["duckdb", "pandas"])
    parser.add_argument("--months-in-memory", type=int, default=0)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        print(json.dumps(serve(args.serve, args.state, args.engine, args.months_in_memory)))
    else:
        main(args.households, args.months, args.engine, args.months_in_memory)
