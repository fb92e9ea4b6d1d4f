"""The coordinator's registry is not tied to Kent's 12 district codes: any code registers, named as given."""

from __future__ import annotations

from pathlib import Path

from coordinator.config import CoordinatorConfig, NodeEntry, load_coordinator_config, write_coordinator_config
from coordinator.fanout import NodePool
from coordinator.server import _name


def synthetic(n: int) -> tuple[NodeEntry, ...]:
    return tuple(NodeEntry(f"X{i:08d}", f"127.0.0.1:{20000 + i}", f"node-{i}") for i in range(n))


def test_three_hundred_synthetic_districts_register_through_the_config(tmp_path: Path) -> None:
    config = CoordinatorConfig("127.0.0.1:0", tmp_path / "c.sqlite", 5.0, synthetic(300), tls=None)
    write_coordinator_config(config, tmp_path / "coordinator.toml")
    assert len(load_coordinator_config(tmp_path / "coordinator.toml").nodes) == 300


def test_a_code_outside_the_reference_geography_is_named_as_given() -> None:
    assert _name("X00000007") == "X00000007"


def test_the_fan_out_keeps_a_link_per_synthetic_district() -> None:
    nodes = synthetic(300)
    pool = NodePool(nodes, None)
    try:
        assert set(pool.links) == {n.district_code for n in nodes}
    finally:
        pool.close()
