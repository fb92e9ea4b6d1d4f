"""The dashboard reads as its own read-only service role, scoped to the signed-in user, over mutual TLS: stored
campaign results by name, budgets over time and audit status (outbound-only nodes included), never spending."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner

from analysis.campaigns import campaign_results, stored_campaign
from analysis.client import CoordinatorClient
from analysis.county_report import report_data
from analysis.federated import send
from analysis.indicators import indicator
from analysis.queries import indicator_query
from cli.dashboard_cmd import DASHBOARD_FILES, DASHBOARD_IDENTITY, dashboard_pki
from cli.local_county import ANALYST, COORDINATOR, COUNTY_IG_OFFICER, ig_officer_name, node_name
from cli.main import main
from dashboard.auth import User
from dashboard.config import DashboardConfig
from dashboard.pages import audit_page, budgets_page, campaigns_page
from dashboard.reading import Reader
from dashboard.scope import OutOfScopeError
from protos.lsi.v1 import coordinator_pb2_grpc, node_pb2, node_pb2_grpc
from reference.geography import districts
from security.tls import TlsFiles
from tests.county import RunningCounty, policy_with, running_county

NAME = "pc-letters"
DISTRICTS = districts()[:3]
CODES = [d.code for d in DISTRICTS]
OUTBOUND = CODES[1]  # "mixed": every other district dials out to the coordinator
LATER = time.time() + 3600


@dataclass
class Setup:
    county: RunningCounty
    host_pki: Path
    service: CoordinatorClient  # the dashboard's own connection (role `dashboard`)
    analyst: CoordinatorClient  # an analyst's own connection (to ask, which spends)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("dash-read")
    policy = policy_with(total_rho=1e7, per_query_rho=2e4)
    with running_county(root, codes=CODES, months=1, mode="mixed", policy=policy) as county:
        node_toml = county.local.root / "nodes" / CODES[0] / "node.toml"
        targets = root / "targets.csv"
        args = ["campaign", "create", "--config", node_toml, "--name", NAME, "--target", "uc_without_cts"]
        made = CliRunner().invoke(main, [str(a) for a in [*args, "--out", targets, "--by", "officer"]])
        assert made.exit_code == 0, made.output
        host_pki = dashboard_pki(county.local.pki_dir, root / "dashboard-host")
        tls = TlsFiles.for_identity(host_pki, DASHBOARD_IDENTITY)
        channel = county.channel(DASHBOARD_IDENTITY, county.local.coordinator_address, COORDINATOR, tls=tls)
        yield Setup(
            county,
            host_pki,
            CoordinatorClient(coordinator_pb2_grpc.CoordinatorStub(channel)),
            CoordinatorClient(county.coordinator_stub(ANALYST)),
        )


def ledgers(county: RunningCounty) -> dict[str, tuple[float, int, int]]:
    """Each node's spent rho, releases and replays, read from its engine (not through any RPC under test)."""
    out = {}
    for code, engine in county.engines.items():
        b = engine.budget(detail=False)
        out[code] = (b.spent_rho, b.releases, b.replays)
    return out


def user(name: str, role: str, district: str | None = None) -> User:
    return User(name, role, district, int(LATER))


def cfg(setup: Setup) -> DashboardConfig:
    return DashboardConfig("127.0.0.1:0", "", COORDINATOR, setup.host_pki, DASHBOARD_IDENTITY, Path("unused"))


ALICE = user(ANALYST, "analyst")
BOB = user("analyst-bob", "analyst")
COUNTY_IG = user(COUNTY_IG_OFFICER, "county-ig-officer")
FIRST_IG = user(ig_officer_name(DISTRICTS[0]), "ig-officer", CODES[0])


@pytest.fixture(scope="module")
def asked(setup: Setup) -> Setup:
    """The campaign's results asked once by the analyst (this spends)."""
    campaign_results(setup.analyst.submit, NAME, epsilon=4.0)
    return setup


def test_a_campaign_asked_once_shows_in_the_report_and_the_dashboard_at_no_cost(asked: Setup) -> None:
    before = ledgers(asked.county)
    months = asked.analyst.months()
    data = report_data(
        asked.analyst.fetch,
        asked.analyst.budgets,
        months=months,
        month=months[-1],
        base_month=months[0],
        generated_at=datetime.now(UTC),
        campaign=NAME,
        recent=asked.analyst.recent,
    )
    page = campaigns_page(Reader(asked.service, ALICE), cfg(asked), ALICE)
    assert ledgers(asked.county) == before
    assert [(r.district_code, r.campaign) for r in data.campaigns] == [(CODES[0], NAME)]
    assert not any(NAME in g for g in data.gaps)
    table = page.table(f"campaign-{NAME}")
    assert table is not None and [row[0] for row in table.rows] == [DISTRICTS[0].name]
    (section,) = page.sections
    assert section.coverage is not None and section.coverage.contributing == (CODES[0],)
    assert {m.code for m in section.coverage.missing} == {DISTRICTS[1].name, DISTRICTS[2].name}


def test_the_newest_asking_of_a_campaign_is_the_one_read(asked: Setup) -> None:
    first = stored_campaign(asked.analyst.recent, NAME)
    campaign_results(asked.analyst.submit, NAME, epsilon=2.0)
    newest = stored_campaign(asked.analyst.recent, NAME)
    assert first is not None and newest is not None
    assert newest.batch > first.batch and newest.epsilon == pytest.approx(2.0)


def test_another_analyst_does_not_see_the_campaign_through_the_dashboard(asked: Setup) -> None:
    page = campaigns_page(Reader(asked.service, BOB), cfg(asked), BOB)
    assert [s.table for s in page.sections] == [None]
    assert stored_campaign(Reader(asked.service, BOB).recent, NAME) is None


def test_a_result_id_prefix_is_matched_literally_and_the_listing_is_bounded(asked: Setup) -> None:
    assert asked.analyst.recent("campaign/%", 50) == []
    assert asked.analyst.recent("campaign/_c-letters/", 50) == []
    for bad in [("", 5), ("campaign/", 0), ("campaign/", 51), ("x" * 129, 5)]:
        with pytest.raises(grpc.RpcError) as err:
            asked.analyst.recent(*bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad


def test_budget_history_shows_each_days_spend_by_analyst_and_purpose_to_ig_officers(asked: Setup) -> None:
    county = Reader(asked.service, COUNTY_IG).budgets()
    today = datetime.now(UTC).date().isoformat()
    for b in county.nodes:
        assert sum(h.rho for h in b.history) == pytest.approx(b.spent_rho)
    first = next(b for b in county.nodes if b.district_code == CODES[0])
    assert {(h.day, h.analyst) for h in first.history} == {(today, ANALYST)}
    assert any(NAME in h.purpose for h in first.history)
    page = budgets_page(Reader(asked.service, COUNTY_IG), cfg(asked), COUNTY_IG)
    history = page.table("budget-history")
    assert history is not None and len(history.rows) == sum(len(b.history) for b in county.nodes)
    assert next(s for s in page.sections if s.table is history).plot


def test_a_district_ig_officer_sees_only_their_own_districts_breakdown_and_history(asked: Setup) -> None:
    county = Reader(asked.service, FIRST_IG).budgets()
    detailed = {b.district_code for b in county.nodes if b.by_analyst or b.history}
    assert detailed == {CODES[0]} and len(county.nodes) == 3


def test_an_analyst_gets_totals_but_no_breakdown_history_or_audit(asked: Setup) -> None:
    county = Reader(asked.service, ALICE).budgets()
    assert county.nodes and not any(b.by_analyst or b.by_purpose or b.history for b in county.nodes)
    with pytest.raises(OutOfScopeError):
        Reader(asked.service, ALICE).audits()


def test_audit_status_reaches_outbound_only_nodes_through_the_coordinator(asked: Setup) -> None:
    page = audit_page(Reader(asked.service, COUNTY_IG), cfg(asked), COUNTY_IG)
    table = page.table("audit")
    assert table is not None
    assert [(row[0], row[1]) for row in table.rows] == [(d.name, "verified") for d in DISTRICTS]
    assert OUTBOUND in asked.county.links  # that node is reached only over its own outbound stream
    (own,) = Reader(asked.service, FIRST_IG).audits()
    assert own.district_code == CODES[0] and own.ok


def test_the_dashboard_role_is_refused_by_every_call_that_spends_or_changes(asked: Setup) -> None:
    before = ledgers(asked.county)
    query = indicator_query(indicator("households_in_crisis"), months=[], epsilon=1.0)
    with pytest.raises(grpc.RpcError) as err:
        send(asked.service.submit, query)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    tls = TlsFiles.for_identity(asked.host_pki, DASHBOARD_IDENTITY)
    d = DISTRICTS[0]
    channel = asked.county.channel(DASHBOARD_IDENTITY, asked.county.local.node_address(d.code), node_name(d), tls)
    node = node_pb2_grpc.NodeStub(channel)
    calls = {
        "Query": lambda: node.Query(query, timeout=10),
        "SetPolicy": lambda: node.SetPolicy(node_pb2.SetPolicyRequest(policy_toml=""), timeout=10),
        "SecureSetup": lambda: node.SecureSetup(node_pb2.SecureSetupRequest(), timeout=10),
        "SecureShare": lambda: node.SecureShare(node_pb2.SecureShareRequest(), timeout=10),
        "SecureSum": lambda: node.SecureSum(node_pb2.SecureSumRequest(), timeout=10),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, name
    assert ledgers(asked.county) == before


def test_the_dashboard_host_holds_only_its_own_key(asked: Setup) -> None:
    held = sorted(p.name for p in asked.host_pki.iterdir())
    assert set(held) <= set(DASHBOARD_FILES)
    assert [k for k in held if k.endswith(".key")] == [f"{DASHBOARD_IDENTITY}.key"]
