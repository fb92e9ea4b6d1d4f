"""Writing a geography pack's files: one layout for packs imported from public downloads and generated ones."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

WARD_COLUMNS = (
    "code",
    "name",
    "district_code",
    "district_name",
    "households",
    "area_km2",
    "centroid_lat",
    "centroid_lon",
)


def write_wards_and_boundaries(out: Path, ward_rows: Iterable[Sequence[object]], features: list[dict]) -> None:
    """wards.csv (WARD_COLUMNS) and boundaries.geojson (compact) in the pack folder `out`."""
    with (out / "wards.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(WARD_COLUMNS)
        w.writerows(ward_rows)
    with (out / "boundaries.geojson").open("w", encoding="utf-8") as f:
        json.dump({"type": "FeatureCollection", "features": features}, f, separators=(",", ":"))
