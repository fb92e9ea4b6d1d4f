"""Specifications for a district's data problems (files skipped, rows set aside): exact facts about its records,
so the node gives them to its own IG officer (or the county's) only, and `lsi status --district` shows them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from cli.local_county import ANALYST, COORDINATOR, COUNTY_IG_OFFICER, ig_officer_name, node_name
from cli.main import main
from protos.lsi.v1 import coordinator_pb2, node_pb2
from protos.serde import quarantine_from_wire
from reference.geography import districts
from tests.county import RunningCounty, running_county

ASHFORD, CANTERBURY = districts()[0], districts()[1]
CODES = [ASHFORD.code, CANTERBURY.code]
MISNAMED = "October 2025.csv"
SET_ASIDE = 3


def spoil_ashford(data_dir: Path) -> None:
    """A misnamed file and three rows no schema accepts, in Ashford's folder only."""
    folder = data_dir / ASHFORD.code
    (folder / MISNAMED).write_text("not a snapshot\n")
    path = folder / "2025-10.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[[1, 5, 9], "claimant_age"] = "abc"
    frame.to_csv(path, index=False)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCounty]:
    root = tmp_path_factory.mktemp("problems")
    with running_county(root, codes=CODES, months=1, before_start=spoil_ashford, strict=False) as running:
        yield running


def problems(county: RunningCounty, identity: str | None = None) -> node_pb2.DataProblemsReport:
    return county.node_stub(ASHFORD.code, identity=identity).DataProblems(node_pb2.DataProblemsRequest(), timeout=30)


def refused(county: RunningCounty, identity: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        problems(county, identity)
    return err.value


def test_the_districts_ig_officer_sees_skipped_files_and_rows_set_aside(county: RunningCounty) -> None:
    report = problems(county)
    assert [f.split(":")[0] for f in report.skipped_files] == [MISNAMED]
    assert quarantine_from_wire(report.quarantined) == {"2025-10": SET_ASIDE}


def test_the_county_ig_officer_is_refused_the_exact_counts(county: RunningCounty) -> None:
    assert refused(county, COUNTY_IG_OFFICER).code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_county_ig_officer_is_told_no_count_of_rows_set_aside(county: RunningCounty) -> None:
    described = county.node_stub(ASHFORD.code, identity=COUNTY_IG_OFFICER).Describe(
        node_pb2.DescribeRequest(), timeout=30
    )
    assert described.quarantined_rows == 0


def test_another_districts_ig_officer_is_refused_naming_both_districts(county: RunningCounty) -> None:
    err = refused(county, ig_officer_name(CANTERBURY))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "Canterbury" in (err.details() or "") and "Ashford" in (err.details() or "")


@pytest.mark.parametrize("identity", [ANALYST, COORDINATOR])
def test_an_analyst_or_the_coordinator_is_refused(county: RunningCounty, identity: str) -> None:
    assert refused(county, identity).code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_coordinator_is_told_no_count_of_rows_set_aside(county: RunningCounty) -> None:
    described = county.node_stub(ASHFORD.code, identity=COORDINATOR).Describe(node_pb2.DescribeRequest(), timeout=30)
    assert described.quarantined_rows == 0
    own = county.node_stub(ASHFORD.code).Describe(node_pb2.DescribeRequest(), timeout=30)
    assert own.quarantined_rows == SET_ASIDE


def test_what_analysts_see_of_the_county_carries_no_data_problem(county: RunningCounty) -> None:
    nodes = county.coordinator_stub(ANALYST).Nodes(coordinator_pb2.NodesRequest(), timeout=30)
    assert MISNAMED not in str(nodes) and "claimant_age" not in str(nodes)


def lsi_status(county: RunningCounty, identity: str, *args: str) -> Result:
    local = county.local
    return CliRunner().invoke(
        main,
        ["status", *args, "--address", local.coordinator_address, "--pki", str(local.pki_dir)]
        + ["--identity", identity, "--server-name", COORDINATOR],
    )


def test_lsi_status_for_a_district_shows_its_officer_the_problems(county: RunningCounty) -> None:
    out = lsi_status(county, ig_officer_name(ASHFORD), "--district", "Ashford")
    assert out.exit_code == 0, out.output
    assert f"{MISNAMED}: skipped, not a snapshot name" in out.output
    assert "2025-10" in out.output and f"  {SET_ASIDE}" in out.output


def test_lsi_status_for_a_clean_district_says_there_are_none(county: RunningCounty) -> None:
    out = lsi_status(county, ig_officer_name(CANTERBURY), "--district", "Canterbury")
    assert out.exit_code == 0, out.output
    assert "No data problems" in out.output


def test_lsi_status_node_direct_for_the_officer(county: RunningCounty) -> None:
    local = county.local
    out = CliRunner().invoke(
        main,
        ["status", "--node", "--address", local.node_address(ASHFORD.code), "--pki", str(local.pki_dir)]
        + ["--identity", ig_officer_name(ASHFORD), "--server-name", node_name(ASHFORD), "--json"],
    )
    assert out.exit_code == 0, out.output
    assert MISNAMED in out.output and f'"rows": {SET_ASIDE}' in out.output


@pytest.mark.parametrize("identity", [ANALYST, ig_officer_name(CANTERBURY)])
def test_lsi_status_refuses_anyone_else_with_exit_4_and_no_counts(county: RunningCounty, identity: str) -> None:
    out = lsi_status(county, identity, "--district", "Ashford")
    assert out.exit_code == 4, out.output
    assert MISNAMED not in out.output and "Traceback" not in out.output
