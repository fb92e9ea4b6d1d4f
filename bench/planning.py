"""What a loss the node has not planned for before costs: planning alone, and a whole answer.

Analysts mostly ask at a few usual losses, whose plans a node keeps; the index refresh's least-variance split and
any new epsilon are planned afresh, through OpenDP's maps. This measures, in this process, interleaved:

- `plan_release` at a new loss (Laplace by epsilon, Gaussian by rho) and at a loss already planned (the floor);
- `NodeEngine.answer` for a district at a new loss and at the usual ones, every question distinct (so none is a
  replay), each charged, drawn and stored.

Runs against whatever code is importable, so the same script measures an older checkout (PYTHONPATH at it).
Writes bench/results/planning.md and .json. `python -m bench.planning` (about 30 s).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import RESULTS, county_engines, reference_loop_ms, write_results
from bench.load import question, usual_loss
from node.engine import Caller
from privacy.accountant import plan_release
from privacy.mechanisms import Mechanism
from privacy.sensitivity import Sensitivity
from reference.geography import districts

UNIT = Sensitivity(l1=1, l2=1.0)
DELTA = 1e-7
ROUNDS = 5


def fresh_loss(j: int) -> float:
    """Loss j of a series no two of which are equal (and none a usual loss)."""
    return 0.1 + (j + 1) * 1e-7


def cpu_ms_per_call(calls: int, call: Callable[[int], object], first: int) -> float:
    """CPU milliseconds per call of call(first), call(first + 1), ..."""
    start = time.process_time()
    for j in range(first, first + calls):
        call(j)
    return (time.process_time() - start) / calls * 1e3


def by_epsilon(j: int) -> object:
    return plan_release(Mechanism.DISCRETE_LAPLACE, UNIT, epsilon=fresh_loss(j), delta=DELTA)


def by_rho(j: int) -> object:
    return plan_release(Mechanism.DISCRETE_GAUSSIAN, UNIT, rho=fresh_loss(j), delta=DELTA)


def known(j: int) -> object:
    return plan_release(Mechanism.DISCRETE_LAPLACE, UNIT, epsilon=usual_loss(j), delta=DELTA)


def main() -> None:
    figures: dict[str, list[float]] = {
        k: [] for k in ("plan_epsilon", "plan_rho", "known", "answer_new", "answer_usual")
    }
    with tempfile.TemporaryDirectory() as tmp:
        code = districts()[0].code
        engine = county_engines(Path(tmp), seed=7, scale=0.05, months=1, end_month="2025-10")[code]
        caller = Caller("county-coordinator", "coordinator")
        for i in range(20):
            engine.answer(question(i, 0.5), caller)  # warm: frames, caches, the ledger's first pages
        for r in range(ROUNDS):
            base = 1_000_000 * (r + 1)  # every round's losses and questions are new
            figures["plan_epsilon"].append(cpu_ms_per_call(200, by_epsilon, base))
            figures["known"].append(cpu_ms_per_call(200, known, base))
            figures["plan_rho"].append(cpu_ms_per_call(20, by_rho, base))
            q = 1000 + r * 400  # distinct earnings bounds below £5,000 (bench.common.distinct_filter)
            new_losses = base + 500_000  # none planned by the series above

            def ask_new(i: int, first: int = new_losses) -> object:
                return engine.answer(question(i, fresh_loss(first + i)), caller)

            figures["answer_new"].append(cpu_ms_per_call(100, ask_new, q))
            figures["answer_usual"].append(
                cpu_ms_per_call(100, lambda i: engine.answer(question(i, usual_loss(i)), caller), q + 200)
            )
    medians = {k: statistics.median(v) for k, v in figures.items()}
    speed = reference_loop_ms()
    (RESULTS / "planning.json").write_text(
        json.dumps({"rounds": figures, "median_ms": medians, "reference_loop_ms": speed}, indent=2)
    )
    write_results("planning.md", report(medians, speed, code))


def report(m: dict[str, float], speed: float, code: str) -> str:
    """planning.md: the medians over the rounds."""
    return f"""# Planning a new loss

Command: `python -m bench.planning` (CPU per call, this process, {ROUNDS} interleaved rounds, medians; this machine
runs `bench.common.reference_loop_ms` in {speed:.0f} ms). A node answering {code} (synthetic scale 0.05): every
question distinct, so each answer is planned, charged, drawn and stored.

| work | CPU ms per call |
|---|---|
| plan a Laplace release at a new epsilon | {m["plan_epsilon"]:.3f} |
| plan a Gaussian release at a new rho (most of it: OpenDP's conversion to the charge's epsilon) | {m["plan_rho"]:.3f} |
| plan at a loss already planned (kept) | {m["known"]:.4f} |
| node answer at a new loss | {m["answer_new"]:.2f} |
| node answer at the usual losses | {m["answer_usual"]:.2f} |
| new ÷ usual | {m["answer_new"] / m["answer_usual"]:.2f} |
"""


if __name__ == "__main__":
    main()
