"""The coordinator's configuration file (TOML): where it listens and the registry of district nodes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from common.config import ConfigError, read_toml, relative_path, tls_dict, tls_section, write_toml
from security.tls import TlsFiles


@dataclass(frozen=True)
class NodeEntry:
    """A registered district node: its address and the name its certificate must carry."""

    district_code: str
    address: str
    certificate_name: str


@dataclass(frozen=True)
class CoordinatorConfig:
    """The coordinator's settings: where it listens, its result store, per-node deadline and node registry."""

    listen: str
    state_db: Path
    deadline_seconds: float
    nodes: tuple[NodeEntry, ...]
    tls: TlsFiles | None

    def to_dict(self, base: Path) -> dict[str, object]:
        """The configuration as its TOML file in folder `base` holds it (paths relative to the file where inside)."""
        section = {"listen": self.listen, "state_db": relative_path(self.state_db, base),
                   "deadline_seconds": self.deadline_seconds}
        return {
            "coordinator": section,
            **({"tls": tls_dict(self.tls, base)} if self.tls is not None else {}),
            "nodes": [asdict(n) for n in self.nodes],
        }


def write_coordinator_config(config: CoordinatorConfig, path: Path) -> None:
    """Write the coordinator's configuration file; `load_coordinator_config(path)` reads back the same config."""
    write_toml(path, config.to_dict(path.parent))


def load_coordinator_config(path: Path) -> CoordinatorConfig:
    """Read the coordinator's TOML configuration, naming the file and key on any problem."""
    raw = read_toml(path)
    base = path.parent
    section = raw.get("coordinator")
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: missing [coordinator] section")
    nodes = []
    for i, entry in enumerate(raw.get("nodes", [])):
        try:
            nodes.append(NodeEntry(entry["district_code"], entry["address"], entry["certificate_name"]))
        except KeyError as exc:
            raise ConfigError(f"{path}: [[nodes]] entry {i + 1} is missing {exc.args[0]}") from exc
    if not nodes:
        raise ConfigError(f"{path}: no [[nodes]] registered")
    codes = [n.district_code for n in nodes]
    if len(set(codes)) != len(codes):
        raise ConfigError(f"{path}: a district is registered twice")
    tls = raw.get("tls")
    return CoordinatorConfig(
        listen=str(section.get("listen", "127.0.0.1:50050")),
        state_db=base / str(section.get("state_db", "coordinator.sqlite")),
        deadline_seconds=float(section.get("deadline_seconds", 15.0)),
        nodes=tuple(nodes),
        tls=tls_section(tls, base, path) if tls else None,
    )
