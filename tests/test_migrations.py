"""A state database created by main before schema versions opens, migrates and keeps every guarantee."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from coordinator.receipts import ReceiptBook
from coordinator.results import ResultStore
from node.campaigns import CampaignStore
from node.versions import SnapshotVersions
from privacy.audit import AuditSigner, append_entry
from privacy.integrity import check_ledger
from privacy.ledger import PrivacyStore, ReleaseRequest, charge_units
from privacy.migrations import schema_version
from privacy.policy import Policy
from protos.lsi.v1 import coordinator_pb2
from tests.draws import costing
from tests.fixtures.schema_before_versions import COORDINATOR_STATE, NODE_STATE

TODAY = dt.datetime.now(dt.UTC).date()
POLICY = Policy(
    "E07000110",
    (TODAY - dt.timedelta(days=1)).isoformat(),
    (TODAY + dt.timedelta(days=1)).isoformat(),
    1.0,
    1.0,
    1e-7,
    0,
    month_lifetime_rho=1.0,
)


def old_node_db(path: Path, signer: AuditSigner) -> None:
    """A node database as main wrote it: old schema, a policy and one release, audited and signed."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in NODE_STATE:
        conn.execute(statement)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO policy_state (id, policy) VALUES (1, ?)", (json.dumps(dataclasses.asdict(POLICY), sort_keys=True),)
    )
    append_entry(conn, signer, actor="policy file", role="ig_officer", action="policy_change", detail="[]")
    now = dt.datetime.now(dt.UTC).isoformat()
    conn.execute(
        "INSERT INTO charges (query_id, analyst, role, purpose, mechanism, scale, rho, rho_units, epsilon, "
        "delta, created_at, charge_date) VALUES ('old', 'alice', 'analyst', 'p', 'discrete_gaussian', 5.0, "
        "0.1, ?, 1.0, 1e-7, ?, ?)",
        (charge_units(0.1), now, now[:10]),
    )
    cur = conn.execute(
        "INSERT INTO releases (query_id, fingerprint, snapshot_digest, canonical_query, payload, "
        "created_at) VALUES ('old', 'fp-old', 'snap', '{}', x'6f6c64', ?)",
        (now,),
    )
    conn.execute("INSERT INTO query_ids VALUES ('old', 'fp-old', ?)", (cur.lastrowid,))
    conn.execute(
        "INSERT INTO spend_totals VALUES ('lifetime', ?) ON CONFLICT (key) DO UPDATE SET units = ?",
        (charge_units(0.1), charge_units(0.1)),
    )
    append_entry(
        conn,
        signer,
        actor="alice",
        role="analyst",
        action="release",
        query_id="old",
        canonical_query="{}",
        purpose="p",
        rho=0.1,
        epsilon=1.0,
        detail="discrete_gaussian scale 5.0; epsilon at delta 1e-07",
    )
    conn.execute("INSERT INTO snapshot_versions VALUES ('2025-10', 'digest-a', 1, ?)", (now,))
    conn.execute("COMMIT")
    conn.close()


@pytest.fixture
def migrated(tmp_path) -> tuple[PrivacyStore, AuditSigner]:
    signer = AuditSigner.generate()
    old_node_db(tmp_path / "state.db", signer)
    check_ledger(tmp_path / "state.db", signer)  # the old database is consistent before it is touched
    return PrivacyStore(tmp_path / "state.db", POLICY, signer), signer


def versions(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {c: schema_version(conn, c) for c in ("audit", "ledger", "campaigns", "snapshot_versions")}


def test_an_old_node_database_is_migrated_to_the_latest_ledger_and_audit_versions(migrated):
    store, _ = migrated
    assert versions(store.path)["ledger"] == 3 and versions(store.path)["audit"] == 1
    with sqlite3.connect(store.path) as conn:
        assert "draws" in [r[1] for r in conn.execute("PRAGMA table_info(charges)")]


def test_an_old_release_still_replays_free_after_migration(migrated):
    store, _ = migrated
    again = store.charge_and_release(
        ReleaseRequest("old", "fp-old", "snap", "alice", "analyst", "p", "{}", costing(0.1)), lambda d: b"new"
    )
    assert (again.payload, again.replayed) == (b"old", True)
    assert store.spent().spent_rho == pytest.approx(0.1)


def test_a_migrated_ledger_charges_on_from_its_old_spend_and_stays_consistent(migrated):
    store, signer = migrated
    store.charge_and_release(
        ReleaseRequest("new", "fp-new", "snap", "alice", "analyst", "p", "{}", costing(0.2)), lambda d: b"x"
    )
    assert store.spent().spent_rho == pytest.approx(0.3)
    check_ledger(store.path, signer)


def test_campaigns_and_snapshot_versions_open_an_old_database_keeping_their_rows(migrated):
    store, _ = migrated
    assert SnapshotVersions(store.path).version("2025-10", "digest-a") == "2025-10.v1"
    assert CampaignStore(store.path, "E07000110").names() == []
    assert versions(store.path)["campaigns"] == 1 and versions(store.path)["snapshot_versions"] == 1


def test_reopening_a_migrated_database_changes_nothing(migrated):
    store, signer = migrated
    before = versions(store.path)
    PrivacyStore(store.path, POLICY, signer)
    assert versions(store.path) == before


def test_an_old_coordinator_database_opens_with_its_results_and_receipts(tmp_path):
    path = tmp_path / "coordinator.sqlite"
    kept = coordinator_pb2.FederatedResult(query_id="q-old", complete=True, created_at="2025-11-01T00:00:00")
    with sqlite3.connect(path) as conn:
        for statement in COORDINATOR_STATE:
            conn.execute(statement)
        conn.execute("INSERT INTO results VALUES (?, ?, 1, ?)", ("q-old", kept.created_at, kept.SerializeToString()))
        conn.execute("INSERT INTO node_receipts VALUES ('E07000110', 7, 'h', 10, '2025-11-01')")
    assert ResultStore(path).get("q-old") == kept
    assert ReceiptBook(path).known_seq("E07000110") == 7
    with sqlite3.connect(path) as conn:
        assert (schema_version(conn, "results"), schema_version(conn, "receipts")) == (1, 1)
