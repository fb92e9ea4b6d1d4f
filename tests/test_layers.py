"""Specifications for the package layering: the county server, the analysts' library and the report view."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("node", "privacy", "security", "coordinator", "analysis", "report", "common", "reference", "cli")
FORBIDDEN = {
    "coordinator": {"analysis", "report", "node", "cli"},  # the county server only
    "analysis": {"report", "coordinator", "node", "cli"},  # domain never imports the view or a server
    "report": {"coordinator", "node", "cli"},
    "common": {"node", "coordinator", "analysis", "report", "cli"},
    # The vocabulary beside the contract: generated messages only, so every side can use it.
    "protos": {"node", "coordinator", "analysis", "report", "cli", "common", "privacy", "security", "reference"},
}


def modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "_pb2" not in p.name)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import in the file, function-level ones included."""
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names]))
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {module}"
        for p in modules(package)
        for module, _ in imports(p)
        if module.split(".")[0] in FORBIDDEN[package]
    ]
    assert bad == []


def test_no_package_imports_another_packages_private_names() -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {name} from {module}"
        for package in PACKAGES
        for p in modules(package)
        for module, names in imports(p)
        if module.split(".")[0] in PACKAGES and module.split(".")[0] != package
        for name in names
        if name.startswith("_")
    ]
    assert bad == []


def test_ward_files_and_the_medway_code_live_only_in_the_kent_pack() -> None:
    readers = [
        str(p.relative_to(ROOT))
        for package in PACKAGES
        for p in modules(package)
        if "kent_wards" in p.read_text(encoding="utf-8") or "E06000035" in p.read_text(encoding="utf-8")
    ]
    assert readers == []  # only the Kent pack's data files name them
