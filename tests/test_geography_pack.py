"""Geography packs: loading, every problem `lsi geography check` names, `lsi geography import`, generated packs."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli.main import main
from reference import geography
from reference.geography import ENV_VAR, PackError, UnknownDistrictError, load_pack, pack_problems, use_pack
from reference.pack_generate import generate_pack
from reference.simplify import area_and_centroid, douglas_peucker, simplify_ring

PACKS = Path(__file__).parent / "packs"
THREESHIRE, UNITARY = PACKS / "threeshire", PACKS / "unitary"


@pytest.fixture
def restore_pack(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Whatever a test makes active, the built-in pack is active again afterwards (and no LSI_GEOGRAPHY leaks)."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    yield
    use_pack(None)


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A writable copy of the three-district test pack, to break."""
    return Path(shutil.copytree(THREESHIRE, tmp_path / "pack"))


def rewrite(path: Path, edit) -> None:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rows = edit(rows)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


# ---- the built-in pack and the shipped test packs ----------------------------------------------------------


def test_the_built_in_pack_is_active_by_default(restore_pack: None) -> None:
    assert geography.active().root == geography.BUILTIN_PACK.resolve()
    assert geography.county_name() == geography.active().name and len(geography.districts()) == 12


@pytest.mark.parametrize("root", [geography.BUILTIN_PACK, THREESHIRE, UNITARY], ids=["builtin", "three", "unitary"])
def test_shipped_packs_have_no_problems(root: Path) -> None:
    assert pack_problems(root) == []


@pytest.mark.parametrize(
    ("root", "sizes", "kw"),
    [(THREESHIRE, [7, 7, 6], {"name": "Threeshire", "code": "E10900001"}),
     (UNITARY, [9], {"name": "Uniton", "code": "E06900001", "unitary": True})],
    ids=["three", "unitary"],
)  # fmt: skip
def test_shipped_test_packs_are_what_the_generator_makes(tmp_path: Path, root: Path, sizes, kw) -> None:
    fresh = generate_pack(tmp_path / "fresh", sizes, **kw)
    assert {p.name: p.read_bytes() for p in fresh.iterdir()} == {p.name: p.read_bytes() for p in root.iterdir()}


def test_using_a_pack_switches_every_lookup_to_its_districts(restore_pack: None) -> None:
    use_pack(THREESHIRE)
    assert geography.county_name() == "Threeshire"
    assert [d.code for d in geography.districts()] == ["E07900001", "E07900002", "E07900003"]
    assert len(geography.all_wards()) == 20 and len(geography.ward_outlines()) == 20
    assert geography.district_named("threeshire district 2").code == "E07900002"


def test_a_district_outside_the_active_pack_is_refused_naming_the_packs_districts(restore_pack: None) -> None:
    use_pack(THREESHIRE)
    with pytest.raises(UnknownDistrictError, match=r"Known Threeshire districts: E07900001 \(Threeshire District 1\)"):
        geography.district("E07000110")


def test_the_environment_variable_chooses_the_pack(restore_pack: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(UNITARY))
    assert geography.county_name() == "Uniton" and len(geography.districts()) == 1


def test_a_unitary_pack_is_one_district_with_its_wards(restore_pack: None) -> None:
    use_pack(UNITARY)
    (only,) = geography.districts()
    assert only.code.startswith("E06") and len(geography.wards(only.code)) == 9


def test_council_tax_by_band_is_read_in_band_order() -> None:
    d = load_pack(THREESHIRE).districts[0]
    assert d.council_tax is not None and len(d.council_tax) == 8
    assert d.council_tax[3] * 6 / 9 == pytest.approx(d.council_tax[0], abs=0.01)  # band A is 6/9 of band D


def test_a_generated_300_district_pack_loads_with_unique_codes(tmp_path: Path) -> None:
    geo = load_pack(generate_pack(tmp_path / "big", [2] * 300, name="Bigshire"))
    assert len(geo.districts) == 300 and len({d.code for d in geo.districts}) == 300
    assert len(geo.wards) == 600


def test_using_a_broken_pack_leaves_the_active_pack_alone(restore_pack: None, pack: Path) -> None:
    (pack / "wards.csv").unlink()
    with pytest.raises(PackError, match="wards.csv: file not found"):
        use_pack(pack)
    assert geography.county_name() == load_pack(geography.BUILTIN_PACK).name


# ---- every problem check names ----------------------------------------------------------------------------


def test_a_missing_pack_toml_is_named(pack: Path) -> None:
    (pack / "pack.toml").unlink()
    assert pack_problems(pack) == [f"pack.toml: file not found in {pack}"]


def test_a_missing_licence_and_source_are_named(pack: Path) -> None:
    text = (pack / "pack.toml").read_text()
    text = text.replace('licence = "CC0 (generated test data)"', 'licence = ""', 1).replace(
        "source = ", "# source = ", 1
    )
    (pack / "pack.toml").write_text(text)
    problems = pack_problems(pack)
    assert "pack.toml: [files.districts] names no licence" in problems
    assert "pack.toml: [files.districts] names no source" in problems


def test_a_malformed_area_code_is_named(pack: Path) -> None:
    text = (pack / "pack.toml").read_text().replace('code = "E10900001"', 'code = "KENT1"')
    (pack / "pack.toml").write_text(text)
    assert "pack.toml: code 'KENT1' is not an ONS code (a letter and 8 digits)" in pack_problems(pack)


def test_a_malformed_district_code_is_named(pack: Path) -> None:
    rewrite(pack / "districts.csv", lambda rows: [{**rows[0], "code": "E0790001"}, *rows[1:]])
    assert any("district code 'E0790001' is not an ONS code" in p for p in pack_problems(pack))


def test_a_malformed_ward_code_is_named(pack: Path) -> None:
    rewrite(pack / "wards.csv", lambda rows: [{**rows[0], "code": "W1"}, *rows[1:]])
    assert any("ward code 'W1' is not an ONS code" in p for p in pack_problems(pack))


def test_a_ward_in_no_listed_district_is_named(pack: Path) -> None:
    rewrite(pack / "wards.csv", lambda rows: [{**rows[0], "district_code": "E07999999"}, *rows[1:]])
    assert any("is in district 'E07999999', which is not in districts.csv" in p for p in pack_problems(pack))


def test_a_ward_listed_twice_is_named(pack: Path) -> None:
    rewrite(pack / "wards.csv", lambda rows: [*rows, rows[0]])
    assert f"wards.csv: ward code {'E05900001'} appears more than once" in pack_problems(pack)


def test_a_district_without_wards_is_named(pack: Path) -> None:
    rewrite(pack / "wards.csv", lambda rows: [r for r in rows if r["district_code"] != "E07900003"])
    problems = pack_problems(pack)
    assert "districts.csv: district E07900003 (Threeshire District 3) has no wards in wards.csv" in problems


def test_missing_figures_are_named(pack: Path) -> None:
    rewrite(pack / "districts.csv", lambda rows: [{**rows[0], "dwellings": ""}, *rows[1:]])
    assert "districts.csv line 2 dwellings: '' is not a number" in pack_problems(pack)


def test_a_missing_column_is_named(pack: Path) -> None:
    rewrite(pack / "districts.csv", lambda rows: [{k: v for k, v in r.items() if k != "uc_households"} for r in rows])
    assert "districts.csv: missing column(s) uc_households" in pack_problems(pack)


def test_partial_council_tax_bands_are_named(pack: Path) -> None:
    rewrite(pack / "districts.csv", lambda rows: [{**rows[0], "council_tax_h": ""}, *rows[1:]])
    assert "districts.csv line 2: council tax needs all of bands A-H or none" in pack_problems(pack)


def test_a_boundary_matching_no_ward_and_a_ward_without_boundary_are_named(pack: Path) -> None:
    geo = json.loads((pack / "boundaries.geojson").read_text())
    geo["features"][0]["properties"]["ward_code"] = "E05999999"
    (pack / "boundaries.geojson").write_text(json.dumps(geo))
    problems = pack_problems(pack)
    assert "boundaries.geojson: boundary E05999999 matches no ward in wards.csv" in problems
    assert "boundaries.geojson: ward E05900001 has no boundary" in problems


def test_a_degenerate_ring_is_named(pack: Path) -> None:
    geo = json.loads((pack / "boundaries.geojson").read_text())
    geo["features"][0]["geometry"]["coordinates"] = [[[0, 0], [1, 1], [0, 0]]]
    (pack / "boundaries.geojson").write_text(json.dumps(geo))
    assert "boundaries.geojson: boundary E05900001 has a ring of fewer than 4 points" in pack_problems(pack)


def test_check_prints_every_problem_and_exits_2(pack: Path) -> None:
    rewrite(pack / "wards.csv", lambda rows: [{**rows[0], "code": "W1"}, {**rows[1], "district_code": "X"}, *rows[2:]])
    result = CliRunner().invoke(main, ["geography", "check", str(pack)])
    assert result.exit_code == 2
    assert (
        "ward code 'W1' is not an ONS code" in result.stdout and "'X', which is not in districts.csv" in result.stdout
    )


def test_check_of_a_good_pack_says_what_it_holds() -> None:
    result = CliRunner().invoke(main, ["geography", "check", str(THREESHIRE)])
    assert result.exit_code == 0, result.output
    assert "Threeshire (E10900001): 3 districts, 20 wards; pack OK" in result.stdout


def test_choosing_a_broken_pack_on_the_command_line_is_a_usage_error(restore_pack: None, pack: Path) -> None:
    (pack / "districts.csv").unlink()
    result = CliRunner().invoke(main, ["--geography", str(pack), "geography", "check", str(THREESHIRE)])
    assert result.exit_code == 2 and "districts.csv: file not found" in result.output


# ---- import from ONS downloads ----------------------------------------------------------------------------


def ons_downloads(tmp_path: Path) -> tuple[Path, Path]:
    """An ONS-style lookup CSV and boundaries GeoJSON (WD24/LAD24 fields, dense rings) made from the test pack."""
    geo = load_pack(THREESHIRE)
    lookup = tmp_path / "WD24_LAD24_lookup.csv"
    with lookup.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(["FID", "WD24CD", "WD24NM", "LAD24CD", "LAD24NM"])
        w.writerows([i, x.code, x.name, x.district_code, x.district_name] for i, x in enumerate(geo.wards))
    features = []
    for o in geo.outlines:
        dense = [[(x + k * (x2 - x) / 50, y + k * (y2 - y) / 50) for (x, y), (x2, y2) in zip(r, r[1:], strict=False)
                  for k in range(50)] + [r[0]] for r in o.rings]  # fmt: skip
        props = {"WD24CD": o.code, "WD24NM": "n/a", "BNG_E": 1}
        features.append({"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": dense}})
    boundaries = tmp_path / "Wards_May_2024_Boundaries.geojson"
    boundaries.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    figures = tmp_path / "figures.csv"
    figures.write_text(
        "code,dwellings,uc_households\n" + "".join(f"{d.code},{d.dwellings},{d.uc_households}\n" for d in geo.districts)
    )
    return lookup, boundaries


def test_import_builds_a_pack_check_accepts_from_ons_downloads(tmp_path: Path) -> None:
    lookup, boundaries = ons_downloads(tmp_path)
    out = tmp_path / "imported"
    args = ["geography", "import", "--lookup", str(lookup), "--boundaries", str(boundaries), "--out", str(out),
            "--name", "Importshire", "--code", "E10900009", "--figures", str(tmp_path / "figures.csv")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert pack_problems(out) == []
    geo = load_pack(out)
    assert (geo.name, len(geo.districts), len(geo.wards)) == ("Importshire", 3, 20)
    # Dense straight edges simplify back to the squares' four corners (and the closing point).
    assert sum(len(r) for o in geo.outlines for r in o.rings) == 20 * 5
    original = {w.code: w for w in load_pack(THREESHIRE).wards}
    assert all(w.area_km2 == pytest.approx(original[w.code].area_km2, rel=1e-3) for w in geo.wards)


def test_import_without_figures_writes_a_pack_check_lists_as_unfinished(tmp_path: Path) -> None:
    lookup, boundaries = ons_downloads(tmp_path)
    out = tmp_path / "unfinished"
    args = ["geography", "import", "--lookup", str(lookup), "--boundaries", str(boundaries), "--out", str(out),
            "--name", "Importshire", "--code", "E10900009", "--district", "E07900002"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "to do: districts.csv: fill in dwellings" in result.stdout
    problems = pack_problems(out)
    assert "districts.csv line 2 dwellings: '' is not a number" in problems
    assert "pack.toml: [files.districts] names no licence" in problems


def test_import_names_a_lookup_without_ons_columns(tmp_path: Path) -> None:
    _, boundaries = ons_downloads(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("ward,district\nx,y\n")
    args = ["geography", "import", "--lookup", str(bad), "--boundaries", str(boundaries), "--out",
            str(tmp_path / "o"), "--name", "X", "--code", "E10900009"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "bad.csv: no WDyyCD column" in result.output


def test_import_names_wards_with_no_boundary(tmp_path: Path) -> None:
    lookup, boundaries = ons_downloads(tmp_path)
    geo = json.loads(boundaries.read_text())
    geo["features"] = geo["features"][1:]
    boundaries.write_text(json.dumps(geo))
    args = ["geography", "import", "--lookup", str(lookup), "--boundaries", str(boundaries), "--out",
            str(tmp_path / "o"), "--name", "X", "--code", "E10900009"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "no boundary for 1 ward(s) of the lookup, e.g. E05900001" in result.output


# ---- simplification and measures ----------------------------------------------------------------------------


points = st.lists(st.tuples(st.floats(-2, 2), st.floats(50, 54)), min_size=3, max_size=60)


@given(points, st.floats(0, 0.1))
def test_douglas_peucker_keeps_the_ends_and_a_subsequence(line, tolerance) -> None:
    out = douglas_peucker(line, tolerance)
    assert out[0] == line[0] and out[-1] == line[-1]
    it = iter(line)
    assert all(p in it for p in out)  # an ordered subsequence of the input


@given(points, st.floats(0, 0.1))
def test_a_simplified_ring_stays_closed(line, tolerance) -> None:
    ring = simplify_ring([*line, line[0]], tolerance)
    assert ring[0] == ring[-1] and len(ring) >= min(4, len(line) + 1)


def test_area_and_centroid_of_a_square_with_a_hole() -> None:
    outer = [(0.0, 52.0), (0.1, 52.0), (0.1, 52.1), (0.0, 52.1), (0.0, 52.0)]
    hole = [(0.04, 52.04), (0.04, 52.06), (0.06, 52.06), (0.06, 52.04), (0.04, 52.04)]
    full, lat, lon = area_and_centroid([[outer]])
    holed, _, _ = area_and_centroid([[outer, hole]])
    assert (lat, lon) == (pytest.approx(52.05), pytest.approx(0.05))
    assert holed == pytest.approx(full * 0.96) and 70 < full < 80  # about 6.9 km x 11.1 km


def test_a_node_config_names_its_geography_pack_relative_to_the_file(tmp_path: Path) -> None:
    from node.config import NodeConfig, load_node_config, write_node_config

    pack = Path(shutil.copytree(THREESHIRE, tmp_path / "packs" / "three"))
    config = NodeConfig("E07900001", "127.0.0.1:1", tmp_path / "d", tmp_path / "s", tmp_path / "p", tmp_path / "k",
                        None, geography=pack)  # fmt: skip
    write_node_config(config, tmp_path / "node.toml")
    assert 'geography = "packs/three"' in (tmp_path / "node.toml").read_text()
    assert load_node_config(tmp_path / "node.toml").geography == pack
