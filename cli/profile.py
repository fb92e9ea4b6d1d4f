"""The analyst's client profile: where the coordinator is, its certificate's name, your TLS files, your defaults.

Precedence is flag > LSI_* environment variable > profile > built-in default. Click already gives flags and
environment variables precedence over a context's `default_map`, so the profile is applied as that map and
never needs comparing by hand. Example (paths are relative to the profile file):

    [server]
    address = "county.kent.example:50050"
    server_name = "county-coordinator"

    [tls]
    ca = "ca.crt"
    cert = "alice.crt"
    key = "alice.key"
    # or, for a folder laid out by `lsi pki`: pki = "pki" and identity = "alice"

    [analyst]
    purpose = "cost of living monitoring"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from common.config import ConfigError, check_keys, read_toml
from security.tls import TlsFiles

SECTIONS = {
    "server": ("address", "server_name"),
    "tls": ("ca", "cert", "key", "crl", "pki", "identity"),
    "analyst": ("purpose",),
}
PROFILE_ENV = "LSI_PROFILE"


def default_profile_path() -> Path:
    """Where a profile is read from when none is named: $XDG_CONFIG_HOME/lsi/profile.toml (~/.config by default)."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "lsi" / "profile.toml"


@dataclass(frozen=True)
class Profile:
    """A profile's settings: option defaults by parameter name, and TLS files named one by one (if any)."""

    path: Path
    defaults: Mapping[str, str | Path]
    tls: TlsFiles | None = None


def load_profile(path: Path) -> Profile:
    """Read and check a profile; a ConfigError names the file and key at fault (with a 'did you mean')."""
    raw = read_toml(path)
    check_keys(raw, tuple(SECTIONS), path, "profile")
    for name, section in raw.items():
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: {name} must be a section ([{name}]), not a value")
        check_keys(section, SECTIONS[name], path, name)
        for key, value in section.items():
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{path}: [{name}] {key} must be non-empty text")
    server, tls, analyst = (raw.get(s, {}) for s in SECTIONS)
    base = path.parent
    defaults: dict[str, str | Path] = {k: v for k, v in server.items()}
    defaults |= {k: v for k, v in analyst.items()}
    if "pki" in tls:
        defaults["pki_dir"] = base / tls["pki"]
    if "identity" in tls:
        defaults["identity"] = tls["identity"]
    return Profile(path, defaults, _named_files(tls, base, path))


def _named_files(tls: Mapping[str, str], base: Path, path: Path) -> TlsFiles | None:
    named = [k for k in ("ca", "cert", "key") if k in tls]
    if not named and "crl" not in tls:
        return None
    if "pki" in tls or "identity" in tls:
        raise ConfigError(f"{path}: [tls] give either pki and identity, or ca, cert and key, not both")
    missing = [k for k in ("ca", "cert", "key") if k not in tls]
    if missing:
        raise ConfigError(f"{path}: [tls] needs ca, cert and key together; missing {', '.join(missing)}")
    crl = tls.get("crl")
    return TlsFiles(
        ca=base / tls["ca"], cert=base / tls["cert"], key=base / tls["key"], crl=base / crl if crl else None
    )


def chosen_profile(named: Path | None) -> Profile | None:
    """The profile named by --profile / LSI_PROFILE (which must exist), else the default file if present."""
    if named is not None:
        return load_profile(named)
    default = default_profile_path()
    return load_profile(default) if default.is_file() else None


def default_map(command: click.Command, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Click's default_map for `command` and every subcommand: each gets the profile values it has options for."""
    if isinstance(command, click.Group):
        return {name: default_map(sub, defaults) for name, sub in command.commands.items()}
    return {p.name: defaults[p.name] for p in command.params if p.name in defaults}


def profile_tls() -> TlsFiles | None:
    """The TLS files the active profile names one by one, if any (read from the running command's root context)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_root().obj if ctx is not None else None
    return found.tls if isinstance(found, Profile) else None
