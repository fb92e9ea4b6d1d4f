"""Build a geography pack from the files a council can download: an ONS ward-to-LAD lookup and ward boundaries.

The lookup (e.g. "Ward to Local Authority District (May 2024) Lookup", columns WD24CD, WD24NM, LAD24CD,
LAD24NM) gives the wards and their districts; the boundaries GeoJSON (ONS "Wards ... Boundaries", WGS84)
gives the shapes, simplified here so a report stays small. District figures (dwellings, UC households,
council tax by band) come from an optional CSV; without it the pack is written with them blank and
``lsi geography check`` lists what to fill in.
"""

from __future__ import annotations

import csv
import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from reference.geography import CT_BANDS
from reference.pack_write import write_wards_and_boundaries
from reference.simplify import area_and_centroid, simplify_ring

DEFAULT_TOLERANCE = 0.0005  # degrees: about 35-55 m in Britain, invisible on a 900-pixel county map
OGL = "Open Government Licence v3.0"
_COLUMN = {
    "ward_code": re.compile(r"^WD\d\dCD$", re.I),
    "ward_name": re.compile(r"^WD\d\dNM$", re.I),
    "lad_code": re.compile(r"^LAD\d\dCD$", re.I),
    "lad_name": re.compile(r"^LAD\d\dNM$", re.I),
}


class PackImportError(ValueError):
    """The downloaded files cannot make a pack; the message names the file and the problem."""


@dataclass(frozen=True)
class LookupRow:
    """One ward of the lookup with its district."""

    ward_code: str
    ward_name: str
    lad_code: str
    lad_name: str


@dataclass(frozen=True)
class ImportResult:
    """What was written, and what the council still has to add."""

    out: Path
    districts: int
    wards: int
    vertices_before: int
    vertices_after: int
    todo: tuple[str, ...]


def _column(fields: Sequence[str], kind: str, path: Path) -> str:
    found = [f for f in fields if _COLUMN[kind].match(f.strip())]
    if not found:
        want = {"ward_code": "WDyyCD", "ward_name": "WDyyNM", "lad_code": "LADyyCD", "lad_name": "LADyyNM"}[kind]
        raise PackImportError(
            f"{path.name}: no {want} column (an ONS ward-to-LAD lookup has e.g. WD24CD); got {list(fields)}"
        )
    return found[0]


def read_lookup(path: Path, only: Iterable[str] = ()) -> list[LookupRow]:
    """Wards of the lookup CSV, restricted to the districts in ``only`` (codes) when given."""
    wanted = set(only)
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        cols = {k: _column(fields, k, path) for k in _COLUMN}
        rows = [
            LookupRow(*(r[cols[k]].strip() for k in ("ward_code", "ward_name", "lad_code", "lad_name"))) for r in reader
        ]
    rows = [r for r in rows if not wanted or r.lad_code in wanted]
    if not rows:
        raise PackImportError(f"{path.name}: no wards{' for ' + ', '.join(sorted(wanted)) if wanted else ''}")
    missing = wanted - {r.lad_code for r in rows}
    if missing:
        raise PackImportError(f"{path.name}: no wards for district(s) {', '.join(sorted(missing))}")
    return rows


def _feature_code(props: dict) -> str:
    for key, value in props.items():
        if _COLUMN["ward_code"].match(key) or key == "ward_code":
            return str(value)
    return ""


def read_boundaries(path: Path) -> dict[str, list[list[list[tuple[float, float]]]]]:
    """Ward code -> polygons (rings of lon/lat) from a GeoJSON FeatureCollection in WGS84."""
    try:
        geo = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PackImportError(f"{path.name}: not GeoJSON ({e})") from None
    out: dict[str, list[list[list[tuple[float, float]]]]] = {}
    for feat in geo.get("features", []):
        code, g = _feature_code(feat.get("properties") or {}), feat.get("geometry") or {}
        if not code or g.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        rings = [[[(float(p[0]), float(p[1])) for p in ring] for ring in poly] for poly in polys]
        if any(abs(x) > 180 or abs(y) > 90 for poly in rings for ring in poly for x, y in ring[:1]):
            raise PackImportError(
                f"{path.name}: coordinates are not longitude/latitude (download the WGS84 / EPSG:4326 file)"
            )
        out.setdefault(code, []).extend(rings)
    return out


def _figures(path: Path | None) -> dict[str, dict[str, str]]:
    if path is None:
        return {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        return {r["code"].strip(): r for r in csv.DictReader(f) if r.get("code")}


def import_pack(
    lookup: Path,
    boundaries: Path,
    out: Path,
    *,
    name: str,
    code: str,
    council: str = "",
    districts: Iterable[str] = (),
    figures: Path | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    licence: str = OGL,
) -> ImportResult:
    """Write a pack folder from a lookup CSV and a boundaries GeoJSON; the result lists what is left to add."""
    rows = read_lookup(lookup, districts)
    shapes = read_boundaries(boundaries)
    missing = [r.ward_code for r in rows if r.ward_code not in shapes]
    if missing:
        raise PackImportError(
            f"{boundaries.name}: no boundary for {len(missing)} ward(s) of the lookup, e.g. {', '.join(missing[:5])} "
            "(are the lookup and the boundaries the same year?)"
        )
    out.mkdir(parents=True, exist_ok=True)
    figs = _figures(figures)
    lads = sorted({(r.lad_code, r.lad_name) for r in rows})
    before = after = 0
    features, ward_lines = [], []
    for r in sorted(rows, key=lambda r: (r.lad_code, r.ward_name)):
        polys = shapes[r.ward_code]
        area, lat, lon = area_and_centroid(polys)
        simple = [[simplify_ring(ring, tolerance) for ring in poly] for poly in polys]
        before += sum(len(ring) for poly in polys for ring in poly)
        after += sum(len(ring) for poly in simple for ring in poly)
        ward_lines.append(
            [r.ward_code, r.ward_name, r.lad_code, r.lad_name, "", f"{area:.4f}", f"{lat:.6f}", f"{lon:.6f}"]
        )
        props = {"lad_code": r.lad_code, "lad_name": r.lad_name, "ward_code": r.ward_code, "ward_name": r.ward_name}
        geometry = {
            "type": "MultiPolygon",
            "coordinates": [[[list(p) for p in ring] for ring in poly] for poly in simple],
        }
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    write_wards_and_boundaries(out, ward_lines, features)
    ct_cols = [f"council_tax_{b.lower()}" for b in CT_BANDS]
    with (out / "districts.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name", "population", "dwellings", "uc_households", *ct_cols])
        for lad, lad_name in lads:
            fig = figs.get(lad, {})
            w.writerow(
                [
                    lad,
                    lad_name,
                    *((fig.get(c) or "").strip() for c in ("population", "dwellings", "uc_households", *ct_cols)),
                ]
            )
    fig_source = f"{figures.name} (name each figure's publisher here)" if figures else ""
    meta = {
        "name": name,
        "code": code,
        "council": council or f"{name} Council",
        "files": {
            "districts": {
                "path": "districts.csv",
                "source": fig_source or f"{lookup.name}",
                "licence": licence if figures else "",
            },
            "wards": {
                "path": "wards.csv",
                "source": f"{lookup.name}; areas and centroids from {boundaries.name}",
                "licence": licence,
            },
            "boundaries": {
                "path": "boundaries.geojson",
                "source": f"{boundaries.name}, simplified (Douglas-Peucker, {tolerance} degrees)",
                "licence": licence,
            },
        },
    }
    (out / "pack.toml").write_text(tomli_w.dumps(meta), encoding="utf-8")
    tomllib.loads((out / "pack.toml").read_text(encoding="utf-8"))  # what we wrote must read back
    todo = (
        []
        if figures
        else [
            "districts.csv: fill in dwellings and uc_households for every district, then name their source "
            "and licence in pack.toml [files.districts]"
        ]
    )
    return ImportResult(out, len(lads), len(rows), before, after, tuple(todo))
