"""Kent districts and wards from the public reference files shipped with the package.

Sources: ``districts.csv`` (Census 2021 population, VOA 2025 dwellings, DWP May 2025 UC households, as
listed in the project's reference notes) and ``kent_wards.csv`` (see ``WARDS_SOURCE.md``). Medway
(E06000035) is a separate unitary council and is not one of the 12 districts.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent
MEDWAY = "E06000035"
# The area the districts make up: every county label takes its name from here.
COUNTY_NAME = "Kent"


@dataclass(frozen=True)
class District:
    """A Kent district council.

    ``dwellings`` (VOA 2025) is the public denominator of rates per 1,000, and every such rate says
    "dwellings": it is published per district, current and the same for every query. Dwellings overstate
    households (second homes, vacancies; 715,370 dwellings against 648,300 Census 2021 households county-wide),
    so a rate per 1,000 dwellings reads about 9% below one per 1,000 households.
    """

    code: str
    name: str
    population: int
    dwellings: int
    uc_households: int
    wards_2025: int

    @property
    def households(self) -> int:
        """Dwellings (VOA 2025): the public denominator rates use, named as dwellings wherever shown."""
        return self.dwellings


@dataclass(frozen=True)
class Ward:
    """An electoral ward (2025 boundaries) inside a district."""

    code: str
    name: str
    district_code: str
    district_name: str
    area_km2: float
    lat: float
    lon: float


class UnknownDistrictError(KeyError):
    """A district code that is not one of the 12 Kent districts."""

    def __str__(self) -> str:  # KeyError would otherwise show the repr of the message
        return str(self.args[0])


@cache
def _districts() -> tuple[District, ...]:
    with (_HERE / "districts.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    found = [
        District(
            code=r["lad_code"],
            name=r["name"],
            population=int(r["population_2021"]),
            dwellings=int(r["dwellings_2025"]),
            uc_households=int(r["uc_households_2025"]),
            wards_2025=int(r["wards_2025"]),
        )
        for r in rows
    ]
    return tuple(sorted(found, key=lambda d: d.code))


def districts() -> list[District]:
    """The 12 Kent districts in ONS-code order."""
    return list(_districts())


def district(code: str) -> District:
    """The district with ONS code ``code``; raises UnknownDistrictError naming the valid codes."""
    for d in _districts():
        if d.code == code:
            return d
    known = ", ".join(f"{d.code} ({d.name})" for d in districts())
    hint = " Medway is a unitary council and is not part of this index." if code == MEDWAY else ""
    raise UnknownDistrictError(f"unknown district code {code!r}.{hint} Known Kent districts: {known}")


def district_named(text: str) -> District:
    """The district given by ONS code or by name, any case ("Thanet", "thanet", "E07000114")."""
    wanted = text.strip().casefold()
    for d in _districts():
        if wanted in (d.code.casefold(), d.name.casefold()):
            return d
    known = ", ".join(f"{d.name} ({d.code})" for d in districts())
    hint = " Medway is a unitary council and is not part of this index." if text.strip() == MEDWAY else ""
    raise UnknownDistrictError(f"no Kent district called {text!r}.{hint} Give a name or ONS code: {known}")


@cache
def _all_wards() -> tuple[Ward, ...]:
    with (_HERE / "kent_wards.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return tuple(
        Ward(
            code=r["ward_code"],
            name=r["ward_name"],
            district_code=r["lad_code"],
            district_name=r["lad_name"],
            area_km2=float(r["area_km2"]),
            lat=float(r["centroid_lat"]),
            lon=float(r["centroid_lon"]),
        )
        for r in rows
    )


@cache
def _wards_by_district() -> dict[str, tuple[Ward, ...]]:
    out: dict[str, list[Ward]] = {}
    for w in _all_wards():
        out.setdefault(w.district_code, []).append(w)
    return {k: tuple(sorted(v, key=lambda w: w.code)) for k, v in out.items()}


def wards(district_code: str) -> list[Ward]:
    """Wards of one district, sorted by ward code."""
    district(district_code)  # validates the code with a helpful message
    return list(_wards_by_district()[district_code])


def all_wards() -> list[Ward]:
    """Wards of all 12 districts (Medway excluded), by district then ward code."""
    return [w for d in _districts() for w in _wards_by_district()[d.code]]


def ward_codes(district_code: str) -> tuple[str, ...]:
    """Public ward code list of a district: the group keys every answer must contain."""
    district(district_code)
    return tuple(w.code for w in _wards_by_district()[district_code])


def reference_wards() -> list[Ward]:
    """Every ward in the reference file, Medway's included (a map draws it as out of scope), in file order."""
    return list(_all_wards())


Ring = tuple[tuple[float, float], ...]  # (lon, lat) points, closed


@dataclass(frozen=True)
class WardOutline:
    """A ward's boundary (OGL, see WARDS_SOURCE.md): its polygons' rings of lon/lat."""

    code: str
    rings: tuple[Ring, ...]


@cache
def ward_outlines() -> tuple[WardOutline, ...]:
    """Boundaries of every ward in the reference file (Medway's included), in file order, read once."""
    with (_HERE / "kent_wards.geojson").open(encoding="utf-8") as f:
        geo = json.load(f)
    out = []
    for feat in geo["features"]:
        g = feat["geometry"]
        polygons = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        rings = tuple(tuple((float(x), float(y)) for x, y in ring) for poly in polygons for ring in poly)
        out.append(WardOutline(feat["properties"]["ward_code"], rings))
    return tuple(out)
