"""Configuration files are written from the config dataclasses (tomli-w), and read back as the same config."""

from __future__ import annotations

import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.demo import demo_policy
from cli.local_county import LocalCounty
from common.limits import MAX_DEADLINE_SECONDS
from coordinator.config import CoordinatorConfig, NodeEntry, load_coordinator_config, write_coordinator_config
from node.config import NodeConfig, load_node_config, write_node_config
from reference.geography import districts
from security.tls import TlsFiles

# Text a council officer might put in a file, quotes, backslashes and non-ASCII included.
texts = st.text(alphabet=string.ascii_letters + string.digits + " -_.:'\"\\£é", min_size=1, max_size=12)
names = st.text(alphabet=string.ascii_letters + string.digits + "-_. ", min_size=1, max_size=10).filter(
    lambda s: s.strip(". ") == s and s not in {"", ".", ".."}
)


def paths(base: Path) -> st.SearchStrategy[Path]:
    """Paths inside the file's folder (written relative) or elsewhere (written absolute)."""
    return st.one_of(
        st.lists(names, min_size=1, max_size=3).map(lambda parts: base.joinpath(*parts)),
        st.lists(names, min_size=1, max_size=3).map(lambda parts: Path("/srv", *parts)),
    )


def tls_files(base: Path) -> st.SearchStrategy[TlsFiles | None]:
    return st.one_of(
        st.none(),
        st.builds(TlsFiles, ca=paths(base), cert=paths(base), key=paths(base), crl=st.one_of(st.none(), paths(base))),
    )


BASE = Path("/etc/lsi/node-a")


@given(
    config=st.builds(
        NodeConfig,
        district_code=texts,
        listen=texts,
        data_dir=paths(BASE),
        state_db=paths(BASE),
        policy=paths(BASE),
        audit_key=paths(BASE),
        tls=tls_files(BASE),
        strict_data=st.booleans(),
    )
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_node_config_written_then_loaded_is_the_same_config(tmp_path: Path, config: NodeConfig) -> None:
    path = tmp_path / "node.toml"
    moved = _rebase(config, BASE, tmp_path)
    write_node_config(moved, path)
    assert load_node_config(path) == moved


@given(
    listen=texts,
    deadline=st.floats(0.1, MAX_DEADLINE_SECONDS),
    state_db=paths(BASE),
    tls=tls_files(BASE),
    nodes=st.lists(
        st.builds(NodeEntry, texts, texts, texts), min_size=1, max_size=4, unique_by=lambda n: n.district_code
    ),
    dropouts=st.integers(0, 11),
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_coordinator_config_written_then_loaded_is_the_same_config(
    tmp_path: Path,
    listen: str,
    deadline: float,
    state_db: Path,
    tls: TlsFiles | None,
    nodes: list[NodeEntry],
    dropouts: int,
) -> None:
    config = CoordinatorConfig(
        listen=listen,
        state_db=_move(state_db, BASE, tmp_path),
        deadline_seconds=deadline,
        nodes=tuple(nodes),
        tls=_move_tls(tls, BASE, tmp_path),
        secure_dropouts=dropouts,
    )
    path = tmp_path / "coordinator.toml"
    write_coordinator_config(config, path)
    assert load_coordinator_config(path) == config


def test_paths_inside_the_files_folder_are_written_relative_to_it(tmp_path: Path) -> None:
    config = NodeConfig(
        "E07000105",
        "127.0.0.1:1",
        tmp_path / "data",
        tmp_path / "state.sqlite",
        tmp_path / "policy.toml",
        tmp_path / "keys" / "audit.pem",
        tls=None,
    )
    write_node_config(config, tmp_path / "node.toml")
    text = (tmp_path / "node.toml").read_text()
    assert 'state_db = "state.sqlite"' in text
    assert str(tmp_path) not in text


def test_the_local_county_writes_configs_its_servers_load(tmp_path: Path) -> None:
    county = LocalCounty(tmp_path)
    county.write_configs(demo_policy)
    coordinator = load_coordinator_config(tmp_path / "coordinator.toml")
    assert coordinator.listen == county.coordinator_address
    assert [n.district_code for n in coordinator.nodes] == [d.code for d in districts()]
    for d in districts():
        node = load_node_config(tmp_path / "nodes" / d.code / "node.toml")
        assert (node.district_code, node.listen, node.data_dir) == (
            d.code,
            county.node_address(d.code),
            county.data_dir / d.code,
        )
        assert node.policy.exists()


def _move(path: Path, old: Path, new: Path) -> Path:
    return new / path.relative_to(old) if path.is_relative_to(old) else path


def _move_tls(tls: TlsFiles | None, old: Path, new: Path) -> TlsFiles | None:
    if tls is None:
        return None
    return TlsFiles(
        _move(tls.ca, old, new),
        _move(tls.cert, old, new),
        _move(tls.key, old, new),
        _move(tls.crl, old, new) if tls.crl is not None else None,
    )


def _rebase(config: NodeConfig, old: Path, new: Path) -> NodeConfig:
    return NodeConfig(
        config.district_code,
        config.listen,
        _move(config.data_dir, old, new),
        _move(config.state_db, old, new),
        _move(config.policy, old, new),
        _move(config.audit_key, old, new),
        _move_tls(config.tls, old, new),
        config.strict_data,
    )
