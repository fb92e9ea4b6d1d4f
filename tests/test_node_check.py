"""Specifications for data problems made visible: skipped files, set-aside rows, and `lsi node check`."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from node.loader import load_district, unmatched_files
from node.synth import write_county

CODE = "E07000114"


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("county")
    write_county(root, seed=3, scale=0.02, months=1, end_month="2025-10")
    return root / CODE


def district_folder(snapshots: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(snapshots, folder)
    return folder


def write_config(tmp_path: Path, data: Path) -> Path:
    (tmp_path / "policy.toml").write_text("")
    (tmp_path / "audit.key").write_text("")
    config = tmp_path / "node.toml"
    config.write_text(
        f'[node]\ndistrict_code = "{CODE}"\nlisten = "127.0.0.1:0"\ndata_dir = "{data}"\n'
        'state_db = "state.sqlite"\npolicy = "policy.toml"\naudit_key = "audit.key"\nstrict_data = false\n'
    )
    return config


@pytest.mark.parametrize("name", ["2025-09.txt", "2025-09.CSV", "October 2025.csv"])
def test_a_file_the_naming_rule_skips_is_reported_with_what_to_do(snapshots, tmp_path, name: str) -> None:
    data = district_folder(snapshots, tmp_path)
    (data / name).write_text("x")
    (problem,) = unmatched_files(data)
    assert problem.startswith(f"{name}: skipped")
    assert ("rename it 2025-09.csv" in problem) == (name == "2025-09.CSV")


def test_skipped_files_and_set_aside_rows_are_logged_with_file_row_field_and_reason(
    snapshots, tmp_path, caplog
) -> None:
    data = district_folder(snapshots, tmp_path)
    (data / "2025-09.txt").write_text("x")
    snapshot = data / "2025-10.csv"
    lines = snapshot.read_text().splitlines()
    header = lines[0].split(",")
    bad = lines[1].split(",")
    bad[header.index("ward_code")] = "NOT-A-WARD"
    snapshot.write_text("\n".join([lines[0], ",".join(bad), *lines[2:]]) + "\n")
    with caplog.at_level(logging.WARNING, logger="node.loader"):
        load_district(data, CODE, strict=False)
    text = caplog.text
    assert "2025-09.txt: skipped" in text
    assert "quarantined: 2025-10.csv row 1, field ward_code" in text


def test_node_check_prints_every_problem_and_exits_2(snapshots, tmp_path) -> None:
    data = district_folder(snapshots, tmp_path)
    (data / "October 2025.csv").write_text("x")
    out = CliRunner().invoke(main, ["node", "check", "--config", str(write_config(tmp_path, data))])
    assert out.exit_code == 2, out.output
    assert "months held: 2025-10" in out.output and "problem: October 2025.csv: skipped" in out.output


def test_node_check_on_clean_data_exits_0(snapshots, tmp_path) -> None:
    data = district_folder(snapshots, tmp_path)
    out = CliRunner().invoke(main, ["node", "check", "--config", str(write_config(tmp_path, data))])
    assert out.exit_code == 0, out.output
    assert "no problems found" in out.output
