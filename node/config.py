"""A node's configuration file (TOML), read once at start-up; relative paths are relative to the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.config import ConfigError, read_toml, tls_section
from security.tls import TlsFiles

DEFAULT_COORDINATOR_NAME = "county-coordinator"


@dataclass(frozen=True)
class NodeConfig:
    """A node's settings, paths already resolved against the configuration file's folder."""

    district_code: str
    listen: str
    data_dir: Path
    state_db: Path
    policy: Path
    audit_key: Path
    tls: TlsFiles | None
    strict_data: bool = True
    # Outbound mode (a firewall refusing inbound connections): the node dials the coordinator at this address and
    # answers its calls over the stream; `listen` then serves only the district's IG officers.
    coordinator: str | None = None
    coordinator_name: str = DEFAULT_COORDINATOR_NAME


def load_node_config(path: Path) -> NodeConfig:
    """Read a node's TOML configuration, naming the file and key on any problem."""
    raw = read_toml(path)
    base = path.parent
    node = _section(raw, "node", path)
    tls = raw.get("tls")
    return NodeConfig(
        district_code=_text(node, "district_code", path),
        listen=_text(node, "listen", path),
        data_dir=base / _text(node, "data_dir", path),
        state_db=base / _text(node, "state_db", path),
        policy=base / _text(node, "policy", path),
        audit_key=base / _text(node, "audit_key", path),
        strict_data=bool(node.get("strict_data", True)),
        coordinator=_optional_text(node, "coordinator", path),
        coordinator_name=_optional_text(node, "coordinator_name", path) or DEFAULT_COORDINATOR_NAME,
        tls=tls_section(tls, base, path) if tls is not None else None,
    )


def _section(raw: dict, name: str, path: Path) -> dict:
    if not isinstance(raw.get(name), dict):
        raise ConfigError(f"{path}: missing [{name}] section")
    return raw[name]


def _text(section: dict, key: str, path: Path, where: str = "node") -> str:
    value = section.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: [{where}] {key} is required and must be text")
    return value


def _optional_text(section: dict, key: str, path: Path) -> str | None:
    if key not in section:
        return None
    return _text(section, key, path)
