"""Reading TOML configuration files, shared by the node's and the coordinator's config loaders.

Both servers read the same kind of file with the same [tls] section; keeping the reader here lets the
coordinator load its file without importing the node's package. Files are written from the config dataclasses
(their `to_dict`) with tomli-w, never by formatting strings, so what is written is what the loader reads.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import tomli_w

from security.tls import TlsFiles


class ConfigError(ValueError):
    """A configuration file a server cannot start from."""


def check_keys(section: Mapping[str, object], known: Sequence[str], path: Path, where: str) -> None:
    """Refuse a key the section does not have (a misspelling would otherwise be ignored), suggesting the nearest."""
    for key in section:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"{path}: [{where}] has an unknown key {key!r}{hint}")


def read_toml(path: Path) -> dict:
    """A configuration file's contents, or a ConfigError naming the file."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such configuration file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc


def required_text(section: dict, key: str, path: Path, where: str) -> str:
    """A non-empty text value, or a ConfigError naming the file, section and key."""
    value = section.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: [{where}] {key} is required and must be text")
    return value


def tls_section(raw: dict, base: Path, path: Path) -> TlsFiles:
    """The [tls] section: CA, certificate, key and optional CRL, relative to the configuration file."""
    crl = raw.get("crl")
    return TlsFiles(
        ca=base / required_text(raw, "ca", path, "tls"),
        cert=base / required_text(raw, "cert", path, "tls"),
        key=base / required_text(raw, "key", path, "tls"),
        crl=base / crl if crl else None,
    )


def write_toml(path: Path, data: Mapping[str, object]) -> None:
    """Write a configuration file from its dict form (tomli-w quotes and escapes every value)."""
    path.write_text(tomli_w.dumps(dict(data)))


def relative_path(path: Path, base: Path) -> str:
    """A path as written in a file in `base`: relative when inside it, else absolute (the loader joins either)."""
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def tls_dict(tls: TlsFiles, base: Path) -> dict[str, str]:
    """The [tls] section for a file in `base`: the inverse of `tls_section`."""
    out = {
        "ca": relative_path(tls.ca, base),
        "cert": relative_path(tls.cert, base),
        "key": relative_path(tls.key, base),
    }
    if tls.crl is not None:
        out["crl"] = relative_path(tls.crl, base)
    return out
