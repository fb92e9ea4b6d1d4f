"""The whole path on packs other than Kent: synthetic data, nodes, a county query and the report with its map."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from analysis.index_refresh import refresh_index_month
from cli.local_county import ANALYST
from cli.main import main
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import ENV_VAR, load_pack, use_pack
from tests.county import RunningCounty, running_county

PACKS = Path(__file__).parent / "packs"
BASE, LATEST = "2025-09", "2025-10"
KENT_WORDS = ("Kent", "Maidstone", "Thanet", "E07000")


@pytest.fixture(scope="module")
def threeshire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCounty]:
    """The three-district test county running end to end (the built-in pack is active again afterwards)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ENV_VAR, raising=False)
        use_pack(PACKS / "threeshire")
        try:
            with running_county(tmp_path_factory.mktemp("threeshire"), scale=0.3, months=2) as county:
                yield county
        finally:
            use_pack(None)


def count_query(**kwargs) -> query_pb2.Query:
    return query_pb2.Query(
        query_id=str(uuid.uuid4()),
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        months=[LATEST],
        privacy=query_pb2.PrivacyRequest(epsilon=1.0),
        purpose="test",
        **kwargs,
    )


def test_a_county_query_is_answered_by_every_district_of_the_pack(threeshire: RunningCounty) -> None:
    result = threeshire.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=count_query()), timeout=60)
    assert sorted(d.district_code for d in result.districts if d.answered) == ["E07900001", "E07900002", "E07900003"]
    (county_cell,) = [c for c in result.cells if c.level == query_pb2.Cell.COUNTY]
    assert county_cell.value > 0
    assert result.coverage.area == "Threeshire"


def test_ward_answers_carry_the_packs_ward_codes(threeshire: RunningCounty) -> None:
    query = count_query(group_by=["ward_code"])
    result = threeshire.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)
    wards = {
        k.value for c in result.cells if c.level == query_pb2.Cell.GROUP for k in c.keys if k.column == "ward_code"
    }
    assert wards == {w.code for w in load_pack(PACKS / "threeshire").wards}


def test_the_report_draws_the_packs_map_and_never_names_kent(threeshire: RunningCounty, tmp_path: Path) -> None:
    stub = threeshire.coordinator_stub()
    for m in (BASE, LATEST):
        refresh_index_month(lambda fq: stub.Submit(fq, timeout=60), m, rho=2.0)
    out = tmp_path / "threeshire.html"
    connection = ["--address", threeshire.local.coordinator_address, "--pki", str(threeshire.local.pki_dir)]
    args = ["report", "--out", str(out), "--month", LATEST, "--base-month", BASE, *connection, "--identity", ANALYST]
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 3), result.output  # 3: the benchmark and unclaimed figures were never asked
    page = out.read_text()
    drawn = set(re.findall(r'<path class="ward" data-ward="([^"]+)"', page))
    assert drawn == {w.code for w in load_pack(PACKS / "threeshire").wards}
    assert 'aria-label="Ward map of Threeshire"' in page and "Threeshire District 2" in page
    assert [w for w in KENT_WORDS if w in page] == []


def test_a_unitary_pack_runs_end_to_end_with_one_district(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    use_pack(PACKS / "unitary")
    try:
        with running_county(tmp_path / "unitary", scale=0.3, months=1) as county:
            query = count_query(group_by=["ward_code"])
            result = county.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)
    finally:
        use_pack(None)
    assert [d.district_code for d in result.districts if d.answered] == ["E06900001"]
    assert result.coverage.area == "Uniton"
    assert len({c.district_code for c in result.cells if c.level == query_pb2.Cell.GROUP}) == 1
