"""The coordinator's side of a secure county sum (issue 15): relay keys and sealed shares, interpolate the total.

The coordinator is honest-but-curious: it follows the protocol and learns the noisy county total and nothing
else. It cannot open a sealed share (it holds no round key), every node refuses a contributor set smaller than the
threshold, and each node answers round 2 once. Up to n - t districts may drop out at any step; one more aborts
the round cleanly, with nothing to decode. Every call goes through the node links, dialled or outbound alike.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import Message

from coordinator.fanout import NodePool
from privacy import secagg
from protos.lsi.v1 import node_pb2, query_pb2

Z95 = 1.959963984540054
# How the caller's deadline is shared between the round's steps. Setup and share each aggregate the district's
# data (setup plans the query, share draws, charges and seals); the sum only adds field elements, so it needs less.
STEP_WEIGHTS: dict[str, int] = {"SecureSetup": 2, "SecureShare": 2, "SecureSum": 1}


class SecureAbort(RuntimeError):
    """A round that cannot give a total (too few districts at some step); nothing decodable was assembled."""

    def __init__(self, step: str, message: str, missing: dict[str, str]) -> None:
        super().__init__(message)
        self.step = step
        self.missing = missing


@dataclass(frozen=True)
class StepReply:
    """One district's answer to one step: the message, or why there is none."""

    district_code: str
    message: Message | None
    error: str = ""


# Calls one method on each listed district at once: (codes, method, request per code) -> replies in order.
Fanout = Callable[[Sequence[str], str, Callable[[str], Message]], list[StepReply]]


@dataclass
class SecureTotal:
    """A secure county figure: its cells, who contributed, what each district was charged, who dropped and when."""

    round_id: str
    cells: list[query_pb2.Cell]
    contributors: list[str]
    charges: dict[str, query_pb2.Charge]
    dropped: dict[str, str] = field(default_factory=dict)
    share_scale: float = 0.0
    budgets: dict[str, query_pb2.BudgetStatus] = field(default_factory=dict)  # each contributor's, after its charge


def run_round(fanout: Fanout, query: query_pb2.Query, roster: Sequence[str], threshold: int) -> SecureTotal:
    """One secure round over the roster; SecureAbort when fewer than `threshold` districts remain at any step."""
    roster = list(roster)
    round_id = secagg.new_round_id()
    dropped: dict[str, str] = {}

    setup = node_pb2.SecureSetupRequest(round_id=round_id, query=query, roster=roster, threshold=threshold)
    keys = _answered(fanout(roster, "SecureSetup", lambda _code: setup), dropped)
    _enough("setup", keys, threshold, dropped)
    key_list = [keys[c] for c in roster if c in keys]

    share = node_pb2.SecureShareRequest(round_id=round_id, keys=key_list)
    shared = _answered(fanout(list(keys), "SecureShare", lambda _code: share), dropped)
    _enough("share", shared, threshold, dropped)
    layout = _common_layout(shared)
    contributors = [c for c in roster if c in shared]

    def sum_request(code: str) -> Message:
        addressed = [s for c in contributors for s in shared[c].shares if s.receiver == code]
        return node_pb2.SecureSumRequest(round_id=round_id, contributors=contributors, shares=addressed)

    # Every district whose key the contributors sealed to may return a summed share, contributor or not.
    summed = _answered(fanout(list(keys), "SecureSum", sum_request), dropped)
    s_hash = secagg.set_hash(contributors)
    good = {c: m for c, m in summed.items() if m.set_hash == s_hash}
    _enough("sum", good, threshold, dropped)
    totals = reconstruct({roster.index(c) + 1: m.elements for c, m in good.items()}, threshold, len(layout))
    scale = max(shared[c].share_scale for c in contributors)
    variance = len(contributors) * scale**2
    cells = [_county_cell(cell, value, variance, contributors) for cell, value in zip(layout, totals, strict=True)]
    return SecureTotal(
        round_id=round_id,
        cells=cells,
        contributors=contributors,
        charges={c: shared[c].charge for c in contributors},
        dropped=dropped,
        share_scale=scale,
        budgets={c: shared[c].budget for c in contributors if shared[c].HasField("budget")},
    )


def reconstruct(shares: dict[int, bytes], threshold: int, cells: int) -> list[int]:
    """The decoded totals from summed shares: any `threshold` of them, cross-checked with one more if there is one."""
    points = sorted(shares)
    vectors = {x: secagg.unpack(shares[x], cells) for x in points}
    first = secagg.interpolate_at_zero({x: vectors[x] for x in points[:threshold]})
    if len(points) > threshold:
        other = secagg.interpolate_at_zero({x: vectors[x] for x in points[-threshold:]})
        if other != first:
            raise SecureAbort("sum", "the districts' summed shares are inconsistent; no total was decoded", {})
    return [secagg.decode(e) for e in first]


def _answered(replies: list[StepReply], dropped: dict[str, str]) -> dict[str, Message]:
    out = {}
    for r in replies:
        if r.message is None:
            dropped.setdefault(r.district_code, r.error or "no answer")
        else:
            out[r.district_code] = r.message
    return out


def _enough(step: str, got: dict[str, Message], threshold: int, dropped: dict[str, str]) -> None:
    if len(got) < threshold:
        raise SecureAbort(
            step,
            f"the secure round stopped at step {step!r}: {len(got)} districts answered, the round needs "
            f"{threshold}; no county total was decoded",
            dict(dropped),
        )


def _common_layout(shared: dict[str, Message]) -> list[query_pb2.Cell]:
    layouts = {tuple(c.SerializeToString(deterministic=True) for c in m.layout) for m in shared.values()}
    if len(layouts) != 1:
        raise SecureAbort("share", "the districts' cell layouts differ; the query cannot be summed securely", {})
    return list(next(iter(shared.values())).layout)


def _county_cell(layout: query_pb2.Cell, value: int, variance: float, contributors: Sequence[str]) -> query_pb2.Cell:
    half = Z95 * math.sqrt(variance)
    return query_pb2.Cell(
        level=query_pb2.Cell.COUNTY,
        keys=[k for k in layout.keys],
        value=float(value),
        ci_low=value - half,
        ci_high=value + half,
        noise_scale=math.sqrt(variance),
        variance=variance,
    )


def step_seconds(method: str, remaining: float) -> float:
    """This step's share of the seconds left: its weight over the weights of it and the steps after it.

    Time a quick step leaves unused passes to the later ones; no step can take the whole deadline while
    another is still to come."""
    steps = list(STEP_WEIGHTS)
    later = steps[steps.index(method) :]
    return max(0.0, remaining) * STEP_WEIGHTS[method] / sum(STEP_WEIGHTS[s] for s in later)


def pool_fanout(pool: NodePool, deadline: float, clock: Callable[[], float] = time.monotonic) -> Fanout:
    """A Fanout over the coordinator's node pool, so dialled and outbound-only nodes alike take part; the three
    steps share `deadline` (the caller's) between them rather than taking it each."""
    end = clock() + deadline

    def call(codes: Sequence[str], method: str, request: Callable[[str], Message]) -> list[StepReply]:
        replies = pool.call(list(codes), method, request, step_seconds(method, end - clock()))
        return [
            StepReply(r.entry.district_code, r.message, f"{r.code}: {r.error}" if r.message is None else "")
            for r in replies
        ]

    return call
