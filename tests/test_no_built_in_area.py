"""No source outside the built-in geography pack names its area or districts: everything follows the pack."""

from __future__ import annotations

import re
from pathlib import Path

from reference.geography import BUILTIN_PACK, load_pack

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("node", "privacy", "security", "coordinator", "analysis", "report", "common", "reference", "cli",
            "dashboard", "bench", "tools", "protos")  # fmt: skip
SUFFIXES = {".py", ".j2", ".html", ".css", ".js", ".toml", ".proto"}
# Allowed to name them, each for a reason: the pack itself; the test PKI's fixed identities (imported only by
# tests); the rates files, which cite where each rate was published (a pack's council tax overrides Band D).
ALLOWED = (BUILTIN_PACK.resolve(), ROOT / "security" / "testing.py", ROOT / "reference" / "rates")


def built_in_words() -> re.Pattern[str]:
    """The built-in pack's area, district and context-area names and codes, as whole words."""
    geo = load_pack(BUILTIN_PACK)
    words = {geo.name, geo.code, *(d.code for d in geo.districts), *(o.code for o in geo.outside)}
    words |= {d.name for d in geo.districts} | {o.name for o in geo.outside}
    return re.compile(r"\b(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b")


def sources() -> list[Path]:
    return sorted(
        p
        for package in PACKAGES
        for p in (ROOT / package).rglob("*")
        if p.suffix in SUFFIXES and "_pb2" not in p.name and not any(p.is_relative_to(a) for a in ALLOWED)
    )


def test_no_source_outside_the_built_in_pack_names_its_area_or_districts() -> None:
    pattern = built_in_words()
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {m.group(0)}"
        for p in sources()
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        for m in [pattern.search(line)]
        if m
    ]
    assert hits == []


def test_the_check_would_see_a_district_named_in_a_source_file() -> None:
    pattern = built_in_words()
    first = load_pack(BUILTIN_PACK).districts[0]
    assert pattern.search(f'CODE = "{first.code}"') and pattern.search(f"# as {first.name} does")
    assert len(sources()) > 100  # it reads the tree, not an empty list
