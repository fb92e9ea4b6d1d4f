"""No field a node sends depends on its data except through a charged OpenDP release.

Two nodes hold neighbouring datasets: the same snapshot but for one household. Every message they send (a
release with its cell values blanked, the budget, the node's description, every error text) must be the same.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from node.campaigns import CampaignStore
from node.derive import derive
from node.engine import Caller, NodeEngine
from node.executor import exact_aggregate
from node.loader import load_district, load_snapshot
from node.query import validate
from node.server import NodeServicer
from node.synth import _write_district
from node.versions import SnapshotVersions
from privacy.audit import AuditSigner
from privacy.ledger import PrivacyStore
from protos.lsi.v1 import node_pb2, query_pb2
from reference.geography import districts
from reference.rates import rates_for_month
from tests.county import policy_with

DISTRICT = districts()[0]
MONTH = "2025-10"
CALLER = Caller(name="coordinator", role="coordinator")
CAMPAIGN = "uc-cts-2025"


@dataclass
class Node:
    engine: NodeEngine
    root: Path

    def ask(self, query: query_pb2.Query) -> query_pb2.Release:
        return self.engine.answer(query, CALLER)

    def error(self, query: query_pb2.Query) -> str:
        with pytest.raises(Exception) as err:
            self.ask(query)
        return f"{type(err.value).__name__}: {err.value}"


def open_node(root: Path, data: Path) -> Node:
    policy = policy_with(total_rho=10.0, per_query_rho=5.0)(DISTRICT)
    store = PrivacyStore(root / "state.db", policy, AuditSigner.load_or_create(root / "audit.key"))
    return Node(NodeEngine(DISTRICT.code, load_district(data, DISTRICT.code), store), root)


def derived_households(node: Node) -> pd.DataFrame:
    """The month's households with their identifiers, derived as `lsi campaign create` does (a serving node's
    frames hold no identifiers)."""
    snapshot = load_snapshot(node.engine.snapshots[MONTH].source, DISTRICT.code)
    return derive(snapshot.frame, rates_for_month(MONTH), month=MONTH)


@pytest.fixture(scope="module")
def neighbours(tmp_path_factory: pytest.TempPathFactory) -> tuple[Node, Node]:
    root = tmp_path_factory.mktemp("neighbours")
    _write_district((DISTRICT.code, root / "a", 11, 0.05, 2, MONTH, "csv"))
    shutil.copytree(root / "a", root / "b")
    path = root / "b" / DISTRICT.code / f"{MONTH}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    # One household's energy rating changes: a neighbouring dataset, and a different file digest.
    frame.loc[0, "epc_band"] = "G" if frame.loc[0, "epc_band"] != "G" else "A"
    frame.to_csv(path, index=False)
    nodes = [open_node(root / f"state-{x}", root / x / DISTRICT.code) for x in ("a", "b")]
    return nodes[0], nodes[1]


def count(
    query_id: str, *filters: query_pb2.Filter, months: tuple[str, ...] = (MONTH,), epsilon: float = 0.5, **kw: object
) -> query_pb2.Query:
    return query_pb2.Query(
        query_id=query_id,
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        filters=list(filters),
        months=list(months),
        privacy=query_pb2.PrivacyRequest(epsilon=epsilon),
        purpose="test",
        **kw,
    )  # type: ignore[arg-type]


EPC_G = query_pb2.Filter(column="epc_band", op=query_pb2.Filter.EQ, text="G")


def queries() -> list[query_pb2.Query]:
    summed = query_pb2.Measure(kind=query_pb2.Measure.SUM, column="earnings_weekly", lower=0, upper=500)
    mean = query_pb2.Measure(kind=query_pb2.Measure.MEAN, column="earnings_weekly", lower=0, upper=500)
    return [
        count("count-g", EPC_G),
        count("count-g-by-ward", EPC_G, group_by=["ward_code"]),
        query_pb2.Query(
            query_id="sum",
            measure=summed,
            filters=[EPC_G],
            months=[MONTH],
            privacy=query_pb2.PrivacyRequest(rho=0.05),
            purpose="test",
        ),
        query_pb2.Query(
            query_id="mean",
            measure=mean,
            months=[MONTH],
            group_by=["tenure"],
            privacy=query_pb2.PrivacyRequest(epsilon=0.5),
            purpose="test",
        ),
        count("count-g", EPC_G),  # a retry: replayed
        count("count-g-again", EPC_G, indicator="renamed"),  # the same question: replayed
    ]


def blank_noise(release: query_pb2.Release) -> bytes:
    """The release with everything the noise decides blanked: cell values, intervals, suppression.

    A mean's variance is computed from its noisy sum and count, so it is blanked too; a count's or sum's is the
    mechanism's, and stays."""
    out = query_pb2.Release()
    out.CopyFrom(release)
    out.released_at = ""
    for cell in out.cells:
        noisy = ("value", "ci_low", "ci_high", "suppressed", "mean_parts")
        for name in noisy + (("variance",) if cell.HasField("mean_parts") else ()):
            cell.ClearField(name)
    return out.SerializeToString(deterministic=True)


def test_the_neighbours_really_differ(neighbours: tuple[Node, Node]) -> None:
    a, b = neighbours
    assert a.engine.digests[MONTH] != b.engine.digests[MONTH]
    exact = [
        exact_aggregate(
            n.engine.frames,
            validate(count("x", EPC_G), columns=n.engine.columns, months=n.engine.months),
            n.engine.columns,
            n.engine.wards,
        )
        for n in (a, b)
    ]
    assert exact[0].counts[-1] != exact[1].counts[-1]


def test_every_release_field_outside_the_noise_is_the_same_for_neighbouring_datasets(
    neighbours: tuple[Node, Node],
) -> None:
    a, b = neighbours
    for query in queries():
        ra, rb = a.ask(query), b.ask(query)
        assert blank_noise(ra) == blank_noise(rb), query.query_id


def test_a_release_names_an_issued_version_and_never_the_file_digest(neighbours: tuple[Node, Node]) -> None:
    a, b = neighbours
    for node in (a, b):
        release = node.ask(count("version", EPC_G))
        assert release.snapshot_version == f"{MONTH}.v1"
        digest = node.engine.digests[MONTH]
        assert digest not in release.snapshot_version and digest.encode() not in release.SerializeToString()


def test_the_budget_and_the_description_are_the_same_for_neighbouring_datasets(
    neighbours: tuple[Node, Node],
) -> None:
    a, b = neighbours
    assert a.engine.budget().SerializeToString() == b.engine.budget().SerializeToString()
    described = [
        NodeServicer(n.engine, None, plaintext=True).Describe(node_pb2.DescribeRequest(), None) for n in (a, b)
    ]
    assert described[0].SerializeToString() == described[1].SerializeToString()


BAD: dict[str, Callable[[], query_pb2.Query]] = {
    "unknown column": lambda: count("bad-1", query_pb2.Filter(column="epc", op=query_pb2.Filter.EQ, text="G")),
    "bounds beyond the limit": lambda: query_pb2.Query(
        query_id="bad-2",
        months=[MONTH],
        privacy=query_pb2.PrivacyRequest(epsilon=1.0),
        measure=query_pb2.Measure(kind=query_pb2.Measure.SUM, column="earnings_weekly", lower=0, upper=2**62),
    ),
    "over the per-query cap": lambda: count("bad-3", EPC_G, epsilon=50.0),
    "a reused id": lambda: count("count-g", query_pb2.Filter(column="on_uc", op=query_pb2.Filter.EQ, flag=True)),
    "a month not held": lambda: count("bad-5", months=("2020-01",)),
}


@pytest.mark.parametrize("case", list(BAD))
def test_every_error_text_is_the_same_for_neighbouring_datasets(neighbours: tuple[Node, Node], case: str) -> None:
    a, b = neighbours
    for node in (a, b):
        node.ask(count("count-g", EPC_G))  # so that "a reused id" has something to collide with
    assert a.error(BAD[case]()) == b.error(BAD[case]())


def test_the_reused_id_message_carries_no_fingerprint(neighbours: tuple[Node, Node]) -> None:
    # Asked of both, so that the two ledgers (and their refusal counts) stay alike for the tests after this one.
    a, b = neighbours
    for node in (a, b):
        node.ask(count("count-g", EPC_G))
    text, _ = (
        n.error(count("count-g", query_pb2.Filter(column="on_uc", op=query_pb2.Filter.EQ, flag=True))) for n in (a, b)
    )
    assert "already used for a different question" in text and "fingerprint" not in text
    assert not any(
        len(w.strip("().,'")) >= 12 and all(ch in "0123456789abcdef" for ch in w.strip("().,'")) for w in text.split()
    )


# ---- snapshot versions -------------------------------------------------------------------------------------


def test_a_restart_over_the_same_file_keeps_its_version_and_a_replaced_file_gets_the_next(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    assert SnapshotVersions(db).version(MONTH, "d1") == f"{MONTH}.v1"
    assert SnapshotVersions(db).version(MONTH, "d1") == f"{MONTH}.v1"
    assert SnapshotVersions(db).version(MONTH, "d2") == f"{MONTH}.v2"
    assert SnapshotVersions(db).version("2025-09", "d2") == "2025-09.v1"


# ---- campaigns: replay follows staff actions, never household outcomes -------------------------------------


def campaign_query(query_id: str) -> query_pb2.Query:
    return query_pb2.Query(
        query_id=query_id,
        measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
        filters=[query_pb2.Filter(column="claimed", op=query_pb2.Filter.EQ, flag=True)],
        privacy=query_pb2.PrivacyRequest(epsilon=0.5),
        purpose="test",
        dataset=f"campaign:{CAMPAIGN}",
    )


def test_campaign_states_differing_in_one_outcome_at_the_same_revision_replay_alike(
    neighbours: tuple[Node, Node],
) -> None:
    stores, lists = [], []
    for node in neighbours:
        store = CampaignStore(node.engine.store.path, DISTRICT.code)
        _, listed = store.create_campaign(
            CAMPAIGN,
            "uc_without_cts",
            MONTH,
            derived_households(node),
            created_by="officer",
            source_digest=node.engine.digests[MONTH],
        )
        stores.append(store)
        lists.append(listed["household_id"].tolist())
    assert lists[0] == lists[1]  # the neighbours' target lists are the same
    hid = lists[0][0]
    # A records the household as having claimed, B as not: one household's outcome differs, revisions agree.
    stores[0].record_outcome(CAMPAIGN, hid, recorded_by="officer", contacted=True, claimed=True)
    stores[1].record_outcome(CAMPAIGN, hid, recorded_by="officer", contacted=True, claimed=False)
    first = [n.ask(campaign_query("c1")) for n in neighbours]
    again = [n.ask(campaign_query("c2")) for n in neighbours]
    # Then A records the same outcome again (no value changes) while B records a change: both are new records.
    stores[0].record_outcome(CAMPAIGN, hid, recorded_by="officer", claimed=True)
    stores[1].record_outcome(CAMPAIGN, hid, recorded_by="officer", claimed=True)
    after = [n.ask(campaign_query("c3")) for n in neighbours]
    for releases in (first, again, after):
        assert blank_noise(releases[0]) == blank_noise(releases[1])
    assert [r.replayed for r in (first[0], again[0], after[0])] == [False, True, False]
