"""Specifications for coverage and month alignment end to end: a district down, a district a month behind, a quorum."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cli.local_county import ANALYST, COORDINATOR
from cli.main import main
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import districts
from tests.county import RunningCounty, running_county
from tests.test_end_to_end import cts_query

CODES = [d.code for d in districts()[:3]]
NAMES = {d.code: d.name for d in districts()}


def submit(county: RunningCounty, query: query_pb2.Query) -> coordinator_pb2.FederatedResult:
    return county.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)


def latest_query() -> query_pb2.Query:
    query = cts_query()
    del query.months[:]  # "latest"
    return query


def county_cells(result: coordinator_pb2.FederatedResult) -> dict[str, query_pb2.Cell]:
    return {c.keys[0].value: c for c in result.cells if c.level == query_pb2.Cell.COUNTY}


def behind(code: str, month: str = "2025-10"):
    def drop(data_dir: Path) -> None:
        for f in (data_dir / code).glob(f"{month}*"):
            f.unlink()

    return drop


def cli(county: RunningCounty, *args: str):
    local = county.local
    return CliRunner().invoke(
        main,
        [
            *args,
            "--address",
            local.coordinator_address,
            "--pki",
            str(local.pki_dir),
            "--identity",
            ANALYST,
            "--server-name",
            COORDINATOR,
        ],
    )


def test_a_county_figure_with_a_district_down_names_it_and_is_not_complete(tmp_path) -> None:
    with running_county(tmp_path, codes=CODES) as county:
        county.stop_node(CODES[1])
        result = submit(county, cts_query())
    (month,) = result.coverage.months
    assert not result.complete and not result.coverage.complete
    assert list(month.contributing) == [CODES[0], CODES[2]]
    assert [(m.district_code, m.reason) for m in month.missing] == [(CODES[1], "unreachable")]
    assert month.quorate and month.month in county_cells(result)


def test_the_cli_labels_the_county_row_with_its_coverage_and_exits_partial(tmp_path) -> None:
    with running_county(tmp_path, codes=CODES) as county:
        county.stop_node(CODES[1])
        out = cli(county, "query", "count", "--where", "on_cts = true", "--epsilon", "1", "--yes")
    assert out.exit_code == 3, out.output
    assert f"Kent, 2 of 3 districts; {NAMES[CODES[1]]} missing: unreachable" in out.output
    assert "(12 districts)" not in out.output


def test_a_complete_answer_exits_zero_and_says_all_districts(tmp_path) -> None:
    with running_county(tmp_path, codes=CODES) as county:
        out = cli(county, "query", "count", "--where", "on_cts = true", "--epsilon", "1", "--yes", "--json")
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["complete"] is True and body["coverage"]["complete"] is True
    assert body["coverage"]["registered"] == 3


def test_latest_is_the_latest_month_that_meets_the_quorum(tmp_path) -> None:
    settings = {"quorum_districts": 3}
    with running_county(tmp_path, codes=CODES, before_start=behind(CODES[2]), coordinator_settings=settings) as county:
        result = submit(county, latest_query())
    assert list(result.query.months) == ["2025-09"] and result.coverage.latest
    assert result.complete and set(county_cells(result)) == {"2025-09"}


def test_with_a_district_a_month_behind_latest_sums_only_the_districts_that_hold_it(tmp_path) -> None:
    with running_county(tmp_path, codes=CODES, before_start=behind(CODES[2])) as county:
        result = submit(county, latest_query())
    (month,) = result.coverage.months
    assert month.month == "2025-10" and list(month.contributing) == CODES[:2]
    assert [(m.district_code, m.reason) for m in month.missing] == [(CODES[2], "no snapshot for 2025-10")]
    totals = [c for c in result.cells if c.level == query_pb2.Cell.DISTRICT]
    assert {c.keys[0].value for c in totals} == {"2025-10"}
    assert county_cells(result)["2025-10"].value == sum(c.value for c in totals)


def test_below_the_quorum_the_county_figure_is_withheld_and_districts_still_shown(tmp_path) -> None:
    with running_county(tmp_path, codes=CODES, coordinator_settings={"quorum_districts": 3}) as county:
        county.stop_node(CODES[0])
        result = submit(county, cts_query())
    (month,) = result.coverage.months
    assert not month.quorate and county_cells(result) == {}
    assert NAMES[CODES[0]] in month.withheld and "quorum" in month.withheld
    assert {c.district_code for c in result.cells if c.level == query_pb2.Cell.DISTRICT} == set(CODES[1:])


def test_lsi_status_exits_unreachable_when_a_node_is_down(tmp_path) -> None:
    with running_county(tmp_path, codes=CODES) as county:
        county.stop_node(CODES[1])
        out = cli(county, "status")
    assert out.exit_code == 5, out.output
    assert "NOT SERVING" in out.output


def test_a_retried_latest_query_replays_its_month_at_no_charge(tmp_path) -> None:
    with running_county(tmp_path, codes=CODES) as county:
        query = latest_query()
        first = submit(county, query)
        again = submit(county, query)
    assert list(again.query.months) == list(first.query.months) == ["2025-10"]
    assert all(d.replayed and d.charge.rho == 0 for d in again.districts)


def test_with_every_district_down_a_latest_query_answers_with_every_district_missing(tmp_path) -> None:
    with running_county(tmp_path, codes=CODES) as county:
        for code in CODES:
            county.stop_node(code)
        result = submit(county, latest_query())
    assert not result.complete and not [c for c in result.cells]
    assert all(not d.answered and d.error_code == "UNAVAILABLE" for d in result.districts)
