"""Campaigns end to end: districts build target lists and record outcomes with the CLI while their nodes serve;
the county sees the results over mutual TLS only as DP aggregates."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner, Result

from analysis.campaigns import campaign_queries
from analysis.indicators import indicator
from analysis.queries import indicator_query
from cli.local_county import ANALYST, COORDINATOR
from cli.main import main
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import districts
from tests.county import RunningCounty, policy_with, running_county

NAME = "cts-uptake-2025"
CODES = [d.code for d in districts()[:3]]
WITH_CAMPAIGN = CODES[:2]  # the third district has not run this campaign


def lsi(*args: str, exit_code: int = 0) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == exit_code, result.output
    return result


def node_toml(county: RunningCounty, code: str) -> Path:
    return county.local.root / "nodes" / code / "node.toml"


def client_args(county: RunningCounty) -> list[str]:
    return ["--address", county.local.coordinator_address, "--pki", str(county.local.pki_dir), "--identity", ANALYST]


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCounty]:
    root = tmp_path_factory.mktemp("campaigns")
    # A budget big enough for near-noiseless counts at epsilon 200 (rho 20,000 a query); still one ledger.
    with running_county(root, codes=CODES, months=1, policy=policy_with(total_rho=1e7, per_query_rho=2e4)) as c:
        for code in WITH_CAMPAIGN:
            lsi(
                "campaign",
                "create",
                "--config",
                node_toml(c, code),
                "--name",
                NAME,
                "--target",
                "uc_without_cts",
                "--out",
                root / f"{code}-targets.csv",
                "--by",
                "officer",
            )
        yield c


def target_ids(county: RunningCounty, code: str) -> list[str]:
    with (county.local.root / f"{code}-targets.csv").open() as f:
        return [row["household_id"] for row in csv.DictReader(f)]


def record(county: RunningCounty, code: str, rows: list[tuple[str, str, str, str]]) -> None:
    path = county.local.root / f"{code}-outcomes.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["household_id", "contacted", "claimed", "gained_annual"])
        writer.writerows(rows)
    lsi("campaign", "outcome", "--config", node_toml(county, code), "--name", NAME, "--csv", path, "--by", "officer")


def exact(county: RunningCounty, code: str) -> dict[str, float]:
    _, frame = county.engines[code].campaigns.campaign_frame(NAME)
    return {
        "campaign_households": len(frame),
        "campaign_contacted": int(frame["contacted"].sum()),
        "campaign_claimed": int(frame["claimed"].sum()),
        "campaign_gained": float(frame["gained_annual"].clip(0, 5000).round().sum()),
    }


def submit(county: RunningCounty, query: query_pb2.Query) -> coordinator_pb2.FederatedResult:
    return county.coordinator_stub().Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)


def cells(result: coordinator_pb2.FederatedResult) -> dict[str, query_pb2.Cell]:
    """District totals by district code, and the county total under 'county'."""
    out = {c.district_code: c for c in result.cells if c.level == query_pb2.Cell.DISTRICT}
    (out["county"],) = [c for c in result.cells if c.level == query_pb2.Cell.COUNTY]
    return out


def test_the_exported_list_holds_the_districts_households(county: RunningCounty) -> None:
    for code in WITH_CAMPAIGN:
        ids = target_ids(county, code)
        assert ids and all(i.startswith(f"H{code[-3:]}-") for i in ids)
        assert len(ids) == county.engines[code].campaigns.get(NAME).households


def test_campaign_results_cover_the_exact_figures_in_each_district_and_the_county(county: RunningCounty) -> None:
    a, b = (target_ids(county, code) for code in WITH_CAMPAIGN)
    record(county, WITH_CAMPAIGN[0], [(a[0], "yes", "yes", "1200"), (a[1], "yes", "no", ""), (a[2], "yes", "", "")])
    record(county, WITH_CAMPAIGN[1], [(b[0], "yes", "yes", "£2,400.50"), (b[1], "yes", "yes", "800")])
    truth = {code: exact(county, code) for code in WITH_CAMPAIGN}
    for query in campaign_queries(NAME, epsilon=800.0):  # 200 per figure
        result = submit(county, query)
        got = cells(result)
        want = {
            **{c: truth[c][query.indicator] for c in WITH_CAMPAIGN},
            "county": sum(truth[c][query.indicator] for c in WITH_CAMPAIGN),
        }
        assert sorted(got) == sorted(want)
        for area, value in want.items():
            cell = got[area]
            if query.indicator == "campaign_gained":
                # At epsilon 200 a £0-£5,000 sum still has noise of scale 25, and a 95% interval misses one
                # time in 20; three times its half-width misses about one time in 8,000.
                half = (cell.ci_high - cell.ci_low) / 2
                assert cell.ci_low - 2 * half <= value <= cell.ci_high + 2 * half, (area, value, cell)
            else:
                assert cell.ci_low <= value <= cell.ci_high, (query.indicator, area, value, cell)
        missing = {d.district_code: d.error for d in result.districts if not d.answered}
        assert list(missing) == [CODES[2]] and f"no campaign {NAME!r}" in missing[CODES[2]]


def test_a_repeat_query_after_new_outcomes_is_charged_again_and_reflects_them(county: RunningCounty) -> None:
    code = WITH_CAMPAIGN[0]
    claimed = indicator("campaign_claimed")

    def ask() -> coordinator_pb2.FederatedResult:
        return submit(county, indicator_query(claimed, months=[], epsilon=200.0, dataset=f"campaign:{NAME}"))

    def outcome(result: coordinator_pb2.FederatedResult) -> coordinator_pb2.DistrictOutcome:
        return next(d for d in result.districts if d.district_code == code)

    first = ask()
    assert outcome(ask()).replayed  # nothing new recorded: the stored release, free
    spent = county.engines[code].store.spent().spent_rho
    lsi(
        "campaign",
        "outcome",
        "--config",
        node_toml(county, code),
        "--name",
        NAME,
        "--household",
        target_ids(county, code)[5],
        "--contacted",
        "--claimed",
        "--gained",
        "650",
        "--by",
        "officer",
    )
    again = ask()
    assert not outcome(again).replayed and outcome(again).charge.rho == pytest.approx(200.0**2 / 2)
    assert county.engines[code].store.spent().spent_rho == pytest.approx(spent + 200.0**2 / 2)
    assert cells(again)[code].value == cells(first)[code].value + 1 == exact(county, code)["campaign_claimed"]


def test_no_grpc_message_carries_a_household_id(county: RunningCounty) -> None:
    code = WITH_CAMPAIGN[0]
    ids = [i.encode() for c in WITH_CAMPAIGN for i in target_ids(county, c)]
    by_ward = indicator_query(
        indicator("campaign_claimed"),
        months=[],
        group_by=["ward_code", "contacted"],
        epsilon=1.0,
        dataset=f"campaign:{NAME}",
    )
    federated = submit(county, by_ward)
    stub = county.node_stub(code, identity=COORDINATOR)
    direct = indicator_query(indicator("campaign_gained"), months=[], epsilon=1.0, dataset=f"campaign:{NAME}")
    direct.analyst = ANALYST
    release = stub.Query(direct, timeout=30)
    assert len(release.cells) == 1 and release.snapshot_version == county.engines[code].versions["2025-10"]
    assert county.engines[code].snapshots["2025-10"].digest.encode() not in release.SerializeToString()
    for payload in (federated.SerializeToString(), release.SerializeToString()):
        assert not [i for i in ids if i in payload]


def test_a_query_naming_an_unknown_campaign_is_refused_naming_dataset(county: RunningCounty) -> None:
    query = indicator_query(indicator("campaign_households"), months=[], epsilon=1.0, dataset="campaign:no-such")
    with pytest.raises(grpc.RpcError) as err:
        submit(county, query)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().split(": ", 1)[1].startswith("dataset: this district has no campaign 'no-such'")


def test_the_results_command_prints_districts_county_and_the_missing(county: RunningCounty) -> None:
    # A district without the campaign is missing from the county figure: the answer is partial (exit 3).
    out = lsi(
        "campaign", "results", "--name", NAME, "--epsilon", "5", "--yes", *client_args(county), exit_code=3
    ).output
    names = [d.name for d in districts()[:3]]
    assert (
        names[0] in out and names[1] in out and f"Kent, 2 of 3 districts; {names[2]} missing: no such campaign" in out
    )
    assert "households targeted" in out and "£ a year gained" in out
    assert f"Not included:\n  {names[2]}: INVALID_ARGUMENT dataset: this district has no campaign" in out


def test_the_list_command_shows_exact_local_progress(county: RunningCounty) -> None:
    out = lsi("campaign", "list", "--config", node_toml(county, WITH_CAMPAIGN[1])).output
    assert NAME in out and "uc_without_cts" in out and "2025-10" in out
