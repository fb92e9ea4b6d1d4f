"""The dashboard's configuration file: where it listens, which coordinator it reads, and what it shows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from common.config import read_toml, write_toml


@dataclass(frozen=True)
class DashboardConfig:
    """Everything `lsi dashboard --config FILE` needs."""

    listen: str  # host:port of the HTTPS server
    coordinator: str  # host:port of the county coordinator
    coordinator_name: str  # name on the coordinator's certificate
    pki_dir: Path  # ca.crt, crl.pem and the dashboard's own certificate and key (role `dashboard`); no user keys
    server_identity: str  # its own certificate (name in pki_dir): HTTPS to browsers, mutual TLS to the coordinator
    secret_file: Path  # HMAC key that signs sign-in tokens (made on first start, 0600)
    base_month: str = ""  # the index's base month; empty: the first month the nodes hold
    benchmark_indicator: str = "households_in_crisis"
    benchmark_epsilon: float = 0.5
    unclaimed_epsilon: float = 1.0
    token_minutes: int = 60
    geography: str = ""  # geography pack folder; empty: $LSI_GEOGRAPHY or the built-in pack


def load_dashboard_config(path: Path) -> DashboardConfig:
    """The [dashboard] table of a TOML file (ValueError naming the problem)."""
    raw = read_toml(path).get("dashboard")
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: no [dashboard] table")
    fields = set(DashboardConfig.__dataclass_fields__)
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ValueError(f"{path}: unknown [dashboard] keys {', '.join(unknown)}")
    try:
        config = DashboardConfig(**raw)
    except TypeError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return DashboardConfig(
        **{**asdict(config), "pki_dir": Path(config.pki_dir), "secret_file": Path(config.secret_file)}
    )


def write_dashboard_config(config: DashboardConfig, path: Path) -> None:
    """Write a config file that load_dashboard_config reads back."""
    raw = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
    write_toml(path, {"dashboard": raw})
