"""County analyses: the index refresh and series, benchmarks, unclaimed support, campaigns, the report command.

End-to-end tests use the session county (12 in-process nodes over mutual TLS, 3 months ending 2025-10, no
minimum cell); pure tests pass a fake `submit` that answers with fixed district cells.
"""

from __future__ import annotations

import re

import grpc
import pytest
from click.testing import CliRunner

from analysis.campaigns import campaign_results
from analysis.client import CoordinatorClient
from analysis.district_benchmarks import benchmark
from analysis.federated import Areas
from analysis.index_refresh import IndexInputs, index_queries, index_series, refresh_index_month
from analysis.lsi import COMPONENTS
from analysis.unclaimed import PC_VALUE_UPPER, unclaimed, unclaimed_queries
from cli.local_county import ANALYST
from cli.main import main
from common.estimates import Estimate
from node.executor import exact_aggregate
from node.query import validate
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import district, districts
from tests.county import RunningCounty

BASE, LATEST = "2025-08", "2025-10"
RHO = 2.0  # one budget for every refresh in these tests: a month is refreshed once, at one budget


def submitter(county: RunningCounty):
    stub = county.coordinator_stub()
    return lambda fq: stub.Submit(fq, timeout=60)


def spent(county: RunningCounty) -> dict[str, float]:
    return {code: e.store.spent().spent_rho for code, e in county.engines.items()}


def connection(county: RunningCounty) -> list[str]:
    return ["--address", county.local.coordinator_address, "--pki", str(county.local.pki_dir), "--identity", ANALYST]


# --------------------------------------------------------------------------------------------- index


def test_the_base_month_index_is_100_at_county_district_and_ward_level(county: RunningCounty) -> None:
    submit = submitter(county)
    inputs = {m: refresh_index_month(submit, m, rho=RHO) for m in (BASE, LATEST)}
    series = index_series(inputs, BASE)
    assert series.county[BASE] == Estimate(100.0, 0.0)
    assert len(series.districts) == 12
    assert all(s[BASE] == Estimate(100.0, 0.0) for s in series.districts.values())
    assert len(series.wards) >= 0.9 * sum(len(e.wards) for e in county.engines.values())
    assert all(s[BASE] == Estimate(100.0, 0.0) for s in series.wards.values())
    # Another month carries the noise of both months' inputs.
    assert series.county[LATEST].variance > 0
    assert all(s[LATEST].variance > 0 for s in series.districts.values())


def test_a_refresh_asks_the_household_count_and_every_component_by_ward_within_its_rho() -> None:
    queries = index_queries(LATEST, rho=0.7)
    assert [q.indicator for q in queries] == ["households", *(c.name for c in COMPONENTS)]
    assert sum(q.privacy.rho for q in queries) == pytest.approx(0.7)
    assert all(list(q.group_by) == ["ward_code"] and list(q.months) == [LATEST] for q in queries)


def test_rerunning_a_refresh_replays_the_stored_results_at_no_cost(county: RunningCounty) -> None:
    submit = submitter(county)
    first = refresh_index_month(submit, LATEST, rho=RHO)
    before = spent(county)
    again = refresh_index_month(submit, LATEST, rho=RHO)
    assert spent(county) == before
    assert again.charged_rho and all(v == 0 for v in again.charged_rho.values())
    assert again.households == first.households and again.components == first.components


def test_refreshing_a_month_again_at_another_budget_is_refused(county: RunningCounty) -> None:
    submit = submitter(county)
    refresh_index_month(submit, LATEST, rho=RHO)
    with pytest.raises(grpc.RpcError) as err:
        refresh_index_month(submit, LATEST, rho=RHO / 2)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_index_show_reads_stored_refreshes_and_spends_nothing(county: RunningCounty) -> None:
    submit = submitter(county)
    for m in (BASE, LATEST):
        refresh_index_month(submit, m, rho=RHO)
    before = spent(county)
    out = CliRunner().invoke(main, ["index", "show", "--from", BASE, *connection(county)])
    assert out.exit_code == 0, out.output
    assert spent(county) == before
    assert f"Kent, 12 districts in {LATEST}" in out.output and "100.0" in out.output and "Ashford" in out.output


def _areas(value: float, ward_value: float | None) -> Areas:
    wards = {} if ward_value is None else {"W1": Estimate(ward_value, 1.0)}
    return Areas(Estimate(value * 10, 1.0), {"D1": Estimate(value * 10, 1.0)}, wards)


def test_a_ward_with_a_withheld_input_in_the_base_month_has_no_index() -> None:
    def month(withhold: bool) -> IndexInputs:
        comps = {
            c.name: _areas(
                100.0 if c.reference else 20.0,
                None if withhold and c.name == "food_poverty" else (100.0 if c.reference else 2.0),
            )
            for c in COMPONENTS
        }
        return IndexInputs("m", _areas(100.0, 10.0), comps)

    series = index_series({"2025-01": month(withhold=True), "2025-02": month(withhold=False)}, "2025-01")
    assert "W1" not in series.wards and "D1" in series.districts
    assert any("wards have no index" in n for n in series.notes)


def test_a_series_across_april_marks_the_new_rates_year_as_a_break() -> None:
    def month() -> IndexInputs:
        comps = {c.name: _areas(100.0 if c.reference else 20.0, 100.0 if c.reference else 2.0) for c in COMPONENTS}
        return IndexInputs("m", _areas(100.0, 10.0), comps)

    series = index_series({"2025-03": month(), "2025-04": month(), "2025-05": month()}, "2025-03")
    assert series.breaks == ("2025-04",)
    assert any(n.startswith("Break in 2025-04: a new rates year") for n in series.notes)


# ---------------------------------------------------------------------------------------- benchmarks


def fake_counts(values: dict[tuple[str, str], float], variance: float = 4.0):
    """A submit that answers any count query with the given district totals per (month, district)."""
    asked: list[query_pb2.Query] = []

    def submit(fq: coordinator_pb2.FederatedQuery) -> coordinator_pb2.FederatedResult:
        asked.append(fq.query)
        cells = [
            query_pb2.Cell(
                level=query_pb2.Cell.DISTRICT,
                district_code=code,
                value=v,
                variance=variance,
                keys=[query_pb2.GroupKey(column="month", value=m)],
            )
            for (m, code), v in values.items()
            if m in fq.query.months or not fq.query.months
        ]
        answered = sorted({code for _, code in values})
        return coordinator_pb2.FederatedResult(
            query_id=fq.query.query_id,
            query=fq.query,
            cells=cells,
            complete=True,
            districts=[coordinator_pb2.DistrictOutcome(district_code=c, answered=True) for c in answered],
        )

    return submit, asked


def test_benchmark_rates_ranks_and_changes_follow_the_released_counts() -> None:
    codes = [d.code for d in districts()[:3]]
    now = {c: 100.0 * (i + 1) for i, c in enumerate(codes)}
    values = {
        **{("2025-10", c): v for c, v in now.items()},
        **{("2025-09", c): v - 10 for c, v in now.items()},
        **{("2024-10", c): v - 30 for c, v in now.items()},
    }
    submit, asked = fake_counts(values)
    b = benchmark(submit, "households_in_crisis", "2025-10", epsilon=1.0)
    assert list(asked[0].months) == ["2025-10", "2025-09", "2024-10"]
    rows = {r.district_code: r for r in b.rows}
    for c in codes:
        per_k = 1000.0 / district(c).households
        assert rows[c].rate.value == pytest.approx(now[c] * per_k)
        assert rows[c].change_month.value == pytest.approx(10 * per_k)
        assert rows[c].change_year.value == pytest.approx(30 * per_k)
        assert rows[c].change_month.variance == pytest.approx(2 * 4.0 * per_k**2)
    total_hh = sum(district(c).households for c in codes)
    assert b.county_rate.value == pytest.approx(sum(now.values()) * 1000 / total_hh)
    assert all(r.rank.best <= r.rank.point <= r.rank.worst for r in b.rows)
    assert all(r.vs_county.value == pytest.approx(r.rate.value - b.county_rate.value) for r in b.rows)


def test_benchmark_leaves_out_months_the_nodes_do_not_hold() -> None:
    codes = [d.code for d in districts()[:2]]
    submit, asked = fake_counts({("2025-10", c): 50.0 for c in codes} | {("2025-09", c): 40.0 for c in codes})
    b = benchmark(submit, "households_in_crisis", "2025-10", epsilon=1.0, held=["2025-09", "2025-10"])
    assert list(asked[0].months) == ["2025-10", "2025-09"]
    assert b.year_ago is None and all(r.change_year is None and r.change_month is not None for r in b.rows)


def test_benchmark_over_the_county_gives_intervals_ranks_and_changes(county: RunningCounty) -> None:
    held = next(iter(county.engines.values())).months
    b = benchmark(submitter(county), "households_in_crisis", LATEST, epsilon=1.0, held=held)
    assert len(b.rows) == 12 and b.year_ago is None and b.previous_month == "2025-09"
    for r in b.rows:
        low, high = r.rate.ci()
        assert low < r.rate.value < high
        assert 1 <= r.rank.best <= r.rank.point <= r.rank.worst <= 12
        assert r.change_month is not None and r.change_month.variance > 0
    assert {r.rank.point for r in b.rows} == set(range(1, 13))


# ------------------------------------------------------------------------------------ unclaimed support


def exact_totals(county: RunningCounty, query: query_pb2.Query) -> dict[str, float]:
    out = {}
    for code, engine in county.engines.items():
        vq = validate(query, columns=engine.columns, months=engine.months)
        agg = exact_aggregate(engine.frames, vq, engine.columns, engine.wards)
        out[code] = float((agg.counts if query.measure.kind == query_pb2.Measure.COUNT else agg.sums)[-1])
    return out


def test_unclaimed_intervals_cover_the_exact_figures_at_a_generous_budget(county: RunningCounty) -> None:
    table = unclaimed(submitter(county), LATEST, epsilon=20.0)
    exact = {q.indicator: exact_totals(county, q) for q in unclaimed_queries(LATEST, epsilon=20.0)}
    fields = {
        "pc_unclaimed_households": "pc_households",
        "pc_unclaimed_value": "pc_value",
        "fsm_unclaimed_households": "fsm_households",
        "fsm_unclaimed_children": "fsm_children",
    }
    inside = trials = 0
    for name, attr in fields.items():
        areas = [(a, exact[name][a.code]) for a in table.districts]
        areas.append((table.county, sum(exact[name].values())))
        for area, truth in areas:
            low, high = getattr(area, attr).ci()
            trials += 1
            inside += low <= truth <= high
    assert trials == 4 * 13
    # 52 nominal 95% intervals: fewer than 80% inside would be far outside sampling variation.
    assert inside / trials >= 0.8, f"{inside} of {trials} intervals held the exact figure"


def test_unclaimed_by_ward_gives_every_ward_and_clamps_pension_credit_at_the_analysis_bound() -> None:
    queries = unclaimed_queries(LATEST, epsilon=2.0, by_ward=True)
    assert all(q.privacy.epsilon == pytest.approx(0.5) and list(q.group_by) == ["ward_code"] for q in queries)
    (value,) = [q for q in queries if q.indicator == "pc_unclaimed_value"]
    assert value.measure.upper == PC_VALUE_UPPER


# ------------------------------------------------------------------------------------------ campaigns


def test_campaign_results_ask_the_campaign_dataset_and_return_a_row_per_district() -> None:
    codes = [d.code for d in districts()[:2]]
    submit, asked = fake_counts({("2025-10", c): 7.0 for c in codes})
    rows = campaign_results(submit, "pc-letters", epsilon=1.0)
    assert {q.dataset for q in asked} == {"campaign:pc-letters"}
    assert {q.indicator for q in asked} >= {"campaign_contacted", "campaign_claimed", "campaign_gained"}
    assert [r.district_code for r in rows] == codes
    assert all(r.campaign == "pc-letters" and r.claimed.value == 7.0 for r in rows)


# --------------------------------------------------------------------------------------------- report


def test_the_report_command_writes_one_self_contained_html_file_with_the_ward_map(
    county: RunningCounty, tmp_path
) -> None:
    submit = submitter(county)
    for m in (BASE, LATEST):
        refresh_index_month(submit, m, rho=RHO)
    held = CoordinatorClient(county.coordinator_stub()).months()
    benchmark(submit, "households_in_crisis", LATEST, epsilon=1.0, held=held)
    unclaimed(submit, LATEST, epsilon=2.0)
    before = spent(county)
    out_file = tmp_path / "kent.html"
    result = CliRunner().invoke(
        main, ["report", "--out", str(out_file), "--month", LATEST, "--base-month", BASE, *connection(county)]
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.strip() == str(out_file.resolve())
    assert spent(county) == before
    page = out_file.read_text()
    assert "<script" not in page.lower() and "<link" not in page.lower()
    coloured = re.findall(r'<path class="ward" data-ward="[^"]+" fill="#', page)
    assert len(coloured) >= 0.9 * sum(len(e.wards) for e in county.engines.values())
    assert "Ashford" in page and "Privacy budget by node" in page


def test_the_report_reads_only_stored_results_and_marks_what_was_never_asked(county: RunningCounty, tmp_path) -> None:
    before = spent(county)
    out_file = tmp_path / "gaps.html"
    args = ["report", "--out", str(out_file), "--month", LATEST, "--benchmark-epsilon", "0.123", "--json"]
    result = CliRunner().invoke(main, [*args, *connection(county)])
    assert result.exit_code == 3, result.output + result.stderr
    body = json_of(result.stdout)
    assert not body["complete"] and any("lsi benchmark" in g and "0.123" in g for g in body["gaps"])
    assert out_file.exists() and "Benchmark not in your stored results" in out_file.read_text()
    assert spent(county) == before


def json_of(text: str) -> dict:
    import json

    return json.loads(text)
