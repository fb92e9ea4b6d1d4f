"""Campaigns at a district: choosing targets, recording outcomes, and what a campaign query may read."""

from __future__ import annotations

import csv
import sqlite3
import stat
from pathlib import Path

import pandas as pd
import pytest

from node.campaigns import (
    CAMPAIGN_COLUMNS,
    TARGETS,
    CampaignError,
    CampaignStore,
    OutcomeFileError,
    select_targets,
    validate_name,
    write_target_list,
)
from node.derive import derive
from node.engine import Caller, NodeEngine
from node.loader import load_snapshot
from node.query import QueryError, campaign_of
from node.schema import SCHEMA
from node.synth import generate_district
from privacy.audit import AuditSigner
from privacy.ledger import PrivacyStore
from protos.lsi.v1 import query_pb2
from reference.geography import ward_codes
from reference.rates import rates_for_month
from tests.county import policy_with

CODE = "E07000105"  # Ashford
MONTH = "2025-10"


@pytest.fixture(scope="module")
def snapshot_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ashford")
    frame = generate_district(CODE, seed=5, scale=0.2, months=1, end_month=MONTH)[MONTH]
    path = folder / f"{MONTH}.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def derived(snapshot_path: Path) -> pd.DataFrame:
    return derive(load_snapshot(snapshot_path, CODE).frame, rates_for_month(MONTH), month=MONTH)


@pytest.fixture
def store(tmp_path: Path) -> CampaignStore:
    return CampaignStore(tmp_path / "state.sqlite", CODE)


@pytest.fixture
def pension(store: CampaignStore, derived: pd.DataFrame) -> pd.DataFrame:
    """A pension credit campaign over every qualifying household; returns its target list."""
    _, targets = store.create_campaign("pension-credit-2025", "pc_unclaimed", MONTH, derived, created_by="officer")
    return targets


def outcomes_csv(path: Path, rows: list[dict[str, str]], header: tuple[str, ...] | None = None) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header or ("household_id", "contacted", "claimed", "gained_annual"))
        writer.writeheader()
        writer.writerows(rows)
    return path


# ---- choosing targets ---------------------------------------------------------------------------------------


def test_pension_credit_targets_come_largest_gain_first_and_the_limit_keeps_the_top() -> None:
    frame = pd.DataFrame(
        {
            "household_id": ["a", "b", "c", "d", "e"],
            "pc_unclaimed": [True, True, False, True, True],
            "pc_unclaimed_annual": [500.0, 2500.0, 9000.0, 500.0, 1200.0],
        }
    )
    chosen = select_targets(frame, TARGETS["pc_unclaimed"])
    assert list(chosen["household_id"]) == ["b", "e", "a", "d"]  # equal gains in household id order
    assert list(select_targets(frame, TARGETS["pc_unclaimed"], limit=2)["household_id"]) == ["b", "e"]


def test_free_school_meal_targets_come_most_children_first() -> None:
    frame = pd.DataFrame(
        {
            "household_id": ["a", "b", "c"],
            "fsm_unclaimed": [True, True, True],
            "fsm_unclaimed_children": [1, 3, 2],
        }
    )
    assert list(select_targets(frame, TARGETS["fsm_unclaimed"])["household_id"]) == ["b", "c", "a"]


def test_a_limit_must_be_positive() -> None:
    frame = pd.DataFrame({"household_id": ["a"], "pc_unclaimed": [True], "pc_unclaimed_annual": [1.0]})
    with pytest.raises(CampaignError, match="positive"):
        select_targets(frame, TARGETS["pc_unclaimed"], limit=0)


@pytest.mark.parametrize("name", ["Pension-Credit", "pension credit", "-pc", "pc-", "pc_2025", "", "x" * 65])
def test_campaign_names_are_lowercase_letters_digits_and_hyphens(name: str) -> None:
    with pytest.raises(CampaignError, match="lowercase letters, digits and hyphens"):
        validate_name(name)


def test_a_county_wide_name_is_accepted() -> None:
    assert validate_name("pension-credit-2025") == "pension-credit-2025"


# ---- creating a campaign ------------------------------------------------------------------------------------


def test_a_campaign_targets_every_qualifying_household_in_order(
    store: CampaignStore, derived: pd.DataFrame, pension: pd.DataFrame
) -> None:
    expected = derived[derived["pc_unclaimed"]].sort_values("pc_unclaimed_annual", ascending=False, kind="mergesort")
    assert store.get("pension-credit-2025").households == len(expected) > 0
    assert list(pension["expected_annual_gain"]) == sorted(pension["expected_annual_gain"], reverse=True)
    assert set(pension["household_id"]) == set(expected["household_id"])


def test_the_target_list_holds_only_fields_from_the_schema(pension: pd.DataFrame) -> None:
    ours = {"rank", "ward_name", "expected_annual_gain", "contacted", "claimed", "gained_annual"}
    assert set(pension.columns) - ours <= set(SCHEMA)
    assert {"household_id", "ward_code", "postcode_sector", "expected_annual_gain"} <= set(pension.columns)


def test_the_target_list_file_is_readable_by_its_owner_only(tmp_path: Path, pension: pd.DataFrame) -> None:
    path = tmp_path / "targets.csv"
    write_target_list(pension, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pd.read_csv(path)["household_id"].tolist() == pension["household_id"].tolist()


def test_a_campaign_name_cannot_be_used_twice(store: CampaignStore, derived: pd.DataFrame, pension) -> None:
    with pytest.raises(CampaignError, match="already exists"):
        store.create_campaign("pension-credit-2025", "fsm_unclaimed", MONTH, derived, created_by="officer")


def test_an_unknown_target_is_refused_listing_the_targets(store: CampaignStore, derived: pd.DataFrame) -> None:
    with pytest.raises(CampaignError, match="pc_unclaimed, fsm_unclaimed, uc_without_cts"):
        store.create_campaign("x", "everyone", MONTH, derived, created_by="officer")


# ---- what a query reads -------------------------------------------------------------------------------------


def test_the_campaign_frame_has_one_row_per_target_and_no_identifiers(store: CampaignStore, pension) -> None:
    month, frame = store.campaign_frame("pension-credit-2025")
    assert month == MONTH
    assert len(frame) == len(pension)
    assert list(frame.columns) == ["ward_code", "contacted", "claimed", "gained_annual", "expected_gain"]
    assert set(frame.columns) == set(CAMPAIGN_COLUMNS)
    assert tuple(frame["ward_code"].cat.categories) == ward_codes(CODE)
    assert frame["contacted"].dtype == bool and frame["claimed"].dtype == bool
    assert not frame["contacted"].any() and frame["gained_annual"].sum() == 0
    assert frame["expected_gain"].tolist() == pension["expected_annual_gain"].tolist()


def test_the_latest_outcome_wins_and_the_history_is_kept(store: CampaignStore, pension: pd.DataFrame) -> None:
    hid = pension["household_id"].iloc[0]
    store.record_outcome("pension-credit-2025", hid, recorded_by="a", contacted=True)
    store.record_outcome("pension-credit-2025", hid, recorded_by="b", claimed=True, gained_annual=1750.0)
    _, frame = store.campaign_frame("pension-credit-2025")
    first = frame.iloc[0]
    assert (bool(first["contacted"]), bool(first["claimed"]), first["gained_annual"]) == (True, True, 1750.0)
    with sqlite3.connect(store.path) as conn:
        history = conn.execute("SELECT recorded_by FROM campaign_outcomes ORDER BY id").fetchall()
    assert history == [("a",), ("b",)]


def test_a_gain_without_a_claim_is_refused(store: CampaignStore, pension: pd.DataFrame) -> None:
    with pytest.raises(CampaignError, match="gained_annual: .*claimed is false"):
        store.record_outcome(
            "pension-credit-2025", pension["household_id"].iloc[0], recorded_by="a", gained_annual=900.0
        )


def test_every_outcome_record_bumps_the_campaign_revision(store: CampaignStore, pension: pd.DataFrame) -> None:
    before = store.state("pension-credit-2025").revision
    assert store.state("pension-credit-2025").revision == before
    store.record_outcome("pension-credit-2025", pension["household_id"].iloc[0], recorded_by="a", contacted=True)
    assert store.state("pension-credit-2025").revision == before + 1


def test_an_outcome_record_that_changes_nothing_still_bumps_the_revision(
    store: CampaignStore, pension: pd.DataFrame
) -> None:
    hid = pension["household_id"].iloc[0]
    store.record_outcome("pension-credit-2025", hid, recorded_by="a", contacted=True)
    first = store.state("pension-credit-2025")
    store.record_outcome("pension-credit-2025", hid, recorded_by="a", contacted=True)
    again = store.state("pension-credit-2025")
    assert again.frame.equals(first.frame) and again.replay_key != first.replay_key


# ---- outcomes from a CSV ------------------------------------------------------------------------------------


def test_outcomes_csv_errors_name_the_row_and_field_and_record_nothing(
    tmp_path: Path, store: CampaignStore, derived: pd.DataFrame, pension: pd.DataFrame
) -> None:
    targeted = pension["household_id"].tolist()
    not_targeted = next(h for h in derived["household_id"] if h not in set(targeted))
    path = outcomes_csv(
        tmp_path / "outcomes.csv",
        [
            {"household_id": targeted[0], "contacted": "yes", "claimed": "yes", "gained_annual": "£1,200"},
            {"household_id": targeted[1], "contacted": "yes", "claimed": "yes", "gained_annual": "12x"},
            {"household_id": "H999-9999999", "contacted": "yes", "claimed": "", "gained_annual": ""},
            {"household_id": not_targeted, "contacted": "yes", "claimed": "", "gained_annual": ""},
            {"household_id": targeted[2], "contacted": "maybe", "claimed": "", "gained_annual": ""},
        ],
    )
    with pytest.raises(OutcomeFileError) as err:
        store.import_outcomes_csv(
            "pension-credit-2025", path, recorded_by="officer", known_households=set(derived["household_id"])
        )
    message = str(err.value)
    assert "outcomes.csv row 2, field gained_annual: '12x' is not an amount in pounds" in message
    assert "row 3, field household_id: household 'H999-9999999' is not in this district's 2025-10 records" in message
    assert f"row 4, field household_id: household {not_targeted!r} is not one of campaign" in message
    assert "row 5, field contacted: 'maybe' is not true/false" in message
    assert "Nothing from this file was recorded" in message
    assert "row 1," not in message
    _, frame = store.campaign_frame("pension-credit-2025")
    assert not frame["contacted"].any()


def test_an_outcomes_csv_with_an_unknown_column_is_refused_naming_it(tmp_path: Path, store, pension) -> None:
    path = outcomes_csv(
        tmp_path / "o.csv",
        [{"household_id": pension["household_id"].iloc[0], "gained": "5"}],
        header=("household_id", "gained"),
    )
    with pytest.raises(CampaignError, match="unknown column 'gained' \\(did you mean 'gained_annual'"):
        store.import_outcomes_csv("pension-credit-2025", path, recorded_by="officer")


def test_the_filled_in_target_list_imports_as_outcomes(tmp_path: Path, store: CampaignStore, pension) -> None:
    filled = pension.copy()
    filled.loc[0, ["contacted", "claimed", "gained_annual"]] = ["yes", "yes", "2000"]
    filled.loc[1, ["contacted"]] = ["yes"]
    path = tmp_path / "targets.csv"
    write_target_list(filled, path)
    assert store.import_outcomes_csv("pension-credit-2025", path, recorded_by="officer") == 2  # untouched rows skipped
    _, frame = store.campaign_frame("pension-credit-2025")
    assert frame["contacted"].sum() == 2 and frame["claimed"].sum() == 1 and frame["gained_annual"].sum() == 2000


def test_outcomes_for_an_unknown_campaign_name_the_campaigns_there_are(store: CampaignStore, pension) -> None:
    with pytest.raises(CampaignError, match="no campaign 'pension-credit'; this district's campaigns: pension-"):
        store.record_outcome("pension-credit", "x", recorded_by="a", contacted=True)


# ---- queries over a campaign --------------------------------------------------------------------------------


def test_a_dataset_naming_an_unknown_campaign_is_refused_naming_dataset() -> None:
    with pytest.raises(QueryError) as err:
        campaign_of("campaign:nope", ["pension-credit-2025"])
    assert err.value.field == "dataset" and "pension-credit-2025" in str(err.value)
    with pytest.raises(QueryError, match="^dataset: 'households' is not a dataset"):
        campaign_of("households", [])
    assert campaign_of("", []) is None


@pytest.fixture
def engine(tmp_path: Path, snapshot_path: Path, derived: pd.DataFrame) -> NodeEngine:
    from reference.geography import district

    policy = policy_with(total_rho=1000.0, per_query_rho=50.0)(district(CODE))
    store = PrivacyStore(tmp_path / "node.sqlite", policy, AuditSigner.load_or_create(tmp_path / "k.pem"))
    node = NodeEngine(CODE, {MONTH: load_snapshot(snapshot_path, CODE)}, store)
    node.campaigns.create_campaign("pension-credit-2025", "pc_unclaimed", MONTH, derived, created_by="officer")
    return node


def campaign_query(months: tuple[str, ...] = (), **kw) -> query_pb2.Query:
    return query_pb2.Query(
        query_id=kw.pop("query_id", "q1"),
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        months=list(months),
        privacy=query_pb2.PrivacyRequest(epsilon=1.0),
        dataset="campaign:pension-credit-2025",
        **kw,
    )


def test_a_campaign_query_asks_for_no_month_or_the_campaigns_month(engine: NodeEngine) -> None:
    with pytest.raises(QueryError, match="^months: the campaign's targets come from 2025-10"):
        engine.answer(campaign_query(months=("2025-09",)), Caller("coordinator", "coordinator"))
    release = engine.answer(campaign_query(months=(MONTH,)), Caller("coordinator", "coordinator"))
    assert release.cells[-1].keys[0].value == MONTH


def test_a_campaign_query_may_not_name_household_columns(engine: NodeEngine) -> None:
    q = campaign_query(filters=[query_pb2.Filter(column="on_cts", op=query_pb2.Filter.EQ, flag=True)])
    with pytest.raises(QueryError, match="^filters\\[0\\].column: unknown column 'on_cts'"):
        engine.answer(q, Caller("coordinator", "coordinator"))


def test_creating_a_campaign_and_recording_outcomes_are_signed_audit_entries(
    tmp_path: Path, derived: pd.DataFrame
) -> None:
    from privacy.audit import verify_chain

    signer = AuditSigner.generate()
    audited = CampaignStore(tmp_path / "state.sqlite", CODE, signer)
    _, targets = audited.create_campaign("pc-audit", "pc_unclaimed", MONTH, derived, created_by="jo.bloggs")
    audited.record_outcome("pc-audit", targets["household_id"].iloc[0], recorded_by="jo.bloggs", contacted=True)
    with sqlite3.connect(tmp_path / "state.sqlite") as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions == ["campaign_create", "campaign_outcomes"]
    assert verify_chain(tmp_path / "state.sqlite", signer.public_key).ok
