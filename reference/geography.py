"""The area the index covers, read from a geography pack: its districts, wards, boundaries and public figures.

A pack is one folder (see ``reference/packs/README.md``): ``pack.toml`` (area name and code, each file's
source and licence, areas drawn for context only, synthetic-data assumptions), ``districts.csv``,
``wards.csv`` and ``boundaries.geojson``. The active pack is, in order: the one given to ``use_pack``
(``lsi --geography DIR``, a ``geography`` key in node.toml or coordinator.toml), the folder in the
environment variable ``LSI_GEOGRAPHY``, else the built-in pack (``packs/kent``). Packs are read and validated once.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

PACKS_DIR = Path(__file__).parent / "packs"
BUILTIN_PACK = PACKS_DIR / "kent"
ENV_VAR = "LSI_GEOGRAPHY"
PACK_FILES = ("districts", "wards", "boundaries")
CT_BANDS = ("A", "B", "C", "D", "E", "F", "G", "H")
# ONS GSS codes: a letter for the nation, two digits for the entity type, six digits.
GSS_CODE = re.compile(r"^[EWSN]\d{8}$")
DISTRICT_COLUMNS = ("code", "name", "dwellings", "uc_households")
WARD_COLUMNS = ("code", "name", "district_code", "district_name", "area_km2", "centroid_lat", "centroid_lon")


@dataclass(frozen=True)
class District:
    """A district council of the area, with the public figures the product uses.

    ``dwellings`` (VOA) is the public denominator of rates per 1,000, and every such rate says "dwellings":
    it is published per district, current and the same for every query. Dwellings overstate households
    (second homes, vacancies), so a rate per 1,000 dwellings reads a little below one per 1,000 households.
    """

    code: str
    name: str
    population: int | None
    dwellings: int
    uc_households: int
    council_tax: tuple[float, ...] | None = None  # annual £ by band A-H, when the pack has them

    @property
    def households(self) -> int:
        """Dwellings: the public denominator rates use, named as dwellings wherever shown."""
        return self.dwellings


@dataclass(frozen=True)
class Ward:
    """An electoral ward inside a district (or inside an area drawn for context only)."""

    code: str
    name: str
    district_code: str
    district_name: str
    area_km2: float
    lat: float
    lon: float
    households: int | None = None


Ring = tuple[tuple[float, float], ...]  # (lon, lat) points, closed


@dataclass(frozen=True)
class WardOutline:
    """A ward's boundary: its polygons' rings of lon/lat."""

    code: str
    rings: tuple[Ring, ...]


@dataclass(frozen=True)
class Outside:
    """An area whose wards the boundaries hold for context (drawn greyed) but which is not in the index."""

    code: str
    name: str
    reason: str


@dataclass(frozen=True)
class SourceFile:
    """One of the pack's files with where it came from and under what licence."""

    path: str
    source: str
    licence: str
    attribution: str = ""  # the words the licence asks a map to show (defaults to the licence)
    licence_url: str = ""


@dataclass(frozen=True)
class SynthAssumptions:
    """Made-up calibration for synthetic data only (never used for a real figure)."""

    council_stock: frozenset[str] = frozenset()  # districts that still own council housing
    rent_factor: dict[str, float] = field(default_factory=dict)  # private rents relative to the pack's LHA
    postcode_area: dict[str, str] = field(default_factory=dict)
    default_postcode_area: str = "ZZ"
    band_d_reference: str = ""  # the district whose Band D is the rates file's; others draw 0-4% above
    # All the area's households (Census): the denominator of published all-household rates that synthetic data is
    # calibrated against; None where the pack does not give it (dwellings stand in).
    households: int | None = None


@dataclass(frozen=True, eq=False)  # identity equality: a loaded pack is a cache key
class Geography:
    """A loaded, validated geography pack."""

    root: Path
    name: str
    code: str
    council: str  # the county (or combined) authority that runs the coordinator
    districts: tuple[District, ...]  # in ONS-code order
    wards: tuple[Ward, ...]  # every ward in wards.csv, context areas' included, in file order
    outside: tuple[Outside, ...]
    files: dict[str, SourceFile]
    synth: SynthAssumptions

    @cached_property
    def outlines(self) -> tuple[WardOutline, ...]:
        """Boundaries of every ward in the boundaries file, in file order (read on first use)."""
        return tuple(_outlines(self.root / self.files["boundaries"].path))

    @cached_property
    def by_code(self) -> dict[str, District]:
        """Districts keyed by ONS code."""
        return {d.code: d for d in self.districts}

    @cached_property
    def wards_by_district(self) -> dict[str, tuple[Ward, ...]]:
        """Each district's wards sorted by ward code (context areas' included)."""
        out: dict[str, list[Ward]] = {}
        for w in self.wards:
            out.setdefault(w.district_code, []).append(w)
        return {k: tuple(sorted(v, key=lambda w: w.code)) for k, v in out.items()}


class PackError(ValueError):
    """A geography pack that cannot be used, with every problem found."""

    def __init__(self, root: Path, problems: list[str]) -> None:
        self.root, self.problems = root, problems
        super().__init__(f"geography pack {root} has {len(problems)} problem(s): " + "; ".join(problems))


class UnknownDistrictError(KeyError):
    """A district code that is not one of the active pack's districts."""

    def __str__(self) -> str:  # KeyError would otherwise show the repr of the message
        return str(self.args[0])


# ---- reading and validating a pack --------------------------------------------------------------------------


def _rows(path: Path, required: tuple[str, ...], problems: list[str]) -> list[dict[str, str]]:
    if not path.is_file():
        problems.append(f"{path.name}: file not found")
        return []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            problems.append(f"{path.name}: missing column(s) {', '.join(missing)}")
            return []
        return list(reader)


def _number(text: str, kind: Callable[[str], float], where: str, problems: list[str]) -> float | None:
    try:
        value = kind(text.strip())
    except ValueError:
        problems.append(f"{where}: {text!r} is not a number")
        return None
    if value < 0:
        problems.append(f"{where}: {text!r} is negative")
        return None
    return value


def _districts(rows: list[dict[str, str]], problems: list[str]) -> list[District]:
    out: list[District] = []
    for i, r in enumerate(rows, start=2):
        where = f"districts.csv line {i}"
        code, name = (r.get("code") or "").strip(), (r.get("name") or "").strip()
        if not GSS_CODE.match(code):
            problems.append(f"{where}: district code {code!r} is not an ONS code (a letter and 8 digits)")
        if not name:
            problems.append(f"{where}: district {code} has no name")
        dw = _number(r.get("dwellings") or "", int, f"{where} dwellings", problems)
        uc = _number(r.get("uc_households") or "", int, f"{where} uc_households", problems)
        pop_text = (r.get("population") or "").strip()
        pop = _number(pop_text, int, f"{where} population", problems) if pop_text else None
        bands = [(r.get(f"council_tax_{b.lower()}") or "").strip() for b in CT_BANDS]
        ct: tuple[float, ...] | None = None
        if any(bands):
            if not all(bands):
                problems.append(f"{where}: council tax needs all of bands A-H or none")
            else:
                vals = [
                    _number(t, float, f"{where} council_tax_{b.lower()}", problems)
                    for t, b in zip(bands, CT_BANDS, strict=True)
                ]
                ct = tuple(v for v in vals if v is not None)
        if dw == 0:
            problems.append(f"{where}: district {code} has 0 dwellings (rates per 1,000 need a denominator)")
        if dw is not None and uc is not None:
            out.append(District(code, name, None if pop is None else int(pop), int(dw), int(uc), ct))
    seen = _duplicates([d.code for d in out])
    problems += [f"districts.csv: district code {c} appears more than once" for c in seen]
    if not rows:
        problems.append("districts.csv: no districts")
    return out


def _duplicates(codes: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({c for c in codes if c in seen or seen.add(c)})  # type: ignore[func-returns-value]


def _wards(
    rows: list[dict[str, str]], districts: dict[str, str], outside: dict[str, str], problems: list[str]
) -> list[Ward]:
    out: list[Ward] = []
    for i, r in enumerate(rows, start=2):
        where = f"wards.csv line {i}"
        code, lad = (r.get("code") or "").strip(), (r.get("district_code") or "").strip()
        if not GSS_CODE.match(code):
            problems.append(f"{where}: ward code {code!r} is not an ONS code (a letter and 8 digits)")
        if lad not in districts and lad not in outside:
            problems.append(f"{where}: ward {code} is in district {lad!r}, which is not in districts.csv")
        if not (r.get("name") or "").strip():
            problems.append(f"{where}: ward {code} has no name")
        area = _number(r.get("area_km2") or "", float, f"{where} area_km2", problems)
        lat = _number_any(r.get("centroid_lat") or "", f"{where} centroid_lat", problems)
        lon = _number_any(r.get("centroid_lon") or "", f"{where} centroid_lon", problems)
        hh_text = (r.get("households") or "").strip()
        hh = _number(hh_text, int, f"{where} households", problems) if hh_text else None
        if area is None or lat is None or lon is None:
            continue
        name = districts.get(lad) or outside.get(lad) or (r.get("district_name") or "").strip()
        out.append(Ward(code, r["name"].strip(), lad, name, area, lat, lon, None if hh is None else int(hh)))
    problems += [f"wards.csv: ward code {c} appears more than once" for c in _duplicates([w.code for w in out])]
    return out


def _number_any(text: str, where: str, problems: list[str]) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        problems.append(f"{where}: {text!r} is not a number")
        return None


def _features(path: Path) -> Iterator[tuple[str, dict]]:
    with path.open(encoding="utf-8") as f:
        geo = json.load(f)
    for feat in geo.get("features", []):
        yield str((feat.get("properties") or {}).get("ward_code", "")), feat.get("geometry") or {}


def _rings(geometry: dict) -> tuple[Ring, ...]:
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return tuple(tuple((float(x), float(y)) for x, y, *_ in ring) for poly in polygons for ring in poly)


def _outlines(path: Path) -> list[WardOutline]:
    return [WardOutline(code, _rings(g)) for code, g in _features(path)]


def _boundary_problems(path: Path, ward_codes: set[str]) -> list[str]:
    if not path.is_file():
        return [f"{path.name}: file not found"]
    problems: list[str] = []
    try:
        features = list(_features(path))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
        return [f"{path.name}: not GeoJSON ({e})"]
    seen: set[str] = set()
    for code, g in features:
        if code not in ward_codes:
            problems.append(f"{path.name}: boundary {code or '(no ward_code property)'} matches no ward in wards.csv")
        if g.get("type") not in ("Polygon", "MultiPolygon"):
            problems.append(f"{path.name}: boundary {code} is a {g.get('type')!r}, not a Polygon or MultiPolygon")
        else:
            try:
                if any(len(r) < 4 for r in _rings(g)):
                    problems.append(f"{path.name}: boundary {code} has a ring of fewer than 4 points")
            except (KeyError, TypeError, ValueError):
                problems.append(f"{path.name}: boundary {code} has malformed coordinates")
        if code in seen:
            problems.append(f"{path.name}: ward {code} has more than one boundary")
        seen.add(code)
    problems += [f"{path.name}: ward {c} has no boundary" for c in sorted(ward_codes - seen)]
    return problems


def _synth(doc: dict) -> SynthAssumptions:
    s = doc.get("synth") or {}
    return SynthAssumptions(
        council_stock=frozenset(s.get("council_stock", ())),
        rent_factor={k: float(v) for k, v in (s.get("rent_factor") or {}).items()},
        postcode_area={k: str(v) for k, v in (s.get("postcode_area") or {}).items()},
        default_postcode_area=str(s.get("default_postcode_area", "ZZ")),
        band_d_reference=str(s.get("band_d_reference", "")),
        households=int(s["households"]) if "households" in s else None,
    )


def _read(root: Path) -> tuple[Geography | None, list[str]]:
    """The pack in ``root`` and every problem found (a pack is returned only when there are none)."""
    problems: list[str] = []
    meta = root / "pack.toml"
    if not root.is_dir():
        return None, [f"{root}: not a folder"]
    if not meta.is_file():
        return None, [f"pack.toml: file not found in {root}"]
    try:
        doc = tomllib.loads(meta.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        return None, [f"pack.toml: not valid TOML ({e})"]
    for key in ("name", "code"):
        if not str(doc.get(key, "")).strip():
            problems.append(f"pack.toml: {key} is missing (the area's {key})")
    if doc.get("code") and not GSS_CODE.match(str(doc["code"])):
        problems.append(f"pack.toml: code {doc['code']!r} is not an ONS code (a letter and 8 digits)")
    files: dict[str, SourceFile] = {}
    for name in PACK_FILES:
        entry = (doc.get("files") or {}).get(name) or {}
        for key in ("source", "licence"):
            if not str(entry.get(key, "")).strip():
                problems.append(f"pack.toml: [files.{name}] names no {key}")
        files[name] = SourceFile(
            path=str(entry.get("path", f"{name}.{'geojson' if name == 'boundaries' else 'csv'}")),
            source=str(entry.get("source", "")),
            licence=str(entry.get("licence", "")),
            attribution=str(entry.get("attribution") or entry.get("licence", "")),
            licence_url=str(entry.get("licence_url", "")),
        )
    outside = tuple(
        Outside(str(o.get("code", "")), str(o.get("name", "")), str(o.get("reason", "")))
        for o in doc.get("outside", [])
    )
    districts = _districts(_rows(root / files["districts"].path, DISTRICT_COLUMNS, problems), problems)
    d_names = {d.code: d.name for d in districts}
    o_names = {o.code: o.name for o in outside}
    problems += [f"pack.toml: outside area {c} is also in districts.csv" for c in sorted(set(d_names) & set(o_names))]
    wards = _wards(_rows(root / files["wards"].path, WARD_COLUMNS, problems), d_names, o_names, problems)
    have = {w.district_code for w in wards}
    problems += [
        f"districts.csv: district {d.code} ({d.name}) has no wards in wards.csv"
        for d in districts
        if d.code not in have
    ]
    problems += _boundary_problems(root / files["boundaries"].path, {w.code for w in wards})
    if problems:
        return None, problems
    geo = Geography(
        root=root,
        name=str(doc["name"]).strip(),
        code=str(doc["code"]).strip(),
        council=str(doc.get("council") or f"{str(doc['name']).strip()} Council"),
        districts=tuple(sorted(districts, key=lambda d: d.code)),
        wards=tuple(wards),
        outside=outside,
        files=files,
        synth=_synth(doc),
    )
    return geo, []


def pack_problems(root: Path | str) -> list[str]:
    """Every problem with the pack in ``root`` (empty when it can be used)."""
    return _read(Path(root))[1]


@cache
def _load(root: Path) -> Geography:
    geo, problems = _read(root)
    if geo is None:
        raise PackError(root, problems)
    return geo


def load_pack(root: Path | str) -> Geography:
    """The validated pack in ``root``, read once; raises PackError listing every problem."""
    return _load(Path(root).resolve())


# ---- the active pack ----------------------------------------------------------------------------------------

_chosen: list[Path] = []


def use_pack(root: Path | str | None) -> Geography:
    """Make the pack in ``root`` the active one (None: back to LSI_GEOGRAPHY or the built-in pack)."""
    _chosen.clear()
    if root is not None:
        geo = load_pack(root)  # validate before switching
        _chosen.append(geo.root)
    return active()


def active() -> Geography:
    """The geography every district, ward, map and county label comes from."""
    if _chosen:
        return _load(_chosen[0])
    return _from_env(os.environ.get(ENV_VAR, "").strip())


@cache
def _from_env(text: str) -> Geography:
    return load_pack(text or BUILTIN_PACK)


def county_name() -> str:
    """The area's name: every county label takes its name from here."""
    return active().name


def districts() -> list[District]:
    """The active pack's districts in ONS-code order."""
    return list(active().districts)


def _outside_hint(geo: Geography, text: str) -> str:
    for o in geo.outside:
        if text.strip().casefold() in (o.code.casefold(), o.name.casefold()):
            return f" {o.name} is {o.reason or 'not part of this index'}."
    return ""


def district(code: str) -> District:
    """The district with ONS code ``code``; raises UnknownDistrictError naming the valid codes."""
    geo = active()
    found = geo.by_code.get(code)
    if found is not None:
        return found
    known = ", ".join(f"{d.code} ({d.name})" for d in geo.districts)
    raise UnknownDistrictError(
        f"unknown district code {code!r}.{_outside_hint(geo, code)} Known {geo.name} districts: {known}"
    )


def district_named(text: str) -> District:
    """The district given by ONS code or by name, any case ("District 2", "district 2", "E07900002")."""
    geo = active()
    wanted = text.strip().casefold()
    for d in geo.districts:
        if wanted in (d.code.casefold(), d.name.casefold()):
            return d
    known = ", ".join(f"{d.name} ({d.code})" for d in geo.districts)
    raise UnknownDistrictError(
        f"no {geo.name} district called {text!r}.{_outside_hint(geo, text)} Give a name or ONS code: {known}"
    )


def wards(district_code: str) -> list[Ward]:
    """Wards of one district, sorted by ward code."""
    district(district_code)  # validates the code with a helpful message
    return list(active().wards_by_district[district_code])


def all_wards() -> list[Ward]:
    """Wards of all the pack's districts (context areas excluded), by district then ward code."""
    geo = active()
    return [w for d in geo.districts for w in geo.wards_by_district[d.code]]


def ward_codes(district_code: str) -> tuple[str, ...]:
    """Public ward code list of a district: the group keys every answer must contain."""
    return tuple(w.code for w in wards(district_code))


def reference_wards() -> list[Ward]:
    """Every ward in the pack, context areas' included (a map draws them as out of scope), in file order."""
    return list(active().wards)


def outside_codes() -> frozenset[str]:
    """Codes of the areas drawn for context only (not in the index)."""
    return frozenset(o.code for o in active().outside)


def ward_outlines() -> tuple[WardOutline, ...]:
    """Boundaries of every ward in the pack (context areas' included), in file order, read once."""
    return active().outlines
