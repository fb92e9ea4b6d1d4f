"""The 300-node benchmark's county: a generated pack's 300 districts registered, each with its own node certificate."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import generated_county
from cli.local_county import LocalCounty
from coordinator.config import load_coordinator_config
from reference.geography import ENV_VAR, districts, use_pack
from security.pki import read_district
from tests.county import policy_with


def test_the_benchmarks_county_registers_300_nodes_each_named_by_its_districts_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # generated_county sets the variable; setting it first (empty: the built-in pack) has monkeypatch undo that.
    monkeypatch.setenv(ENV_VAR, "")
    try:
        generated_county(tmp_path / "geo", 300, wards_each=3)
        local = LocalCounty(tmp_path / "county")
        local.prepare_pki()
        local.write_configs(policy_with())
        nodes = load_coordinator_config(local.root / "coordinator.toml").nodes
        codes = [d.code for d in districts()]
        certificates = {
            n.district_code: read_district((local.pki_dir / f"{n.certificate_name}.crt").read_bytes()) for n in nodes
        }
    finally:
        use_pack(None)
    assert [n.district_code for n in nodes] == codes and len(set(codes)) == 300
    assert len({n.address for n in nodes}) == 300
    assert certificates == {c: c for c in codes}
    assert all(n.certificate_name == f"node-{n.district_code.lower()}" for n in nodes)
