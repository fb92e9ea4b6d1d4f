"""A 300-district county (a generated pack): the coordinator's registry and coverage follow the pack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.config import CoordinatorConfig, NodeEntry, Quorum, load_coordinator_config, write_coordinator_config
from coordinator.coverage import outcome_coverage
from protos.lsi.v1 import coordinator_pb2
from reference.geography import ENV_VAR, Geography, use_pack
from reference.pack_generate import generate_pack


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Geography]:
    """A generated 300-district pack, active for this module only."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ENV_VAR, raising=False)
        geo = use_pack(generate_pack(tmp_path_factory.mktemp("big"), [3] * 300, name="Bigshire"))
        try:
            yield geo
        finally:
            use_pack(None)


def test_a_300_node_registry_from_the_pack_reads_back(big: Geography, tmp_path: Path) -> None:
    nodes = tuple(NodeEntry(d.code, f"127.0.0.1:{20000 + i}", f"node-{i}") for i, d in enumerate(big.districts))
    config = CoordinatorConfig("127.0.0.1:1", tmp_path / "c.sqlite", 15.0, nodes, None, geography=big.root)
    write_coordinator_config(config, tmp_path / "coordinator.toml")
    again = load_coordinator_config(tmp_path / "coordinator.toml")
    assert again.nodes == nodes and again.geography == big.root


def test_coverage_of_300_districts_names_the_missing_one_and_weighs_by_pack_dwellings(big: Geography) -> None:
    codes = [d.code for d in big.districts]
    outcomes = [coordinator_pb2.DistrictOutcome(district_code=c, answered=True) for c in codes[1:]]
    outcomes.append(coordinator_pb2.DistrictOutcome(district_code=codes[0], error_code="UNAVAILABLE", error="down"))
    cover = outcome_coverage(["2025-10"], codes, outcomes, Quorum(districts=299, dwelling_share=0.99))
    (month,) = cover.months
    share = 1 - big.districts[0].dwellings / sum(d.dwellings for d in big.districts)
    assert cover.area == "Bigshire" and cover.registered == 300
    assert [m.district_name for m in month.missing] == ["Bigshire District 1"]
    assert month.dwelling_share == pytest.approx(share) and month.quorate
