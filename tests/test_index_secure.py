"""The index refresh with secure county cells (issue 15): county figures from secure sums, district and ward figures
from the ward queries as before, and coverage that names a district missing from either."""

from __future__ import annotations

import math

import pytest

from analysis.index_refresh import (
    COUNTY_SHARE,
    INDEX_QUERIES,
    county_queries,
    index_inputs,
    index_queries,
    refresh_index_month,
    stored_index_month,
)
from protos.lsi.v1 import coordinator_pb2, query_pb2
from tests.county import RunningCounty

MONTH = "2025-09"  # a month no other test refreshes (ids are per month: one month, one budget)
RHO = 1.0


@pytest.fixture(scope="module")
def refreshed(county: RunningCounty):
    stub = county.coordinator_stub()
    before = {code: e.store.spent().spent_rho for code, e in county.engines.items()}
    inputs = refresh_index_month(lambda fq: stub.Submit(fq, timeout=120), MONTH, rho=RHO, secure_county=True)
    after = {code: e.store.spent().spent_rho for code, e in county.engines.items()}
    return inputs, before, after


def test_the_secure_queries_ask_county_totals_only_counts_and_sums_at_a_share_of_the_rho() -> None:
    queries = county_queries(MONTH, rho=RHO)
    assert list(queries) == list(INDEX_QUERIES)
    assert all(not q.group_by and q.privacy.WhichOneof("loss") == "rho" for q in queries.values())
    assert {q.measure.kind for q in queries.values()} <= {query_pb2.Measure.COUNT, query_pb2.Measure.SUM}
    assert math.fsum(q.privacy.rho for q in queries.values()) == pytest.approx(RHO * COUNTY_SHARE)
    wards = index_queries(MONTH, rho=RHO, secure_county=True)
    assert math.fsum(q.privacy.rho for q in wards) == pytest.approx(RHO * (1 - COUNTY_SHARE))


def test_a_secure_refresh_charges_each_node_its_rho_once(refreshed) -> None:
    inputs, before, after = refreshed
    for code, charged in inputs.charged_rho.items():
        # The secure sums' extra term for summed discrete Gaussians is charged on top (below 1e-9 each).
        assert charged == pytest.approx(RHO, rel=1e-6)
        assert after[code] - before[code] == pytest.approx(charged, rel=1e-9)


def test_secure_county_figures_carry_one_mechanisms_noise_not_every_districts(refreshed) -> None:
    inputs, _, _ = refreshed
    assert inputs.secure_county and not inputs.missing_districts
    for areas in (inputs.households, *inputs.components.values()):
        assert areas.county is not None and areas.districts and areas.wards
        # The plain county figure would be the districts' totals summed: their variances added.
        assert areas.county.variance < sum(d.variance for d in areas.districts.values())


def test_the_county_mean_surplus_is_the_secure_sum_over_the_secure_household_count(refreshed, county) -> None:
    inputs, _, _ = refreshed
    mean = inputs.components["mean_monthly_surplus"].county
    households = inputs.households.county
    assert mean is not None and households is not None
    assert -1500 <= mean.value <= 1500 and mean.variance > 0
    exact = sum(e.frames[MONTH]["monthly_surplus"].clip(-1500, 1500).sum() for e in county.engines.values())
    assert abs(mean.value - exact / households.value) < 6 * mean.sd + 1


def test_a_stored_secure_refresh_reads_back_the_same_figures_without_spending(refreshed, county) -> None:
    inputs, _, after = refreshed
    stub = county.coordinator_stub()

    def fetch(query_id: str) -> coordinator_pb2.FederatedResult | None:
        return stub.Result(coordinator_pb2.ResultRequest(query_id=query_id), timeout=30)

    stored = stored_index_month(fetch, MONTH)
    assert stored is not None and stored.secure_county
    assert stored.households == inputs.households and stored.components == inputs.components
    assert {code: e.store.spent().spent_rho for code, e in county.engines.items()} == after


def _result(level: int, district: str, answered: dict[str, bool], value: float = 10.0):
    cell = query_pb2.Cell(level=level, value=value, variance=1.0, district_code=district)
    cell.keys.add(column="month", value=MONTH)
    if level == query_pb2.Cell.GROUP:
        cell.keys.add(column="ward_code", value="W1")
    return coordinator_pb2.FederatedResult(
        cells=[cell],
        districts=[coordinator_pb2.DistrictOutcome(district_code=c, answered=a) for c, a in answered.items()],
    )


def test_a_district_missing_from_a_secure_total_is_listed_missing_though_it_gave_its_wards() -> None:
    everyone = {"A": True, "B": True}
    wards = {n: _result(query_pb2.Cell.GROUP, "A", everyone) for n in INDEX_QUERIES}
    secure = {n: _result(query_pb2.Cell.COUNTY, "", {"A": True, "B": n != "households"}) for n in INDEX_QUERIES}
    inputs = index_inputs(MONTH, wards, secure)
    assert inputs.missing_districts == ("B",)
    assert inputs.secure_county and inputs.households.wards == {"W1": inputs.households.wards["W1"]}


def test_the_cli_refresh_with_secure_county_says_so_and_replays_at_no_cost(refreshed, county) -> None:
    from click.testing import CliRunner

    from cli.local_county import ANALYST
    from cli.main import main

    _, _, after = refreshed
    connection = ["--address", county.local.coordinator_address, "--pki", str(county.local.pki_dir)]
    args = ["index", "refresh", "--month", MONTH, "--rho", str(RHO), "--secure-county", "--yes"]
    out = CliRunner().invoke(main, [*args, *connection, "--identity", ANALYST])
    assert out.exit_code == 0, out.output
    assert "county figures from secure sums" in out.output
    assert {code: e.store.spent().spent_rho for code, e in county.engines.items()} == after


def test_a_refused_secure_total_stops_the_refresh_before_any_ward_query_is_charged() -> None:
    asked: list[bool] = []

    def submit(fq: coordinator_pb2.FederatedQuery) -> coordinator_pb2.FederatedResult:
        asked.append(fq.secure)
        raise RuntimeError("FAILED_PRECONDITION: the share scale is below 1.5")

    with pytest.raises(RuntimeError, match="share scale"):
        refresh_index_month(submit, MONTH, rho=50.0, secure_county=True)
    assert asked == [True]
