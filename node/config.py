"""A node's configuration file (TOML), read once at start-up; relative paths are relative to the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.config import ConfigError, check_keys, read_toml, relative_path, tls_dict, tls_section, write_toml
from security.tls import TlsFiles

DEFAULT_COORDINATOR_NAME = "county-coordinator"
NODE_KEYS = (
    "district_code",
    "listen",
    "data_dir",
    "state_db",
    "policy",
    "audit_key",
    "strict_data",
    "coordinator",
    "coordinator_name",
    "engine",
    "months_in_memory",
    "geography",
)


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
    # Where exact aggregation runs: "pandas" (in memory, the default for district-size data) or "duckdb" (over
    # Parquet copies of the snapshots kept beside the state database, out of core, for national-size data).
    engine: str = "pandas"
    # At most this many months' frames held at once, the rest read from working copies when asked (least
    # recently used out); None holds every month. A national-size node sets it (with DuckDB, 0 is enough).
    months_in_memory: int | None = None
    geography: Path | None = None  # geography pack folder; None: $LSI_GEOGRAPHY or the built-in pack

    def to_dict(self, base: Path) -> dict[str, object]:
        """The configuration as its TOML file in folder `base` holds it (paths relative to the file where inside)."""
        node = {
            "district_code": self.district_code,
            "listen": self.listen,
            "data_dir": relative_path(self.data_dir, base),
            "state_db": relative_path(self.state_db, base),
            "policy": relative_path(self.policy, base),
            "audit_key": relative_path(self.audit_key, base),
            "strict_data": self.strict_data,
            **({"coordinator": self.coordinator} if self.coordinator else {}),
            "coordinator_name": self.coordinator_name,
            "engine": self.engine,
            **({"months_in_memory": self.months_in_memory} if self.months_in_memory is not None else {}),
            **({"geography": relative_path(self.geography, base)} if self.geography else {}),
        }
        return {"node": node, **({"tls": tls_dict(self.tls, base)} if self.tls is not None else {})}


def write_node_config(config: NodeConfig, path: Path) -> None:
    """Write a node's configuration file; `load_node_config(path)` reads back the same config."""
    write_toml(path, config.to_dict(path.parent))


def load_node_config(path: Path) -> NodeConfig:
    """Read a node's TOML configuration, naming the file and key on any problem."""
    raw = read_toml(path)
    base = path.parent
    node = _section(raw, "node", path)
    check_keys(raw, ("node", "tls"), path, "file")
    check_keys(node, NODE_KEYS, path, "node")
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
        engine=_engine(node, path),
        months_in_memory=_months_in_memory(node, path),
        geography=base / g if (g := _optional_text(node, "geography", path)) else None,
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


ENGINES = ("pandas", "duckdb")


def _engine(section: dict, path: Path) -> str:
    value = section.get("engine", "pandas")
    if value not in ENGINES:
        raise ConfigError(f"{path}: [node] engine must be one of {', '.join(ENGINES)}, got {value!r}")
    return str(value)


def _months_in_memory(section: dict, path: Path) -> int | None:
    value = section.get("months_in_memory")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{path}: [node] months_in_memory must be a whole number of months, 0 or more (leave it out to hold "
            f"every month), got {value!r}"
        )
    return value
