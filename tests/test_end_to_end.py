"""The walking skeleton, end to end: a county query answered by 12 district nodes over mutual TLS."""

from __future__ import annotations

import uuid

import grpc
import pytest
from click.testing import CliRunner

from cli.local_county import ANALYST, COORDINATOR
from cli.main import main
from node.executor import exact_aggregate
from node.query import validate
from protos.lsi.v1 import coordinator_pb2, coordinator_pb2_grpc, node_pb2, query_pb2
from reference.geography import districts
from security.pki import Role, init_ca, issue
from tests.county import RunningCounty, policy_with, running_county

CTS = query_pb2.Filter(column="on_cts", op=query_pb2.Filter.EQ, flag=True)


def cts_query(epsilon: float = 1.0, query_id: str | None = None, **kwargs) -> query_pb2.Query:
    return query_pb2.Query(
        query_id=query_id or str(uuid.uuid4()),
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        filters=[CTS],
        months=["2025-10"],
        privacy=query_pb2.PrivacyRequest(epsilon=epsilon),
        purpose="test",
        **kwargs,
    )


def submit(county: RunningCounty, query: query_pb2.Query) -> coordinator_pb2.FederatedResult:
    return county.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)


def exact_district_totals(county: RunningCounty, query: query_pb2.Query) -> dict[str, int]:
    totals = {}
    for code, engine in county.engines.items():
        vq = validate(query, columns=engine.columns, months=engine.months)
        agg = exact_aggregate(engine.frames, vq, engine.columns, engine.wards)
        totals[code] = agg.counts[-1]
    return totals


def district_cells(result: coordinator_pb2.FederatedResult) -> dict[str, query_pb2.Cell]:
    return {c.district_code: c for c in result.cells if c.level == query_pb2.Cell.DISTRICT}


def test_county_query_is_answered_by_all_twelve_districts(county: RunningCounty) -> None:
    result = submit(county, cts_query())
    assert result.complete
    assert sorted(district_cells(result)) == sorted(d.code for d in districts())
    assert [c for c in result.cells if c.level == query_pb2.Cell.COUNTY]


def test_county_total_is_the_sum_of_district_totals(county: RunningCounty) -> None:
    result = submit(county, cts_query())
    (total,) = [c for c in result.cells if c.level == query_pb2.Cell.COUNTY]
    assert total.value == pytest.approx(sum(c.value for c in district_cells(result).values()))


def test_district_intervals_cover_the_exact_answer_most_of_the_time(county: RunningCounty) -> None:
    exact = exact_district_totals(county, cts_query())
    inside = trials = 0
    for i in range(15):
        # A slightly different loss each time: the same question again would be replayed, not redrawn.
        for code, cell in district_cells(submit(county, cts_query(epsilon=2.0 + i * 1e-6))).items():
            trials += 1
            inside += cell.ci_low <= exact[code] <= cell.ci_high
    # 180 intervals at a nominal 95%: fewer than 85% inside would be far outside sampling variation.
    assert inside / trials >= 0.85, f"{inside} of {trials} intervals held the exact count"


def test_ward_cells_add_up_to_district_totals_after_reconciliation(county: RunningCounty) -> None:
    result = submit(county, cts_query(group_by=["ward_code"]))
    for code, total in district_cells(result).items():
        wards = [c for c in result.cells if c.level == query_pb2.Cell.GROUP and c.district_code == code]
        assert len(wards) == len(county.engines[code].wards)
        assert sum(w.value for w in wards) == pytest.approx(total.value)


def test_each_query_is_charged_once_at_each_node(county: RunningCounty) -> None:
    engine = county.engines[districts()[0].code]
    before = engine.store.spent().spent_rho
    result = submit(county, cts_query(epsilon=0.5))
    charge = result.districts[0].charge.rho
    assert charge == pytest.approx(0.5**2 / 2)
    assert engine.store.spent().spent_rho == pytest.approx(before + charge)


def test_a_retried_query_id_returns_the_same_release_without_a_second_charge(county: RunningCounty) -> None:
    query = cts_query(query_id="retry-me")
    first = submit(county, query)
    engine = county.engines[districts()[0].code]
    spent = engine.store.spent().spent_rho
    # Straight to a node as the coordinator would retry it, bypassing the coordinator's own result store.
    stub = county.node_stub(districts()[0].code, identity=COORDINATOR)
    query.analyst = ANALYST
    again = stub.Query(query, timeout=30)
    assert again.replayed
    assert again.charge.rho == 0
    assert list(again.cells) == [c for c in first.cells if c.district_code == districts()[0].code]
    assert engine.store.spent().spent_rho == pytest.approx(spent)


def test_a_malformed_query_is_refused_naming_the_field(county: RunningCounty) -> None:
    bad = cts_query()
    bad.filters[0].column = "on_ctss"
    with pytest.raises(grpc.RpcError) as err:
        submit(county, bad)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "filters[0].column" in err.value.details()
    assert "on_cts" in err.value.details()


def test_an_analyst_cannot_query_a_node_directly(county: RunningCounty) -> None:
    stub = county.node_stub(districts()[0].code, identity=ANALYST)
    with pytest.raises(grpc.RpcError) as err:
        stub.Query(cts_query(), timeout=30)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_client_certificate_from_a_foreign_ca_is_rejected(county: RunningCounty, tmp_path) -> None:
    init_ca(tmp_path / "foreign")
    issue(tmp_path / "foreign", "intruder", Role.ANALYST)
    # Raw credentials: the project's own helper refuses a foreign certificate before dialling.
    creds = grpc.ssl_channel_credentials(
        root_certificates=(county.local.pki_dir / "ca.crt").read_bytes(),
        private_key=(tmp_path / "foreign" / "intruder.key").read_bytes(),
        certificate_chain=(tmp_path / "foreign" / "intruder.crt").read_bytes(),
    )
    channel = grpc.secure_channel(
        county.local.coordinator_address, creds, options=[("grpc.ssl_target_name_override", COORDINATOR)]
    )

    with pytest.raises(grpc.RpcError) as err:
        coordinator_pb2_grpc.CoordinatorStub(channel).Submit(
            coordinator_pb2.FederatedQuery(query=cts_query()), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_ig_officer_reads_a_node_budget_directly(county: RunningCounty) -> None:
    status = county.node_stub(districts()[0].code).Budget(node_pb2.BudgetRequest(), timeout=30)
    assert status.total_rho == pytest.approx(1000.0)
    assert status.remaining_rho <= status.total_rho


def test_the_cli_prints_a_county_table(county: RunningCounty) -> None:
    out = CliRunner().invoke(
        main,
        [
            "query",
            "count",
            "--where",
            "on_cts = true",
            "--epsilon",
            "1.0",
            "--yes",
            "--address",
            county.local.coordinator_address,
            "--pki",
            str(county.local.pki_dir),
            "--identity",
            ANALYST,
        ],
    )
    assert out.exit_code == 0, out.output
    assert "Kent, 12 of 12 districts (all)" in out.output
    assert "Ashford" in out.output and "95% interval" in out.output


def test_the_cli_json_output_carries_every_district(county: RunningCounty) -> None:
    import json

    out = CliRunner().invoke(
        main,
        [
            "query",
            "count",
            "--where",
            "on_cts = true",
            "--epsilon",
            "1.0",
            "--yes",
            "--json",
            "--address",
            county.local.coordinator_address,
            "--pki",
            str(county.local.pki_dir),
            "--identity",
            ANALYST,
        ],
    )
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.stdout)["districts"]) == 12


def test_over_budget_is_refused_with_the_amounts(tmp_path) -> None:
    codes = [districts()[0].code]
    with running_county(tmp_path, codes=codes, policy=policy_with(total_rho=0.6, per_query_rho=0.6)) as small:
        submit(small, cts_query(epsilon=1.0))  # rho 0.5 of 0.6
        another_month = cts_query(epsilon=1.0)
        another_month.months[:] = ["2025-09"]  # the same question again would be replayed free of charge
        with pytest.raises(grpc.RpcError) as err:
            submit(small, another_month)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "0.5" in err.value.details() and "0.1" in err.value.details()


def test_a_district_that_is_down_is_listed_missing_and_the_rest_answer(tmp_path) -> None:
    codes = [d.code for d in districts()[:3]]
    with running_county(tmp_path, codes=codes) as small:
        small.stop_node(codes[1])
        result = submit(small, cts_query())
    outcomes = {d.district_code: d for d in result.districts}
    assert not result.complete
    assert not outcomes[codes[1]].answered and outcomes[codes[1]].error_code == "UNAVAILABLE"
    assert outcomes[codes[0]].answered and outcomes[codes[2]].answered
    assert sorted(district_cells(result)) == sorted([codes[0], codes[2]])


def test_a_malformed_data_file_stops_the_node_naming_file_row_and_field(tmp_path) -> None:
    from node.synth import write_county

    write_county(tmp_path / "data", seed=3, scale=0.02, months=1, end_month="2025-10")
    code = districts()[0].code
    path = tmp_path / "data" / code / "2025-10.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[5].split(",")
    row[header.index("claimant_age")] = "abc"
    lines[5] = ",".join(row)
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / "policy.toml").write_text("")
    runner = CliRunner()
    config = tmp_path / "node.toml"
    config.write_text(
        f'[node]\ndistrict_code = "{code}"\nlisten = "127.0.0.1:0"\ndata_dir = "data/{code}"\n'
        'state_db = "s.sqlite"\npolicy = "policy.toml"\naudit_key = "k.pem"\n'
    )
    from privacy.policy import save_policy

    save_policy(policy_with()(districts()[0]), tmp_path / "policy.toml")
    out = runner.invoke(main, ["node", "serve", "--config", str(config)])
    assert out.exit_code != 0
    assert "2025-10.csv" in out.output and "row 5" in out.output and "claimant_age" in out.output
