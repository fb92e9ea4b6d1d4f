"""The coordinator's configuration file (TOML): where it listens and the registry of district nodes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from common.config import ConfigError, read_toml, relative_path, tls_dict, tls_section, write_toml
from common.limits import MAX_DEADLINE_SECONDS
from security.tls import TlsFiles


@dataclass(frozen=True)
class AnalystLimits:
    """Per-analyst limits on Submit: a token bucket (rate per second, burst) and calls in flight at once."""

    rate_per_second: float = 20.0
    burst: int = 100
    concurrent: int = 64


@dataclass(frozen=True)
class Quorum:
    """The least coverage a county figure needs: this many districts, holding this share of registered dwellings."""

    districts: int = 1
    dwelling_share: float = 0.0

    def met(self, contributing: int, share: float) -> bool:
        """Whether a month with `contributing` districts holding `share` of dwellings may be published."""
        return contributing >= self.districts and share + 1e-12 >= self.dwelling_share


DIAL = "dial"
OUTBOUND = "outbound"
MODES = (DIAL, OUTBOUND)
DEFAULT_SECURE_DROPOUTS = 3


@dataclass(frozen=True)
class NodeEntry:
    """A registered district node: its address and the name its certificate must carry.

    mode "dial": the coordinator dials the node at its address; "outbound": the node dials the coordinator and
    keeps a stream open (its firewall refuses inbound connections), and address is only shown in status."""

    district_code: str
    address: str
    certificate_name: str
    mode: str = DIAL


@dataclass(frozen=True)
class CoordinatorConfig:
    """The coordinator's settings: where it listens, its result store, per-node deadline and node registry."""

    listen: str
    state_db: Path
    deadline_seconds: float
    nodes: tuple[NodeEntry, ...]
    tls: TlsFiles | None
    limits: AnalystLimits = AnalystLimits()
    quorum: Quorum = Quorum()
    # A secure county sum still gives a total when up to this many districts drop out (threshold t = n - d_max).
    secure_dropouts: int = DEFAULT_SECURE_DROPOUTS
    geography: Path | None = None  # geography pack folder; None: $LSI_GEOGRAPHY or the built-in pack

    def to_dict(self, base: Path) -> dict[str, object]:
        """The configuration as its TOML file in folder `base` holds it (paths relative to the file where inside)."""
        section = {
            "listen": self.listen,
            "state_db": relative_path(self.state_db, base),
            "deadline_seconds": self.deadline_seconds,
            "analyst_rate_per_second": self.limits.rate_per_second,
            "analyst_burst": self.limits.burst,
            "analyst_concurrent": self.limits.concurrent,
            "quorum_districts": self.quorum.districts,
            "quorum_dwelling_share": self.quorum.dwelling_share,
            "secure_dropouts": self.secure_dropouts,
            **({"geography": relative_path(self.geography, base)} if self.geography else {}),
        }
        return {
            "coordinator": section,
            **({"tls": tls_dict(self.tls, base)} if self.tls is not None else {}),
            "nodes": [asdict(n) for n in self.nodes],
        }


def codes_outside_pack(config: CoordinatorConfig, pack_codes: set[str]) -> list[str]:
    """Registered district codes that the geography pack in use does not hold (a typo, or the wrong pack)."""
    return sorted(n.district_code for n in config.nodes if n.district_code not in pack_codes)


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
        mode = entry.get("mode", DIAL)
        if mode not in MODES:
            raise ConfigError(f"{path}: [[nodes]] entry {i + 1} has mode {mode!r}; use one of {', '.join(MODES)}")
        try:
            address = entry["address"] if mode == DIAL else str(entry.get("address", "outbound"))
            nodes.append(NodeEntry(entry["district_code"], address, entry["certificate_name"], mode))
        except KeyError as exc:
            raise ConfigError(f"{path}: [[nodes]] entry {i + 1} is missing {exc.args[0]}") from exc
    if not nodes:
        raise ConfigError(f"{path}: no [[nodes]] registered")
    codes = [n.district_code for n in nodes]
    if len(set(codes)) != len(codes):
        raise ConfigError(f"{path}: a district is registered twice")
    tls = raw.get("tls")
    deadline = _number(section, "deadline_seconds", 15.0, path)
    if not 0 < deadline <= MAX_DEADLINE_SECONDS:
        raise ConfigError(
            f"{path}: [coordinator] deadline_seconds must be above 0 and at most {MAX_DEADLINE_SECONDS:g}"
        )
    limits = AnalystLimits(
        rate_per_second=_number(section, "analyst_rate_per_second", AnalystLimits.rate_per_second, path),
        burst=int(_number(section, "analyst_burst", AnalystLimits.burst, path)),
        concurrent=int(_number(section, "analyst_concurrent", AnalystLimits.concurrent, path)),
    )
    quorum = _quorum(section, len(nodes), path)
    dropouts = section.get("secure_dropouts", DEFAULT_SECURE_DROPOUTS)
    if isinstance(dropouts, bool) or not isinstance(dropouts, int) or dropouts < 0:
        raise ConfigError(
            f"{path}: [coordinator] secure_dropouts must be a whole number of districts, 0 or more, got {dropouts!r}"
        )
    return CoordinatorConfig(
        listen=str(section.get("listen", "127.0.0.1:50050")),
        state_db=base / str(section.get("state_db", "coordinator.sqlite")),
        deadline_seconds=deadline,
        nodes=tuple(nodes),
        tls=tls_section(tls, base, path) if tls else None,
        limits=limits,
        quorum=quorum,
        secure_dropouts=dropouts,
        geography=base / str(section["geography"]) if section.get("geography") else None,
    )


def _quorum(section: dict, registered: int, path: Path) -> Quorum:
    """The quorum keys, checked against the registry (a quorum no registry can meet is a mistake)."""
    count = section.get("quorum_districts", Quorum.districts)
    share = section.get("quorum_dwelling_share", Quorum.dwelling_share)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= registered:
        raise ConfigError(
            f"{path}: [coordinator] quorum_districts must be a whole number from 1 to the {registered} "
            f"registered districts, got {count!r}"
        )
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise ConfigError(
            f"{path}: [coordinator] quorum_dwelling_share must be a share from 0 to 1 (e.g. 0.75), got {share!r}"
        )
    return Quorum(count, float(share))


def _number(section: dict, key: str, default: float, path: Path) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{path}: [coordinator] {key} must be a positive number, got {value!r}")
    return float(value)
