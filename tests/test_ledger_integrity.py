"""Issue 8: budgets that protect and a ledger that cannot be reset, rewound or edited without it showing."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import stat
import uuid

import grpc
import pytest

from cli.demo import DEMO_TOTAL_RHO, demo_planned_rho, demo_policy
from coordinator.config import load_coordinator_config
from coordinator.receipts import ReceiptBook, extension_problem
from coordinator.results import ResultStore
from node.engine import open_store
from privacy.audit import AuditSigner, verify_chain
from privacy.integrity import LedgerIntegrityError, check_ledger, ledger_problems, open_signer, recover
from privacy.ledger import BudgetExceeded, PrivacyStore, rebuild_daily_totals
from privacy.policy import PolicyError, save_policy
from privacy.receipt import sign_receipt
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import districts
from tests.county import running_county
from tests.test_ledger import make_policy, request

IG_OFFICER = "ig-maidstone"  # the name the recovery entry records

CODE = "E07000110"


def months_request(qid: str, rho: float, *months: str):
    return dataclasses.replace(request(qid, rho), months=months)


def spend(store: PrivacyStore, n: int, rho: float = 0.1) -> None:
    for i in range(n):
        store.charge_and_release(months_request(f"q{i}-{uuid.uuid4()}", rho, "2025-10"), lambda _: b"noisy")


def sql(store_or_path, statement: str, *args) -> None:
    conn = sqlite3.connect(getattr(store_or_path, "path", store_or_path))
    conn.execute(statement, args)
    conn.commit()
    conn.close()


# -- point 6: a lifetime cap per snapshot month ---------------------------------------------------------------


def test_a_months_lifetime_cap_is_not_renewed_by_a_new_period(tmp_path):
    store = PrivacyStore(tmp_path / "n.db", make_policy(total=1.0, month_lifetime_rho=0.3), AuditSigner.generate())
    store.charge_and_release(months_request("old", 0.2, "2025-10"), lambda _: b"x")
    sql(store, "UPDATE charges SET charge_date = '2000-01-01'")  # as if charged in an earlier period
    conn = sqlite3.connect(store.path)
    with conn:
        rebuild_daily_totals(conn)  # (and its running totals with it)
    conn.close()
    assert store.spent().spent_rho == 0  # the period budget is fresh ...
    with pytest.raises(BudgetExceeded, match=r"snapshot month 2025-10 \(rho 0.3"):
        store.charge_and_release(months_request("new", 0.2, "2025-10"), lambda _: b"x")  # ... the month's is not
    other = store.charge_and_release(months_request("other", 0.2, "2025-09"), lambda _: b"x")
    assert other.charge.rho == pytest.approx(0.2, rel=1e-12)


def test_a_query_over_several_months_is_charged_to_each(tmp_path):
    store = PrivacyStore(tmp_path / "n.db", make_policy(), AuditSigner.generate())
    store.charge_and_release(months_request("q", 0.2, "2025-09", "2025-10"), lambda _: b"x")
    assert (store.month_spent("2025-09"), store.month_spent("2025-10"), store.month_spent("2025-08")) == (
        pytest.approx(0.2),
        pytest.approx(0.2),
        0.0,
    )


# -- point 7: a defensible demo budget --------------------------------------------------------------------------


def test_the_demo_policy_is_at_most_rho_5_a_year_and_everything_the_demo_runs_fits_it_with_margin():
    policies = [demo_policy(d) for d in districts()]
    assert all(p.total_rho <= 5.0 and p.total_rho == DEMO_TOTAL_RHO for p in policies)
    assert demo_planned_rho() <= 0.9 * DEMO_TOTAL_RHO
    assert all(demo_planned_rho() <= p.month_lifetime_rho for p in policies)


# -- point 10: one source of truth for the policy ---------------------------------------------------------------


def test_a_restart_with_a_stale_policy_file_refuses_saying_the_ledger_is_newer(tmp_path):
    policy_path, db, key = tmp_path / "policy.toml", tmp_path / "n.db", tmp_path / "k.pem"
    save_policy(make_policy(total=5.0), policy_path)
    os.utime(policy_path, (1_000_000_000, 1_000_000_000))  # written in 2001
    store = open_store(db, policy_path, make_policy(total=5.0), key)
    store.set_policy(make_policy(total=6.0), changed_by="ig.officer")  # e.g. `lsi budget set` with the file stale
    with pytest.raises(ValueError, match=r"the ledger is newer.*total_rho.*policy-sync"):
        open_store(db, policy_path, make_policy(total=5.0), key)


def test_a_total_cannot_be_lowered_below_what_is_spent(tmp_path):
    store = PrivacyStore(tmp_path / "n.db", make_policy(total=1.0), AuditSigner.generate())
    spend(store, 3, 0.1)
    with pytest.raises(PolicyError, match="below the rho 0.3 already spent"):
        store.set_policy(make_policy(total=0.25, per_query=0.1), changed_by="ig.officer")
    assert store.policy.total_rho == 1.0


# -- point 11: tampering shows ----------------------------------------------------------------------------------


@pytest.fixture
def node_files(tmp_path):
    db, key = tmp_path / "state.sqlite", tmp_path / "audit.pem"
    store = PrivacyStore(db, make_policy(), open_signer(key, db))
    spend(store, 3)
    return store, db, key


def test_a_deleted_ledger_beside_its_key_is_refused(node_files):
    _, db, key = node_files
    db.unlink()
    with pytest.raises(LedgerIntegrityError, match="ledger .* is missing"):
        open_signer(key, db)


def test_a_deleted_audit_key_is_not_silently_recreated(node_files):
    _, db, key = node_files
    key.unlink()
    with pytest.raises(LedgerIntegrityError, match="audit key .* is missing"):
        open_signer(key, db)
    assert not key.exists()


def test_a_charge_edited_down_is_caught_at_start(node_files):
    store, db, key = node_files
    sql(db, "UPDATE charges SET rho = 0.01, rho_units = 10000000000 WHERE id = 1")
    with pytest.raises(LedgerIntegrityError, match="charge edited"):
        check_ledger(db, store.signer)


def test_charge_and_release_rows_deleted_with_the_audit_kept_are_caught_at_start(node_files):
    store, db, _ = node_files
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = OFF")
    qid = conn.execute("SELECT query_id FROM charges LIMIT 1").fetchone()[0]
    for table in ("query_ids", "releases", "charge_months", "charges"):
        conn.execute(f"DELETE FROM {table} WHERE query_id = ?", (qid,))
    conn.commit()
    conn.close()
    with pytest.raises(LedgerIntegrityError, match="no charge"):
        check_ledger(db, store.signer)


def test_the_last_entries_deleted_with_their_charges_are_caught_by_the_receipt(node_files, tmp_path):
    store, db, _ = node_files
    book = ReceiptBook(tmp_path / "coordinator.sqlite")
    assert book.check(CODE, sign_receipt(CODE, store.head(book.known_seq(CODE)), store.signer)) is None
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = OFF")
    last = conn.execute("SELECT query_id, seq FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    for table in ("query_ids", "releases", "charge_months", "charges"):
        conn.execute(f"DELETE FROM {table} WHERE query_id = ?", (last[0],))
    conn.execute("DELETE FROM audit_log WHERE seq = ?", (last[1],))
    conn.execute("UPDATE spend_totals SET units = (SELECT SUM(rho_units) FROM charges)")
    rebuild_daily_totals(conn)  # a thorough attacker rewrites every running total
    conn.commit()
    conn.close()
    check_ledger(db, store.signer)  # consistent on its own: only the receipt can tell
    reason = book.check(CODE, sign_receipt(CODE, store.head(book.known_seq(CODE)), store.signer))
    assert reason is not None and "does not extend the receipt" in reason and "possible reset" in reason


def test_a_receipt_with_a_different_key_is_refused(node_files, tmp_path):
    store, _, _ = node_files
    book = ReceiptBook(tmp_path / "coordinator.sqlite")
    book.check(CODE, sign_receipt(CODE, store.head(), store.signer))
    reason = book.check(CODE, sign_receipt(CODE, store.head(), AuditSigner.generate()))
    assert reason is not None and "different audit key" in reason


def test_a_reset_node_shows_as_missing_over_grpc_until_county_it_accepts_it(tmp_path):
    with running_county(tmp_path, codes=[CODE], months=1) as county:
        query = query_pb2.Query(
            measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
            months=["2025-10"],
            privacy=query_pb2.PrivacyRequest(epsilon=1.0),
            purpose="test",
        )
        stub = county.coordinator_stub()
        for _ in range(2):
            query.query_id = str(uuid.uuid4())
            assert stub.Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60).complete
        engine = county.engines[CODE]
        engine.store = PrivacyStore(tmp_path / "fresh.sqlite", engine.store.policy, engine.store.signer)  # reset
        query.query_id = str(uuid.uuid4())
        with pytest.raises(grpc.RpcError, match="does not extend the receipt"):
            stub.Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60)
        book = ReceiptBook(load_coordinator_config(county.local.root / "coordinator.toml").state_db)
        book.accept_node(CODE, "county-it", "recovered, ticket 42")
        query.query_id = str(uuid.uuid4())
        assert stub.Submit(coordinator_pb2.FederatedQuery(query=query), timeout=60).complete


def test_recovery_of_a_lost_key_is_audited_and_the_node_starts_again(node_files):
    _, db, key = node_files
    key.unlink()
    done = recover(db, key, officer=IG_OFFICER, reason="key lost with the old server")
    signer = open_signer(key, db)
    check_ledger(db, signer)
    conn = sqlite3.connect(db)
    actor, action, detail = conn.execute(
        "SELECT actor, action, detail FROM audit_log WHERE seq = ?", (done.seq,)
    ).fetchone()
    conn.close()
    assert (actor, action, json.loads(detail)["reason"]) == (IG_OFFICER, "recovery", "key lost with the old server")
    assert verify_chain(db, signer.public_key).ok


def test_recovery_rebuilds_an_edited_charge_from_its_signed_audit_entry(node_files):
    store, db, key = node_files
    sql(db, "UPDATE charges SET rho = 0.01, rho_units = 10000000000 WHERE id = 1")
    recover(db, key, officer=IG_OFFICER, reason="charge edited")
    check_ledger(db, store.signer)
    assert store.spent().spent_rho == pytest.approx(0.3)


# -- point 13: owner-only state files ---------------------------------------------------------------------------


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_database_and_its_side_files_are_owner_only(node_files):
    store, db, _ = node_files
    conn = sqlite3.connect(db)  # keep the WAL open so its side files exist
    conn.execute("SELECT 1 FROM charges").fetchall()
    sides = [db.with_name(db.name + s) for s in ("-wal", "-shm") if db.with_name(db.name + s).exists()]
    assert sides and all(mode(p) == 0o600 for p in [db, *sides])
    conn.close()


def test_the_coordinators_results_database_is_owner_only(tmp_path):
    ResultStore(tmp_path / "coordinator.sqlite")
    assert mode(tmp_path / "coordinator.sqlite") == 0o600


def test_an_edited_daily_running_total_is_detected(tmp_path):
    signer = AuditSigner.generate()
    store = PrivacyStore(tmp_path / "n.db", make_policy(total=1.0), signer)
    spend(store, 2)
    sql(store, "UPDATE daily_totals SET units = 0")  # would hide the spend from every limit check
    assert any("daily_totals" in p for p in ledger_problems(store.path, signer))


def _book_with(tmp_path, rows: list[tuple[int, str, int]]) -> ReceiptBook:
    """A receipt book that has kept these (seq, head hash, spent units) receipts from CODE."""
    book = ReceiptBook(tmp_path / "receipts.sqlite")
    with book.db.transaction() as conn:
        conn.executemany("INSERT INTO node_receipts VALUES (?, ?, ?, ?, 't')", [(CODE, *row) for row in rows])
    return book


def _problem(book: ReceiptBook, seq: int, head: str, spent: int) -> str | None:
    receipt = query_pb2.Receipt(seq=seq, head_hash=head, spent_units=spent)
    with book.db.transaction() as conn:
        return extension_problem(conn, CODE, receipt)


def test_a_newer_receipt_that_spent_less_than_the_latest_kept_is_an_edit(tmp_path):
    book = _book_with(tmp_path, [(1, "a", 10), (2, "b", 20)])
    assert _problem(book, 3, "c", 25) is None
    assert "possible edit" in (_problem(book, 3, "c", 15) or "")


def test_a_receipt_at_a_kept_seq_with_another_head_is_a_rewrite(tmp_path):
    book = _book_with(tmp_path, [(1, "a", 10), (2, "b", 20)])
    assert _problem(book, 2, "b", 20) is None
    assert "rewrote entry 2" in (_problem(book, 2, "x", 20) or "")


def test_an_older_receipt_arriving_late_must_fit_between_its_kept_neighbours(tmp_path):
    book = _book_with(tmp_path, [(1, "a", 10), (5, "e", 50)])
    assert _problem(book, 3, "c", 30) is None
    assert "possible edit" in (_problem(book, 3, "c", 60) or "")
    assert "possible edit" in (_problem(book, 3, "c", 5) or "")


def test_a_node_accepted_by_another_process_is_checked_afresh_by_the_running_coordinator(node_files, tmp_path):
    store, _, _ = node_files
    book = ReceiptBook(tmp_path / "coordinator.sqlite")
    assert book.check(CODE, sign_receipt(CODE, store.head(book.known_seq(CODE)), store.signer)) is None
    # `lsi coordinator accept-node` runs in its own process: another connection to the file forgets the node.
    other = sqlite3.connect(tmp_path / "coordinator.sqlite")
    other.execute("DELETE FROM node_keys WHERE district_code = ?", (CODE,))
    other.execute("DELETE FROM node_receipts WHERE district_code = ?", (CODE,))
    other.commit()
    other.close()
    assert book.known_seq(CODE) == 0
    assert book.check(CODE, sign_receipt(CODE, store.head(), AuditSigner.generate())) is None
