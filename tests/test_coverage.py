"""Specifications for coverage, the quorum, possible values and exit codes (all post-processing, no servers)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.coverage import coverage_of
from analysis.possible import possible_values
from cli.errors import INVALID_INPUT, REFUSED, UNREACHABLE, exit_code_for
from common.config import ConfigError, read_toml, write_toml
from coordinator.config import NodeEntry, Quorum, load_coordinator_config
from coordinator.coverage import coverage, latest_quorate_month, short_reason, withhold_below_quorum
from coordinator.fanout import NodeReply
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import districts

CODES = [d.code for d in districts()[:3]]
NAMES = {d.code: d.name for d in districts()}


def entry(code: str) -> NodeEntry:
    return NodeEntry(code, "127.0.0.1:1", f"node-{code}")


def cell(code: str, month: str, level=query_pb2.Cell.DISTRICT, value: float = 10.0) -> query_pb2.Cell:
    return query_pb2.Cell(
        level=level, district_code=code, keys=[query_pb2.GroupKey(column="month", value=month)], value=value
    )


def answered(code: str, *months: str) -> NodeReply:
    return NodeReply(entry(code), query_pb2.Release(district_code=code, cells=[cell(code, m) for m in months]))


def down(code: str) -> NodeReply:
    return NodeReply(entry(code), None, code="UNAVAILABLE", error="unreachable at 127.0.0.1:1")


def test_a_district_down_is_missing_as_unreachable_and_the_answer_is_not_complete() -> None:
    cover = coverage(["2025-10"], CODES, [answered(CODES[0], "2025-10"), down(CODES[1])], Quorum())
    label = coverage_of(coordinator_pb2.FederatedResult(coverage=cover)).label("2025-10")
    assert (
        label == f"Kent, 1 of 3 districts; {NAMES[CODES[1]]} missing: unreachable; {NAMES[CODES[2]]} missing: not asked"
    )
    assert not cover.complete


def test_complete_only_when_every_registered_district_answered_every_month() -> None:
    replies = [answered(c, "2025-09", "2025-10") for c in CODES]
    assert coverage(["2025-09", "2025-10"], CODES, replies, Quorum()).complete
    short = [*replies[:2], answered(CODES[2], "2025-10")]
    cover = coverage(["2025-09", "2025-10"], CODES, short, Quorum())
    assert not cover.complete
    assert [m.reason for m in cover.months[0].missing] == ["no release for 2025-09"]


def test_the_label_says_all_when_every_district_contributed() -> None:
    cover = coverage(["2025-10"], CODES, [answered(c, "2025-10") for c in CODES], Quorum())
    assert (
        coverage_of(coordinator_pb2.FederatedResult(coverage=cover)).label("2025-10") == "Kent, 3 of 3 districts (all)"
    )


def test_below_the_quorum_county_cells_of_that_month_are_withheld_and_district_cells_kept() -> None:
    cover = coverage(["2025-10"], CODES, [answered(CODES[0], "2025-10"), down(CODES[1]), down(CODES[2])], Quorum(2))
    cells = [cell(CODES[0], "2025-10"), cell("", "2025-10", query_pb2.Cell.COUNTY)]
    kept = withhold_below_quorum(cells, cover)
    assert [c.level for c in kept] == [query_pb2.Cell.DISTRICT]
    assert "withheld" in cover.months[0].withheld and NAMES[CODES[1]] in cover.months[0].withheld


def test_a_dwelling_share_quorum_counts_public_denominators_not_districts() -> None:
    biggest = max(CODES, key=lambda c: next(d.dwellings for d in districts() if d.code == c))
    share = next(d.dwellings for d in districts() if d.code == biggest) / sum(
        d.dwellings for d in districts() if d.code in CODES
    )
    replies = [answered(biggest, "2025-10")]
    assert coverage(["2025-10"], CODES, replies, Quorum(1, share)).months[0].quorate
    assert not coverage(["2025-10"], CODES, replies, Quorum(1, share + 0.01)).months[0].quorate


def test_latest_is_the_latest_month_held_by_enough_districts() -> None:
    held = {CODES[0]: ["2025-09", "2025-10"], CODES[1]: ["2025-09", "2025-10"], CODES[2]: ["2025-09"]}
    assert latest_quorate_month(held, CODES, Quorum(3)) == "2025-09"
    assert latest_quorate_month(held, CODES, Quorum(2)) == "2025-10"
    assert latest_quorate_month({CODES[0]: ["2025-10"]}, CODES, Quorum(2)) is None


@pytest.mark.parametrize(
    ("code", "error", "reason"),
    [
        ("UNAVAILABLE", "", "unreachable"),
        ("DEADLINE_EXCEEDED", "no answer within 5 s", "unreachable"),
        ("RESOURCE_EXHAUSTED", "over budget", "refused: budget"),
        ("PERMISSION_DENIED", "", "refused: permission"),
        (
            "INVALID_ARGUMENT",
            "months[0]: no snapshot for 2025-10; this node holds 2025-08 to 2025-09",
            "no snapshot for 2025-10",
        ),
    ],
)
def test_a_missing_districts_reason_is_short_and_says_why(code: str, error: str, reason: str) -> None:
    assert short_reason(code, error) == reason


def write_coordinator(tmp_path: Path, **keys: object) -> Path:
    path = tmp_path / "coordinator.toml"
    nodes = [{"district_code": c, "address": "127.0.0.1:1", "certificate_name": f"n{c}"} for c in CODES]
    write_toml(path, {"coordinator": {"listen": "127.0.0.1:0", **keys}, "nodes": nodes})
    return path


def test_the_quorum_is_read_from_the_coordinators_config(tmp_path: Path) -> None:
    config = load_coordinator_config(write_coordinator(tmp_path, quorum_districts=2, quorum_dwelling_share=0.5))
    assert config.quorum == Quorum(2, 0.5)
    assert read_toml(tmp_path / "coordinator.toml")["coordinator"]["quorum_districts"] == 2


@pytest.mark.parametrize(
    ("key", "value"), [("quorum_districts", 4), ("quorum_districts", 0), ("quorum_dwelling_share", 1.5)]
)
def test_an_impossible_quorum_is_refused_naming_the_key(tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        load_coordinator_config(write_coordinator(tmp_path, **{key: value}))


@given(st.floats(-1e6, 1e6), st.floats(0, 1e5))
def test_counts_are_shown_at_or_above_zero_with_the_raw_value_kept(value: float, half: float) -> None:
    c = query_pb2.Cell(level=query_pb2.Cell.DISTRICT, value=value, ci_low=value - half, ci_high=value + half)
    result = coordinator_pb2.FederatedResult(
        query=query_pb2.Query(measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT)), cells=[c]
    )
    (shown,) = possible_values(result).cells
    assert shown.value >= 0 and shown.ci_low >= 0 and shown.ci_high >= shown.value
    assert shown.HasField("raw_value") == (value < 0)
    if value < 0:
        assert shown.raw_value == value


def test_a_mean_that_may_be_negative_is_not_clamped() -> None:
    measure = query_pb2.Measure(kind=query_pb2.Measure.MEAN, lower=-1500, upper=1500)
    c = query_pb2.Cell(value=-20.0, ci_low=-40.0, ci_high=0.0)
    result = coordinator_pb2.FederatedResult(query=query_pb2.Query(measure=measure), cells=[c])
    assert possible_values(result).cells[0].value == -20.0


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, INVALID_INPUT),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, REFUSED),
        (grpc.StatusCode.PERMISSION_DENIED, REFUSED),
        (grpc.StatusCode.UNAVAILABLE, UNREACHABLE),
    ],
)
def test_failed_calls_exit_with_the_documented_code(status: grpc.StatusCode, code: int) -> None:
    assert exit_code_for(status) == code
